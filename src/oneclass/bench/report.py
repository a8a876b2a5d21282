"""`oneclass report`: turn result lines into tables and figures beside the papers' published numbers."""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from oneclass.bench.report_figures import bars, class_name, histogram_grid, paper_value, roc_grid
from oneclass.bench.results import cell_key, scan_results
from oneclass.data.catalog import DATASETS
from oneclass.errors import OneClassError
from oneclass.report import Report
from oneclass.report.figures import subplots

#: selection rules whose validation history holds AUROCs (`val-normal` records minus the mean score)
AUROC_RULES = ("val-normal-aug", "val-with-outliers")


def paper_tables() -> list[dict[str, Any]]:
    """The published numbers shipped with the package (`bench/paper_tables.json`)."""
    text = resources.files("oneclass.bench").joinpath("paper_tables.json").read_text()
    return json.loads(text)["entries"]


def load_rows(paths: Iterable[str | Path]) -> tuple[list[dict[str, Any]], int]:
    """Usable lines of all files, and how many lines were left out because they name a cell but lack or mistype
    its metrics; a cell present in several files counts once (the last one read). A file that holds lines that
    are not result lines at all is refused."""
    rows: dict[tuple, dict[str, Any]] = {}
    skipped = 0
    for path in paths:
        if not Path(path).is_file():
            raise OneClassError(f"{path}: no such results file")
        scan = scan_results(path)
        if scan.foreign_lines:
            raise OneClassError(f"{path}: not a results file of `oneclass bench` (line {scan.foreign_lines[0]} is not "
                                "a result line)")
        skipped += len(scan.bad_lines)
        for row in scan.rows:
            rows[cell_key(row)] = row
    return list(rows.values()), skipped


def _group_key(row: dict[str, Any]) -> tuple:
    return (row["dataset"], row["protocol"], row["method"], row.get("preset", "paper"),
            json.dumps(row.get("overrides", {}), sort_keys=True))


