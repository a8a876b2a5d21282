"""Evaluation metrics. Labels: 1 = anomaly, 0 = normal; scores: higher = more anomalous."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score, roc_curve

from oneclass.errors import InputError


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"labels and scores differ in size: {y.size} vs {s.size}")
    if not np.isin(y, (0, 1)).all():
        raise InputError("labels must be 0 (normal) or 1 (anomaly)")
    if not np.isfinite(s).all():
        raise InputError("scores contain NaN or infinite values")
    if y.min() == y.max():
        raise InputError("AUROC and EER need both normal (0) and anomalous (1) examples")
    return y.astype(np.int64), s


def auroc(labels, scores) -> float:
    """Area under the ROC curve."""
    y, s = _check(labels, scores)
    return float(roc_auc_score(y, s))


def eer(labels, scores) -> tuple[float, float]:
    """Equal error rate and its threshold: the point where the false-positive rate equals the miss rate.

    The ROC is interpolated linearly between its corners, so the EER is exact for the piecewise-linear
    curve; the threshold is that of the nearest ROC corner.
    """
    y, s = _check(labels, scores)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    fnr = 1.0 - tpr
    diff = fpr - fnr  # increasing from -1 to 1 along the curve
    i = int(np.searchsorted(diff, 0.0))
    if diff[i] == 0.0:
        return float(fpr[i]), float(thr[max(i, 1)])
    a, b = diff[i - 1], diff[i]
    w = -a / (b - a)
    rate = fpr[i - 1] + w * (fpr[i] - fpr[i - 1])
    j = max(1, i - 1 if w < 0.5 else i)  # index 0 is roc_curve's +inf threshold
    return float(rate), float(thr[j])


def f1_at_threshold(labels, scores, threshold: float, positive: int = 1) -> float:
    """F1 when images with score >= threshold are called anomalous.

    `positive=1` treats anomalies as the positive class; `positive=0` treats normal (target) images
    as positive, as the ALOCC and G2D papers report.
    """
    y = np.asarray(labels).ravel().astype(np.int64)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"labels and scores differ in size: {y.size} vs {s.size}")
    pred = (s >= threshold).astype(np.int64)
    return float(f1_score(y, pred, pos_label=positive, zero_division=0.0))


def threshold_for_outlier_ratio(scores, ratio: float) -> float:
    """The threshold that flags the `ratio` fraction of highest-scoring images (ties flag together)."""
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if not 0.0 < ratio < 1.0:
        raise InputError(f"outlier ratio must be in (0, 1), got {ratio}")
    k = max(1, int(round(ratio * s.size)))
    return float(s[s.size - k])


def f1_at_outlier_ratio(labels, scores, ratio: float, positive: int = 1) -> float:
    """F1 when the top `ratio` fraction of scores is called anomalous (the known outlier fraction)."""
    return f1_at_threshold(labels, scores, threshold_for_outlier_ratio(scores, ratio), positive)


def pixel_auroc(masks, maps) -> float:
    """AUROC over all pixels: ground-truth masks (non-zero = anomalous) against anomaly maps."""
    m = np.asarray(masks)
    a = np.asarray(maps)
    if m.shape != a.shape:
        raise InputError(f"masks {m.shape} and maps {a.shape} differ in shape")
    return auroc((m.ravel() != 0).astype(np.int64), a.ravel())
