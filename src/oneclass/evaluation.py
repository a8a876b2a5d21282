"""One path from a detector and a split to a result: fit, score the test split (video protocols: patches, then
frames, here and only here), and every metric a result line carries. `train`, `demo`, `bench` and the service
all use `evaluate`; `Evaluation.line()` is the JSON line `oneclass bench` writes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from oneclass import __version__
from oneclass.bench.provenance import git_commit
from oneclass.core import Detector, Scores
from oneclass.core.persistence import jsonable
from oneclass.data.mvtec import GOOD, Category
from oneclass.data.protocols import Split
from oneclass.metrics import auroc, eer, f1_at_outlier_ratio, f1_at_threshold, pixel_auroc, pro_auc
from oneclass.training import Callback, EveryEpoch


@dataclass
class Evaluation:
    """A trained detector's result on a split: the fields of a result line, plus the test `scores` themselves."""

    method: str
    dataset: str
    protocol: str
    normal_class: int
    seed: int
    preset: str
    overrides: dict[str, Any]
    track_epochs: bool
    #: what training computed in: "bf16" (autocast) or "fp32"; scores and metrics are always computed in fp32
    precision: str
    auroc: dict[str, float]
    eer: dict[str, float]
    f1: dict[str, float]
    f1_target: dict[str, float]
    f1_target_tau: dict[str, float]
    #: target F1 of the default score when the detector decides with its own calibrated threshold (`decision`);
    #: empty for a detector that cannot decide
    f1_target_decision: dict[str, float]
    split_info: dict[str, Any]
    default_score: str
    epochs: int | None
    selection: str
    best_epoch: int | None
    val_history: list[float]
    fit_info: dict[str, Any]
    n_train: int
    n_val: int
    n_known_anomalies: int
    n_test: int
    anomaly_fraction: float
    fit_seconds: float
    score_seconds: float
    threads: int
    params: dict[str, Any]
    version: str
    commit: str | None
    curves: dict[str, Any]
    #: the decision threshold `fit` set (`Detector.decision_`) and the false- and true-positive rates it gives on the
    #: test split; empty in lines written before thresholds existed
    decision: dict[str, Any] = field(default_factory=dict)
    #: per named test set (the outlier-ratio protocol's 10 %–50 % sets): AUROC and target F1; empty if none
    test_sets: dict[str, Any] = field(default_factory=dict)
    #: with `track_epochs`: the test AUROC of the default score after every epoch (for studies, not selection)
    epoch_test_auroc: list[float] | None = None
    #: the test scores (per frame for video protocols); not part of the line
    scores: Scores | None = field(default=None, repr=False)

    def line(self) -> dict[str, Any]:
        """The JSON-able result line; `test_sets` and `epoch_test_auroc` only where they apply."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "scores"}
        if not self.test_sets:
            del out["test_sets"]
        if self.epoch_test_auroc is None:
            del out["epoch_test_auroc"]
        return out


def score_test_split(det: Detector, split: Split) -> Scores:
    """The scores of the split's test images, one per label: video protocols score patches, then frames."""
    scores = det.score(split.x_test)
    if split.frames is None:
        return scores
    return Scores({k: split.frames.frame_scores(v) for k, v in scores.items()}, scores.default_name)


def evaluate(det: Detector, split: Split, *, dataset: str, normal_class: int, preset: str = "paper",
             overrides: dict[str, Any] | None = None, track_epochs: bool = False,
             callbacks: Sequence[Callback] = ()) -> Evaluation:
    """Fit `det` on the split's training images (and validation set, and known anomalies) with `callbacks`, score
    its test split and compute every metric. `track_epochs` also records the test AUROC after every epoch (it does
    not change training; the fit time then includes that scoring)."""
    epoch_aucs: list[float] = []
    if track_epochs:
        def track(epoch: int) -> None:
            epoch_aucs.append(round(auroc(split.y_test, score_test_split(det, split).default), 5))

        callbacks = (*callbacks, EveryEpoch(track))
    t0 = time.perf_counter()
    det.fit(split.x_train, val=split.val, known_anomalies=split.x_known, callbacks=callbacks)
    t1 = time.perf_counter()
    scores = score_test_split(det, split)
    t2 = time.perf_counter()
    y = split.y_test
    thresholds = det.decision_thresholds()
    flagged = None if det.decision_ is None else det.decide(scores.default).astype(bool)
    info = det.fit_info_
    return Evaluation(
        method=det.name, dataset=dataset, protocol=split.info["protocol"], normal_class=normal_class, seed=det.seed,
        preset=preset, overrides=dict(overrides or {}), track_epochs=track_epochs,
        precision=info.get("precision", "fp32"),
        auroc={k: round(auroc(y, s), 5) for k, s in scores.items()},
        eer={k: round(eer(y, s)[0], 5) for k, s in scores.items()},
        f1={k: round(f1_at_outlier_ratio(y, s, float(y.mean())), 5) for k, s in scores.items()},
        **target_f1(y, scores, thresholds, flagged),
        split_info={k: v for k, v in split.info.items() if k not in ("protocol", "seed")},
        default_score=scores.default_name, epochs=info.get("epochs"), selection=info.get("selection", "none"),
        best_epoch=info.get("best_epoch"), val_history=info.get("val_history", []),
        fit_info=jsonable({k: v for k, v in info.items()
                           if k not in ("n_train", "epochs", "precision", "selection", "best_epoch", "val_history")}),
        n_train=len(split.x_train), n_val=0 if split.x_val is None else len(split.x_val),
        n_known_anomalies=0 if split.x_known is None else len(split.x_known), n_test=len(y),
        anomaly_fraction=round(float(y.mean()), 5), fit_seconds=round(t1 - t0, 2), score_seconds=round(t2 - t1, 2),
        threads=_threads(), params=det.get_params(), version=__version__, commit=git_commit(),
        curves=curves(y, scores.default), decision=decision_rates(det, y, flagged),
        test_sets=_test_set_metrics(split, scores, thresholds, flagged),
        epoch_test_auroc=epoch_aucs if track_epochs else None, scores=scores)


