"""The figures of a benchmark report: ROC curves, score histograms and per-class bars, one panel per normal class."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from oneclass.data.catalog import DATASETS
from oneclass.report.figures import subplots


def class_name(dataset: str, c: int) -> str:
    """Class `c` of `dataset` as the report writes it: its number and name."""
    info = DATASETS.get(dataset)
    name = info.classes[c] if info and info.classes and 0 <= c < len(info.classes) else str(c)
    return str(c) if name == str(c) else f"{c} {name}"


def paper_value(paper: dict[str, Any], c: int) -> float | None:
    """A paper row's number for class `c`, or None where it prints none (Caltech rows exist for 1, 3, 5 only)."""
    per_class = paper["per_class"] or []
    return per_class[c] if c < len(per_class) else None


def _panels(n: int) -> tuple[Figure, np.ndarray]:
    cols = min(5, n)
    rows = (n + cols - 1) // cols
    fig, axes = subplots(rows, cols, figsize=(2.3 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def roc_grid(by_class: dict[int, list[dict]], dataset: str) -> Figure:
    """One ROC panel per normal class (the lowest seed's line), AUROC in each title."""
    fig, axes = _panels(len(by_class))
    for ax, (c, rs) in zip(axes, by_class.items(), strict=False):
        r = min(rs, key=lambda r: r["seed"])
        tpr = r["curves"]["roc_tpr"]
        ax.plot(np.linspace(0, 1, len(tpr)), tpr)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.7, ls="--")
        ax.set_title(f"{class_name(dataset, c)}: {r['auroc'][r['default_score']]:.3f}", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set(xlim=(0, 1), ylim=(0, 1.01))
    fig.supxlabel("false-positive rate", fontsize=8)
    fig.supylabel("true-positive rate", fontsize=8)
    fig.tight_layout()
    return fig


def histogram_grid(by_class: dict[int, list[dict]], dataset: str) -> Figure:
    """One panel per normal class: the default score's histograms, normal against anomalous, and the threshold."""
    fig, axes = _panels(len(by_class))
    for ax, (c, rs) in zip(axes, by_class.items(), strict=False):
        cur = min(rs, key=lambda r: r["seed"])["curves"]
        edges = np.asarray(cur["hist_edges"])
        for name, label in (("hist_normal", "normal"), ("hist_anomalous", "anomalous")):
            counts = np.asarray(cur[name], float)
            ax.stairs(counts / max(counts.sum(), 1), edges, fill=True, alpha=0.55, label=label)
        decision = min(rs, key=lambda r: r["seed"]).get("decision")
        if decision:
            ax.axvline(float(np.clip(decision["threshold"], edges[0], edges[-1])), color="black", lw=1,
                       label="threshold")
        ax.set_title(class_name(dataset, c), fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_yticks([])
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def bars(by_class: dict[int, list[dict]], score: str, paper: dict[str, Any], dataset: str) -> Figure:
    """Our `score` beside a paper's per-class numbers, one pair of bars per class."""
    classes = list(by_class)
    ours = [np.mean([r["auroc"][score] for r in by_class[c]]) for c in classes]
    err = [np.std([r["auroc"][score] for r in by_class[c]]) for c in classes]
    theirs = [np.nan if v is None else v for v in (paper_value(paper, c) for c in classes)]
    x = np.arange(len(classes))
    fig, ax = subplots(figsize=(max(5, 0.7 * len(classes) + 1.5), 3))
    ax.bar(x - 0.2, ours, 0.4, yerr=err, label="ours")
    ax.bar(x + 0.2, theirs, 0.4, label=f"{paper['label']} ({paper['paper']})")
    ax.set_xticks(x, [class_name(dataset, c) for c in classes], rotation=30, ha="right", fontsize=7)
    lo = np.nanmin(ours + theirs)
    ax.set_ylim(max(0, lo - 0.05), 1)
    ax.set_ylabel("AUROC")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
