"""Figures for reports, built as matplotlib `Figure` objects: no pyplot and no backend switch (saving draws them
with Agg; in a notebook they display inline)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from oneclass.metrics import auroc


def subplots(*args: Any, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """`pyplot.subplots` without pyplot: a Figure that no backend or pyplot state holds on to."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def roc_figure(labels: np.ndarray, scores: Mapping[str, np.ndarray], title: str = "ROC") -> Figure:
    """ROC curves of several scores (e.g. one per method) on the same labels."""
    fig, ax = subplots(figsize=(4.8, 4.2))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(labels, s)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auroc(labels, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def score_histograms(labels: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """One panel per score: histograms of normal vs anomalous test images."""
    n = len(scores)
    fig, axes = subplots(1, n, figsize=(3.2 * n, 2.8), squeeze=False)
    for ax, (name, s) in zip(axes[0], scores.items(), strict=True):
        bins = np.histogram_bin_edges(s, bins=40)
        ax.hist(s[labels == 0], bins=bins, alpha=0.6, density=True, label="normal")
        ax.hist(s[labels == 1], bins=bins, alpha=0.6, density=True, label="anomalous")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def image_grid(rows: Sequence[tuple[str, np.ndarray]], col_titles: Sequence[str] | None = None,
               cmap_rows: Sequence[str] = ()) -> Figure:
    """A grid of images: each row is (label, images (n, H, W) or (n, H, W, 3) in [0, 1] or any range for maps).

    Rows named in `cmap_rows` are drawn as heat maps (anomaly maps), the rest as images.
    """
    n_cols = max(len(images) for _, images in rows)
    fig, axes = subplots(len(rows), n_cols, figsize=(1.1 * n_cols + 0.8, 1.15 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        heat = label in cmap_rows
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c >= len(images):
                continue
            img = images[c]
            if heat:
                ax.imshow(img, cmap="inferno")
            else:
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=7)
        axes[r][0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def video_figure(frames: np.ndarray, picks: Sequence[int], heat: np.ndarray, scores: np.ndarray,
                 labels: np.ndarray | None = None, title: str = "") -> Figure:
    """One clip: the frames `picks` with their anomaly heatmaps `heat` (one per picked frame, scaled over those
    shown) laid over them, and below, the frame score over time against the ground truth (abnormal frames shaded),
    the picked frames marked on the curve."""
    picks = list(picks)
    lo, hi = np.quantile(heat, [0.01, 1.0])
    fig = Figure(figsize=(1.9 * len(picks), 4.2))
    grid = fig.add_gridspec(2, len(picks), height_ratios=[1.3, 1])
    for i, t in enumerate(picks):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[t], cmap="gray", vmin=0, vmax=255)
        ax.imshow(np.clip((heat[i] - lo) / (hi - lo + 1e-12), 0, 1), cmap="inferno", alpha=0.45, vmin=0, vmax=1)
        abnormal = labels is not None and labels[t]
        ax.set_title(f"frame {t + 1}" + (" (abnormal)" if abnormal else ""), fontsize=7,
                     color="firebrick" if abnormal else "black")
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    x = np.arange(1, len(scores) + 1)
    if labels is not None:
        ax.fill_between(x, 0, 1, where=labels.astype(bool), transform=ax.get_xaxis_transform(), color="firebrick",
                        alpha=0.15, step="mid", label="abnormal (ground truth)")
    ax.plot(x, scores, lw=1.2, label="frame score (max over patches)")
    ax.plot([t + 1 for t in picks], scores[picks], "o", ms=3, color="black")
    ax.set(xlabel="frame", ylabel="score", xlim=(1, len(scores)))
    ax.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def defects_figure(images: np.ndarray, masks: np.ndarray, maps: Mapping[str, np.ndarray],
                   titles: Sequence[str], title: str = "") -> Figure:
    """Test images of a defects category (top row, each defect's true outline in cyan) and, below, each method's
    anomaly map over them, one colour scale per method (1st percentile to maximum of the maps shown)."""
    n = len(images)
    fig = Figure(figsize=(1.6 * n, 1.7 * (1 + len(maps))))
    axes = fig.subplots(1 + len(maps), n, squeeze=False)
    for j in range(n):
        axes[0, j].imshow(images[j], cmap="gray" if images.ndim == 3 else None, vmin=0, vmax=255)
        if masks[j].any():
            axes[0, j].contour(masks[j], levels=[0.5], colors="cyan", linewidths=0.8)
        axes[0, j].set_title(titles[j], fontsize=7)
    for i, (method, heat) in enumerate(maps.items(), start=1):
        lo, hi = np.quantile(heat, [0.01, 1.0])
        for j in range(n):
            axes[i, j].imshow(images[j], cmap="gray" if images.ndim == 3 else None, vmin=0, vmax=255)
            axes[i, j].imshow(np.clip((heat[j] - lo) / (hi - lo + 1e-12), 0, 1), cmap="inferno", alpha=0.55,
                              vmin=0, vmax=1)
        axes[i, 0].set_ylabel(method, fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
