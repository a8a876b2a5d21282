"""The benchmark grid: cells (method × dataset × protocol × normal class × seed), how one cell is run, and
the executors that run many (in this process, a local process pool, or a Ray cluster).

Whatever runs a cell, only the calling process writes result lines, so lines are never interleaved.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

import oneclass
from oneclass.bench.results import ResultsFile, cell_key
from oneclass.data.catalog import load_dataset
from oneclass.data.protocols import Split, make_split
from oneclass.detector import Detector, Scores, detector_class, jsonable
from oneclass.errors import OneClassError
from oneclass.metrics import auroc, eer, f1_at_outlier_ratio, f1_at_threshold

PRESETS = ("paper", "fast")
#: `--set` keys that configure the protocol rather than the method
SPLIT_OPTIONS = ("val_normal", "val_outliers", "ratios", "image_size", "per_category", "transductive",
                 "train_per_class", "test_per_class", "known_class", "canvas", "size_range", "patch_size", "stride",
                 "train_patches", "motion_delta", "min_motion", "max_train_patches", "smooth")


@dataclass(frozen=True)
class Cell:
    """One training + evaluation. `overrides` are hyper-parameters set on the command line (on top of the preset).

    `track_epochs` also records the test AUROC after every epoch (methods that call `epoch_callback`); it does
    not change training, so it is not part of the result key (the cell's fit time then includes that scoring).
    """

    method: str
    dataset: str
    protocol: str
    normal_class: int
    seed: int
    preset: str = "paper"
    overrides: dict[str, Any] = field(default_factory=dict, hash=False)
    track_epochs: bool = False

    def key(self) -> tuple:
        return cell_key(asdict(self))

    def settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(hyper-parameters, split options) from the method's preset and the overrides."""
        cls = detector_class(self.method)
        merged = {**cls.presets.get(self.preset, {}), **self.overrides}
        split = {k: merged.pop(k) for k in SPLIT_OPTIONS if k in merged}
        unknown = sorted(set(merged) - set(cls.param_names()))
        if unknown:
            raise OneClassError(f"{self.method} has no hyper-parameter {unknown[0]!r}; it has {', '.join(cls.param_names())} "
                                f"(and the protocols' options {', '.join(SPLIT_OPTIONS)})")
        params = {**merged, "seed": self.seed}
        cls.check_params(params)
        return params, split


def parse_classes(text: str) -> list[int]:
    """'0-9', '0,2,5' or '1-3,7' → sorted list of class indices."""
    classes: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise OneClassError(f"--classes {text!r}: expected e.g. 0-9 or 0,2,5") from None
        if last < first:
            raise OneClassError(f"--classes {text!r}: the range {part.strip()} runs backwards; write {last}-{first}")
        classes.update(range(first, last + 1))
    return sorted(classes)


def make_cells(methods: Iterable[str], dataset: str, protocol: str, classes: Iterable[int], seeds: Iterable[int],
               preset: str = "paper", overrides: dict[str, Any] | None = None, track_epochs: bool = False) -> list[Cell]:
    if preset not in PRESETS:
        raise OneClassError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    cells = [Cell(m, dataset, protocol, c, s, preset, dict(overrides or {}), track_epochs)
             for m in methods for c in classes for s in seeds]
    for m in dict.fromkeys(methods):  # fail before any training if a hyper-parameter is unknown
        Cell(m, dataset, protocol, 0, 0, preset, dict(overrides or {})).settings()
    return cells


# ------------------------------------------------------------------------------------------- one cell


@functools.lru_cache(maxsize=4)
def _dataset(name: str, root: str | None) -> dict[str, np.ndarray]:
    return load_dataset(name, root, download=False)


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout the package runs from, if it runs from one ("-dirty" when it has changes)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _curves(labels: np.ndarray, scores: np.ndarray, points: int = 101, bins: int = 30) -> dict[str, Any]:
    """A compact ROC curve (TPR at evenly spaced FPR) and normal/anomalous histograms, for the report's figures.

    The histograms span the 0.5-99.5 % quantiles of the scores; scores beyond fall in the outer bins.
    """
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    grid = np.linspace(0, 1, points)
    lo, hi = np.quantile(scores, [0.005, 0.995])
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.histogram_bin_edges(scores, bins=bins)
    scores = np.clip(scores, edges[0], edges[-1])
    return {"roc_tpr": np.round(np.interp(grid, fpr, tpr), 4).tolist(),
            "hist_edges": [float(f"{e:.6g}") for e in edges],
            "hist_normal": np.histogram(scores[labels == 0], edges)[0].tolist(),
            "hist_anomalous": np.histogram(scores[labels == 1], edges)[0].tolist()}


def target_f1(labels: np.ndarray, scores: Scores, thresholds: dict[str, float]) -> dict[str, dict[str, float]]:
    """F1 with the target (normal) class as the positive class, as the ALOCC and G2D papers report it:
    `f1_target` flags the known outlier fraction of highest scores, `f1_target_tau` decides with the method's own
    thresholds (`Detector.decision_thresholds`, e.g. τ = 0.5 on D), for the scores that have one."""
    fraction = float(labels.mean())
    return {"f1_target": {k: round(f1_at_outlier_ratio(labels, s, fraction, positive=0), 5) for k, s in scores.items()},
            "f1_target_tau": {k: round(f1_at_threshold(labels, scores[k], t, positive=0), 5)
                              for k, t in thresholds.items()}}


def _test_set_metrics(split: Split, scores: Scores, thresholds: dict[str, float]) -> dict[str, dict[str, Any]]:
    """AUROC and target F1 on each named test set of the split (the outlier-ratio protocol's 10 %–50 % sets)."""
    out = {}
    for name, idx in split.test_sets.items():
        y = split.y_test[idx]
        sub = Scores({k: v[idx] for k, v in scores.items()}, scores.default_name)
        out[name] = {"n": len(idx), "anomaly_fraction": round(float(y.mean()), 5),
                     "auroc": {k: round(auroc(y, v), 5) for k, v in sub.items()}, **target_f1(y, sub, thresholds)}
    return out


def score_test_split(det: Detector, split: Split) -> Scores:
    """The scores of the split's test images, one per label: video protocols score patches, then frames."""
    scores = det.score(split.x_test)
    if split.frames is None:
        return scores
    return Scores({k: split.frames.frame_scores(v) for k, v in scores.items()}, scores.default_name)


def evaluate(det: Detector, split: Split) -> tuple[Scores, dict[str, float], float, float]:
    """Fit on the split's training images (and validation set), score its test images.

    Returns the test scores, the AUROC of each score, and the fit and score wall times in seconds. Video
    protocols score the test patches and evaluate frames (`Split.frames`), so their scores are per frame.
    """
    t0 = time.perf_counter()
    det.fit(split.x_train, val=split.val, known_anomalies=split.x_known)
    t1 = time.perf_counter()
    scores = score_test_split(det, split)
    t2 = time.perf_counter()
    return scores, {name: auroc(split.y_test, s) for name, s in scores.items()}, t1 - t0, t2 - t1


def run_cell(cell: Cell, data_root: str | None = None) -> dict[str, Any]:
    """Train and evaluate one cell; returns its result line (a JSON-able dict)."""
    params, split_options = cell.settings()
    split = make_split(cell.protocol, _dataset(cell.dataset, data_root), cell.normal_class, seed=cell.seed,
                       **split_options)
    det = oneclass.create(cell.method, **params)
    epoch_aucs: list[float] = []
    if cell.track_epochs:
        det.epoch_callback = lambda d, epoch: epoch_aucs.append(round(auroc(split.y_test, score_test_split(d, split).default), 5))
    scores, aucs, fit_s, score_s = evaluate(det, split)
    y = split.y_test
    tracked = {"epoch_test_auroc": epoch_aucs} if cell.track_epochs else {}
    thresholds = det.decision_thresholds()
    test_sets = {"test_sets": _test_set_metrics(split, scores, thresholds)} if split.test_sets else {}
    return {**asdict(cell), **tracked,
            "auroc": {k: round(v, 5) for k, v in aucs.items()},
            "eer": {k: round(eer(y, s)[0], 5) for k, s in scores.items()},
            "f1": {k: round(f1_at_outlier_ratio(y, s, float(y.mean())), 5) for k, s in scores.items()},
            **target_f1(y, scores, thresholds), **test_sets, "split_info": _split_details(split.info),
            "default_score": scores.default_name,
            "epochs": det.fit_info_.get("epochs"), "selection": det.fit_info_.get("selection", "none"),
            "best_epoch": det.fit_info_.get("best_epoch"), "val_history": det.fit_info_.get("val_history", []),
            "fit_info": _method_details(det.fit_info_),
            "n_train": len(split.x_train), "n_val": 0 if split.x_val is None else len(split.x_val),
            "n_known_anomalies": 0 if split.x_known is None else len(split.x_known),
            "n_test": len(y), "anomaly_fraction": round(float(y.mean()), 5),
            "fit_seconds": round(fit_s, 2), "score_seconds": round(score_s, 2), "threads": _threads(),
            "params": det.get_params(), "version": oneclass.__version__, "commit": git_commit(),
            "curves": _curves(y, scores.default)}


def _method_details(fit_info: dict[str, Any]) -> dict[str, Any]:
    """What the method recorded about its training (losses, G2D's selected generators and set sizes), less
    what the line already carries."""
    return jsonable({k: v for k, v in fit_info.items()
                      if k not in ("n_train", "epochs", "selection", "best_epoch", "val_history")})


def _split_details(info: dict[str, Any]) -> dict[str, Any]:
    """What the protocol drew (normal classes, Caltech categories, ratios), less what the cell key already says."""
    return {k: v for k, v in info.items() if k not in ("protocol", "seed")}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


# ------------------------------------------------------------------------------------------- executors


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_cell_pinned(cell: Cell, data_root: str | None, threads: int) -> dict[str, Any]:
    _init_worker(threads)
    return run_cell(cell, data_root)


def run_grid(cells: list[Cell], out: ResultsFile, data_root: str | None = None, workers: int = 1,
             executor: str = "local", address: str | None = None,
             on_done: Callable[[Cell, dict[str, Any] | None, BaseException | None], None] | None = None) -> int:
    """Run the cells not yet in `out`, appending one line per finished cell. Returns the number of failures.

    executor "local" runs in this process when workers == 1, else in a pool of `workers` processes, each
    pinned to cpu_count / workers threads; "ray" sends cells to a Ray cluster (`address`, or a local one).
    `on_done(cell, row, error)` is called after each cell (for progress bars).
    """
    done = out.done_keys()
    todo = [c for c in cells if c.key() not in done]
    failures = 0

    def finish(cell: Cell, row: dict[str, Any] | None, error: BaseException | None) -> None:
        nonlocal failures
        if row is not None:
            out.append(row)
        failures += error is not None
        if on_done:
            on_done(cell, row, error)

    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    if executor == "ray":
        _run_ray(todo, data_root, threads, address, finish)
    elif workers <= 1:
        for cell in todo:
            try:
                row = run_cell(cell, data_root)
            except OneClassError:
                raise
            except Exception as exc:  # a failed cell must not stop the grid; it is reported and rerun next time
                finish(cell, None, exc)
                continue
            finish(cell, row, None)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(run_cell, cell, data_root): cell for cell in todo}
            for fut in as_completed(futures):
                exc = fut.exception()
                finish(futures[fut], None if exc else fut.result(), exc)
    return failures


def _run_ray(cells: list[Cell], data_root: str | None, threads: int, address: str | None, finish) -> None:
    try:
        import ray
    except ImportError:
        raise OneClassError("--executor ray needs Ray: pip install 'oneclass[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    remote = ray.remote(num_cpus=threads)(_run_cell_pinned)
    pending = {remote.remote(cell, data_root, threads): cell for cell in cells}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        cell = pending.pop(ready[0])
        try:
            finish(cell, ray.get(ready[0]), None)
        except Exception as exc:
            finish(cell, None, exc)