def decision_rates(det: Detector, labels: np.ndarray, flagged: np.ndarray | None) -> dict[str, Any]:
    """The detector's decision threshold with the false- and true-positive rates its decisions (`flagged`, True =
    anomalous) give on the test split (empty for a detector that cannot decide, see `Detector.scores_relative_to_set`)."""
    if flagged is None:
        return {}
    return {**det.decision_.to_json(), "test_fpr": round(float(flagged[labels == 0].mean()), 5),
            "test_tpr": round(float(flagged[labels == 1].mean()), 5)}


def target_f1(labels: np.ndarray, scores: Scores, thresholds: dict[str, float],
              flagged: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """F1 with the target (normal) class as the positive class, as the ALOCC and G2D papers report it:
    `f1_target` flags the known outlier fraction of highest scores, `f1_target_tau` decides with the method's own
    thresholds (`Detector.decision_thresholds`, e.g. τ = 0.5 on D), for the scores that have one, and
    `f1_target_decision` with the detector's calibrated decision on the default score (`flagged`, True = anomalous:
    set on normal images before any test image is seen, as a user's `predict` decides)."""
    fraction = float(labels.mean())
    return {"f1_target": {k: round(f1_at_outlier_ratio(labels, s, fraction, positive=0), 5) for k, s in scores.items()},
            "f1_target_tau": {k: round(f1_at_threshold(labels, scores[k], t, positive=0), 5)
                              for k, t in thresholds.items()},
            "f1_target_decision": {} if flagged is None else
            {scores.default_name: round(f1_at_threshold(labels, flagged.astype(np.float64), 0.5, positive=0), 5)}}


def _test_set_metrics(split: Split, scores: Scores, thresholds: dict[str, float],
                      flagged: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """AUROC and target F1 on each named test set of the split (the outlier-ratio protocol's 10 %–50 % sets)."""
    out = {}
    for name, idx in split.test_sets.items():
        y = split.y_test[idx]
        sub = Scores({k: v[idx] for k, v in scores.items()}, scores.default_name)
        out[name] = {"n": len(idx), "anomaly_fraction": round(float(y.mean()), 5),
                     "auroc": {k: round(auroc(y, v), 5) for k, v in sub.items()},
                     **target_f1(y, sub, thresholds, None if flagged is None else flagged[idx])}
    return out


def curves(labels: np.ndarray, scores: np.ndarray, points: int = 101, bins: int = 30) -> dict[str, Any]:
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


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def evaluate_category(det: Detector, category: Category, callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Fit `det` on a category's `train/good/` images and measure it on its test images (MVTec AD's protocol,
    `localisation_metrics`). Returns the fields of a result line (`make bench-defects`)."""
    t0 = time.perf_counter()
    det.fit(category.train.images, callbacks=callbacks)
    t1 = time.perf_counter()
    line = localisation_metrics(det, category)
    return {"method": det.name, "category": category.name, "seed": det.seed, "size": list(category.train.size),
            "channels": category.train.channels, "n_train": len(category.train.paths), **line,
            "fit_seconds": round(t1 - t0, 2), "threads": _threads(), "precision": det.fit_info_.get("precision", "fp32"),
            "params": det.get_params(), "version": __version__, "commit": git_commit()}


def localisation_metrics(det: Detector, category: Category) -> dict[str, Any]:
    """A fitted detector on a category's test images: the image AUROC of every score, over all defects and per
    defect, and where the method has maps, pixel AUROC, PRO (up to 30 % FPR) and the image AUROC of the map's
    maximum (`map_max`, the usual image score of localising methods)."""
    t0 = time.perf_counter()
    scores, maps = det.score_with_maps(category.test.images)
    score_seconds = time.perf_counter() - t0
    image_scores = dict(scores.items())
    if maps is not None:
        image_scores["map_max"] = maps.reshape(len(maps), -1).max(1)
    y, defects = category.labels, np.array(category.defects)
    per_defect = {}
    for d in sorted(set(category.defects) - {GOOD}):
        keep = np.isin(defects, [GOOD, d])
        per_defect[d] = {k: round(auroc(y[keep], s[keep]), 5) for k, s in image_scores.items()}
    line = {"n_test": len(y), "n_defective": int(y.sum()), "default_score": scores.default_name,
            "image_auroc": {k: round(auroc(y, s), 5) for k, s in image_scores.items()},
            "image_auroc_per_defect": per_defect}
    if maps is not None:
        line |= {"pixel_auroc": round(pixel_auroc(category.masks, maps), 5),
                 "pro": round(pro_auc(category.masks, maps), 5)}
    return line | {"score_seconds": round(score_seconds, 2)}