def _fmt(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def _papers_for(entries: list[dict[str, Any]], key: tuple) -> list[dict[str, Any]]:
    """Published AUROC rows for the group `key`; a row's `overrides` (hyper-parameters that define a variant, such
    as OLED's CAE ablation) must equal the group's, and rows without them need those keys left at the default."""
    dataset, protocol, method, _, overrides_json = key
    overrides = json.loads(overrides_json)
    mine = [e for e in entries if (e["dataset"], e["protocol"], e["method"], e["metric"]) == (dataset, protocol, method, "auroc")]
    variant_keys = {k for e in mine for k in e.get("overrides", {})}
    return [e for e in mine if all(overrides.get(k) == e.get("overrides", {}).get(k) for k in variant_keys)]


def _matching_score(paper: dict[str, Any], default: str) -> str:
    """Which of our scores a published row is compared with: the score it names, else the default score."""
    return paper["score"] or default


def _paper_mean(paper: dict[str, Any], classes: list[int], dataset: str) -> tuple[float, str] | None:
    """The published mean over the same `classes` as ours, with a note when that is not the paper's own mean
    (a subset of the classes it prints); None when the paper's numbers do not cover those classes."""
    per_class = paper["per_class"]
    if per_class:
        printed = {c for c, v in enumerate(per_class) if v is not None}
        if not set(classes) <= printed:
            return None
        if set(classes) == printed:
            return paper["mean"], ""
        return float(np.mean([per_class[c] for c in classes])), f" (mean of its {len(classes)} of {len(printed)} classes)"
    n = _n_classes(dataset)
    return (paper["mean"], "") if n is not None and set(classes) == set(range(n)) else None


def _n_classes(dataset: str) -> int | None:
    info = DATASETS.get(dataset)
    return len(info.classes) if info and info.classes else None


def _subset_note(classes: list[int], dataset: str) -> str:
    """' (3 of 10 classes)' when a mean covers only some of the dataset's classes."""
    n = _n_classes(dataset)
    return f" ({len(classes)} of {n} classes)" if n is not None and len(classes) < n else ""


def _fmt_published(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _seed_means(g: list[dict[str, Any]], score: str, n_classes: int) -> list[float]:
    """The mean AUROC over classes of each seed that has all `n_classes` classes."""
    per_seed: dict[int, list[float]] = defaultdict(list)
    for r in g:
        per_seed[r["seed"]].append(r["auroc"][score])
    return [float(np.mean(v)) for v in per_seed.values() if len(v) == n_classes]


def _incomplete_note(g: list[dict[str, Any]], n_classes: int) -> str:
    """' (seeds 0, 2 only: seed 1 has 5 of 10 classes)' when some seed lacks classes and means leave it out."""
    per_seed = Counter(r["seed"] for r in g)
    partial = {s: n for s, n in sorted(per_seed.items()) if n < n_classes}
    if not partial:
        return ""
    complete = [str(s) for s, n in sorted(per_seed.items()) if n == n_classes]
    counted = f"seed{'s' if len(complete) > 1 else ''} {', '.join(complete)} only" if complete else "no seed"
    lacking = "; ".join(f"seed {s} has {n} of {n_classes} classes" for s, n in partial.items())
    return f" ({counted}: {lacking})"


def _wall_minutes(g: list[dict[str, Any]]) -> float:
    return sum(r["fit_seconds"] + r["score_seconds"] for r in g) / 60


def write_report(paths: list[str | Path], out: str | Path) -> tuple[Path, Path]:
    """Write report.md and report.html into `out` from the results files `paths`; returns both paths."""
    rows, skipped = load_rows(paths)
    if not rows:
        raise OneClassError(f"no usable result lines in {', '.join(str(p) for p in paths)}"
                            + (f" ({skipped} lack or mistype their metrics)" if skipped else ""))
    entries = paper_tables()
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[_group_key(r)].append(r)

    report = Report("oneclass benchmark report")
    report.paragraph(f"{len(rows)} result lines from {', '.join(str(p) for p in paths)}. AUROC of each method's "
                     "default score unless a column says otherwise; mean ± sample std over seeds. Published numbers "
                     "are quoted from the papers (bench/paper_tables.json); Δ = ours − paper."
                     + (f" {skipped} line(s) left out: they name a cell but lack or mistype its metrics "
                        "(`oneclass bench` with the same --out sets them aside and runs those cells again)." if skipped else ""))
    summary = []
    for key in sorted(groups):
        dataset, protocol, method, preset, overrides = key
        g = groups[key]
        score = g[0]["default_score"]
        classes = sorted({r["normal_class"] for r in g})
        means = _seed_means(g, score, len(classes))
        paper = next((p for p in _papers_for(entries, key) if p["score"] in (None, score)), None)
        published = None if paper is None else _paper_mean(paper, classes, dataset)
        summary.append([method, dataset, protocol, preset + ("" if overrides == "{}" else f" {overrides}"),
                        len(classes), len({r["seed"] for r in g}),
                        _fmt(means) + _subset_note(classes, dataset) + _incomplete_note(g, len(classes)),
                        "" if published is None else f"{published[0]:.4f} ({paper['paper']} {paper['table']}){published[1]}",
                        "" if published is None or not means else f"{np.mean(means) - published[0]:+.4f}",
                        f"{_wall_minutes(g):.1f}"])
    report.heading("Summary")
    report.table(["method", "dataset", "protocol", "preset", "classes", "seeds", "mean AUROC", "paper", "Δ",
                  "wall min"], summary)
    for key in sorted(groups):
        _group_section(report, key, groups[key], entries)
    with_sets = {k: g for k, g in groups.items() if all(r.get("test_sets") for r in g)}
    for dataset, protocol in sorted({k[:2] for k in with_sets}):
        _test_sets_section(report, dataset, protocol, {k: g for k, g in with_sets.items() if k[:2] == (dataset, protocol)})
    for dataset in sorted({k[0] for k in groups if k[1] == "ucsd-patches"}):
        _video_section(report, dataset, {k: g for k, g in groups.items() if k[:2] == (dataset, "ucsd-patches")}, entries)
    return report.write(out)


def _video_section(report: Report, dataset: str, groups: dict[tuple, list[dict[str, Any]]],
                   entries: list[dict[str, Any]]) -> None:
    """Frame-level AUROC and EER of every score of every method (the video papers report both), the papers'
    numbers beside them, and the wall time per frame scored."""
    report.heading(f"Frame level: {dataset} (ucsd-patches)")
    report.paragraph("A frame's score is the max over its patches' scores; AUROC and EER over all test frames, "
                     "mean ± std over seeds. ms per frame: scoring all of a frame's patches and taking the max.")
    published = {(e["method"], e["score"], e["metric"]): e for e in entries
                 if (e["dataset"], e["protocol"]) == (dataset, "ucsd-patches")}
    rows = []
    for key in sorted(groups):
        g = groups[key]
        method, preset = key[2], key[3]
        default = g[0]["default_score"]
        for score in g[0]["auroc"]:
            paper = {m: published.get((method, score, m)) or (published.get((method, None, m)) if score == default else None)
                     for m in ("auroc", "eer")}
            rows.append([method + ("" if preset == "paper" else f" ({preset})"), score + (" (default)" * (score == default)),
                         _fmt([r["auroc"][score] for r in g]), _fmt([r["eer"][score] for r in g]),
                         *(_fmt_published(paper[m]["mean"] if paper[m] else None) for m in ("auroc", "eer")),
                         f"{np.mean([1000 * r['score_seconds'] / r['n_test'] for r in g]):.1f}",
                         f"{np.mean([r['fit_seconds'] for r in g]):.0f}", sorted({r["n_train"] for r in g})[0]])
    report.table(["method", "score", "frame AUROC", "frame EER", "paper AUROC", "paper EER", "ms per frame", "fit s",
                  "training patches"], rows)


def _test_sets_section(report: Report, dataset: str, protocol: str, groups: dict[tuple, list[dict[str, Any]]]) -> None:
    """F1 (target class positive, as ALOCC and G2D report it) and AUROC on each named test set (the outlier-ratio
    protocol's 10 %–50 % outliers), mean over all runs (classes × seeds) of each method, and a figure of F1 against
    the share of outliers (ALOCC's Figure 8, G2D's Figure 5)."""
    report.heading(f"F1 against the share of outliers: {dataset} ({protocol})")
    report.paragraph("F1 with the target (normal) class as the positive class. *at τ*: decided with the method's own "
                     "threshold (ALOCC: D > τ = 0.5 is the target class); *at calibrated τ*: with the detector's "
                     "decision threshold on its default score, set on normal images before testing; *at known %*: the "
                     "given share of highest scores is called outlying. Mean over all normal classes and seeds of each "
                     "method. The last row is the F1 of calling every image the target class, which a threshold that "
                     "flags nothing scores.")
    names = sorted({n for g in groups.values() for r in g for n in r["test_sets"]}, key=lambda n: float(n.rstrip("%")))
    curves: dict[str, list[float]] = {}
    rows = []
    for key in sorted(groups):
        g = groups[key]
        label = key[2] + ("" if key[3] == "paper" else f" ({key[3]})") + ("" if key[4] == "{}" else f" {key[4]}")
        for score in g[0]["auroc"]:
            for metric, suffix in (("f1_target_tau", "at τ"), ("f1_target_decision", "at calibrated τ"),
                                   ("f1_target", "at known %"), ("auroc", "AUROC")):
                values = [[r["test_sets"][n].get(metric, {}).get(score) for r in g if n in r["test_sets"]] for n in names]
                if any(v is None for vs in values for v in vs) or not any(values):
                    continue
                means = [float(np.mean(v)) if v else np.nan for v in values]
                rows.append([label, score, suffix] + [f"{m:.4f}" for m in means])
                if metric != "auroc":
                    curves[f"{label} {score} {suffix}"] = means
    # F1 of calling every image the target class, 2(1 − r) / (2 − r) for an outlier share r: what "at τ" must beat
    x = [float(n.rstrip("%")) for n in names]
    trivial = [2 * (1 - v / 100) / (2 - v / 100) for v in x]
    rows.append(["(every image called target)", "", ""] + [f"{v:.4f}" for v in trivial])
    report.table(["method", "score", "metric"] + names, rows)
    fig, ax = subplots(figsize=(9, 3.8))
    ax.plot(x, trivial, color="grey", ls=":", label="every image called target")
    for label, means in curves.items():
        ax.plot(x, means, marker="o", ls="-" if label.endswith("at τ") else "--", label=label)
    ax.set(xlabel="outliers (%)", ylabel="F1 (target class positive)", ylim=(0, 1.02))
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    report.figure(f"{dataset}-{protocol}-f1-vs-outliers", fig, "F1 against the percentage of outliers (mean over classes)")


def _group_section(report: Report, key: tuple, g: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
    dataset, protocol, method, preset, overrides = key
    score = g[0]["default_score"]
    scores = list(g[0]["auroc"])
    classes = sorted({r["normal_class"] for r in g})
    seeds = sorted({r["seed"] for r in g})
    by_class = {c: [r for r in g if r["normal_class"] == c] for c in classes}
    papers = [p for p in _papers_for(entries, key) if p["per_class"] or p["score"] in scores]
    report.heading(f"{method} on {dataset} ({protocol}), preset {preset}")
    selections = sorted({r["selection"] for r in g})
    epochs = sorted({str(r.get("epochs")) for r in g})
    commits = sorted({_short(r.get("commit")) for r in g})
    report.paragraph(f"Seeds {', '.join(map(str, seeds))}; classes {', '.join(map(str, classes))}; "
                     f"n_train {sorted({r['n_train'] for r in g})}, n_test {sorted({r['n_test'] for r in g})}; "
                     f"epochs {', '.join(epochs)}; model selection {', '.join(selections)}; "
                     f"overrides {overrides}; version {g[0]['version']}, commit {', '.join(commits)}. "
                     f"Fit + score wall time {_wall_minutes(g):.1f} min "
                     f"in total, threads per cell {sorted({r.get('threads') for r in g}, key=str)}.")
    pc = [(p, _matching_score(p, score)) for p in papers if p["per_class"]]
    report.table(*_class_table(g, by_class, classes, scores, score, pc, dataset))
    for p in papers:  # published means without per-class numbers, each beside our mean of the same score
        if p["per_class"]:
            continue
        matched = _matching_score(p, score)
        published = _paper_mean(p, classes, dataset)
        ours = _seed_means(g, matched, len(classes)) if matched in scores else []
        compared = (f"; ours {np.mean(ours):.4f}, Δ {np.mean(ours) - published[0]:+.4f}" if published and ours
                    else "; not comparable with these classes")
        report.paragraph(f"{p['paper']} {p['table']} reports a mean of {p['mean']:.4f} for {p['label']} ({matched})"
                         f"{compared}.")
    report.figure(f"{_slug(key)}-roc", roc_grid(by_class, dataset),
                  f"ROC of {score} per normal class (seed {seeds[0]})")
    report.figure(f"{_slug(key)}-hist", histogram_grid(by_class, dataset),
                  f"{score}: normal vs anomalous test images per normal class (seed {seeds[0]}); the line is the "
                  "decision threshold where the results have one")
    _decision_table(report, by_class, dataset)
    if pc:
        bar_paper, bar_score = next(((p, m) for p, m in pc if m == score), pc[0])
        report.figure(f"{_slug(key)}-bars", bars(by_class, bar_score, bar_paper, dataset),
                      f"Our {bar_score} vs {bar_paper['label']} ({bar_paper['paper']} {bar_paper['table']}) per class")
    if any(r.get("epoch_test_auroc") for r in g):
        _epochs_section(report, key, by_class, dataset)


def _class_table(g: list[dict[str, Any]], by_class: dict[int, list[dict]], classes: list[int], scores: list[str],
                 score: str, pc: list[tuple[dict[str, Any], str]], dataset: str) -> tuple[list[str], list[list[str]]]:
    """Our AUROC per class and score (mean ± sd over seeds), each published per-class row of the same score beside
    it with the difference, and the means."""
    header = ["class"]
    for s in scores:  # each of our scores, then the published rows of the same score with their Δ
        header.append(f"{s}{' (default)' if s == score else ''}")
        header += [x for p, m in pc if m == s for x in (f"{p['label']} ({p['paper']} {p['table']})", f"Δ {s}")]
    rows = []
    for c in classes:
        row = [class_name(dataset, c)]
        for s in scores:
            row.append(_fmt([r["auroc"][s] for r in by_class[c]]))
            ours = np.mean([r["auroc"][s] for r in by_class[c]])
            for p, m in pc:
                if m == s:
                    theirs = paper_value(p, c)
                    row += [_fmt_published(theirs), "" if theirs is None else f"{ours - theirs:+.4f}"]
        rows.append(row)
    means = ["mean" + _subset_note(classes, dataset) + _incomplete_note(g, len(classes))]
    for s in scores:
        ours_means = _seed_means(g, s, len(classes))
        means.append(_fmt(ours_means))
        for p, m in pc:
            if m == s:
                published = _paper_mean(p, classes, dataset)
                means += ["" if published is None else f"{published[0]:.4f}{published[1]}",
                          "" if published is None or not ours_means else f"{np.mean(ours_means) - published[0]:+.4f}"]
    rows.append(means)
    return header, rows


def _epochs_section(report: Report, key: tuple, by_class: dict[int, list[dict]], dataset: str) -> None:
    """Validation and test AUROC over the epochs of runs made with `--track-epochs`: their mean and variance
    over epochs (each run, then averaged over seeds), and a figure of the test AUROC per epoch."""
    report.paragraph("AUROC over epochs (`--track-epochs`): mean and variance over all epochs of each run, "
                     "averaged over seeds. Validation = the method's own validation set, shown where its rule is an "
                     "AUROC (`val-normal-aug`, `val-with-outliers`); test = the test split, recorded only to study "
                     "training, never used to choose anything.")

    def mean_var(histories: list[list[float]]) -> list[float]:
        if not histories:
            return [np.nan, np.nan]
        return [float(np.mean([np.mean(h) for h in histories])), float(np.mean([np.var(h) for h in histories]))]

    rows, stats = [], []
    for c, runs in by_class.items():
        runs = [r for r in runs if r.get("epoch_test_auroc")]
        if not runs:
            continue
        val = [r["val_history"] for r in runs if r.get("val_history") and r["selection"] in AUROC_RULES]
        stats.append(mean_var(val) + mean_var([r["epoch_test_auroc"] for r in runs]))
        rows.append([class_name(dataset, c), len(runs)] + stats[-1])
    rows.append(["mean", ""] + np.mean(stats, axis=0).tolist())
    rows = [r[:2] + ["" if np.isnan(v) else f"{v:.4f}" if i % 2 == 0 else f"{v:.2e}" for i, v in enumerate(r[2:])]
            for r in rows]
    report.table(["class", "runs", "val AUROC mean", "val AUROC var", "test AUROC mean", "test AUROC var"], rows)
    fig, ax = subplots(figsize=(7, 3.5))
    for c, runs in by_class.items():
        run = next((r for r in runs if r.get("epoch_test_auroc")), None)
        if run:
            aucs = run["epoch_test_auroc"]
            ax.plot(range(1, len(aucs) + 1), aucs, marker=".", label=class_name(dataset, c))
    ax.set(xlabel="epoch", ylabel="test AUROC")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    report.figure(f"{_slug(key)}-epochs", fig, "Test AUROC after each epoch, one run per class")


def _short(commit: str | None) -> str:
    if not commit:
        return "unknown"
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def _slug(key: tuple) -> str:
    return "-".join(str(k) for k in key[:4]).replace("/", "_") + f"-{zlib.crc32(key[4].encode()) % 10_000:04d}"


def _decision_table(report: Report, by_class: dict[int, list[dict]], dataset: str) -> None:
    """Per class: where the threshold came from and the false- and true-positive rates it gives on the test split
    (mean over seeds); nothing for results written before decision thresholds."""
    rows = []
    for c, rs in by_class.items():
        decided = [r["decision"] for r in rs if r.get("decision")]
        if decided:
            rows.append([class_name(dataset, c), ", ".join(sorted({f"{d['source']} ({d['n']})" for d in decided})),
                         f"{decided[0]['fpr']:.0%}", f"{np.mean([d['test_fpr'] for d in decided]):.3f}",
                         f"{np.mean([d['test_tpr'] for d in decided]):.3f}"])
    if rows:
        report.paragraph("Decisions at the threshold `fit` set on normal images (its source and their number), as "
                         "rates on the test split:")
        report.table(["class", "threshold set on", "target FPR", "test FPR", "test TPR"], rows)
