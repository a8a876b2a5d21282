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


def pro_auc(masks, maps, max_fpr: float = 0.3) -> float:
    """Area under the per-region-overlap curve up to `max_fpr`, divided by `max_fpr` (MVTec AD's PRO; 1 is best).

    Each connected defect region (8-connected, in each image's mask) counts equally, whatever its size: at a
    threshold its overlap is the fraction of its pixels above the threshold, and PRO is the mean over regions.
    The false-positive rate is that of the normal pixels. The curve is exact (every distinct map value is a
    threshold), integrated with the trapezoid rule and cut at `max_fpr` by linear interpolation.

    Examples
    --------
    >>> masks = np.zeros((1, 4, 4), int); masks[0, 0, :2] = 1; masks[0, 3, 3] = 1
    >>> maps = np.zeros((1, 4, 4)); maps[0, 0, :2] = 1.0; maps[0, 3, 3] = 0.5
    >>> pro_auc(masks, maps)
    1.0
    """
    from scipy import ndimage

    m = np.asarray(masks) != 0
    a = np.asarray(maps, dtype=np.float64)
    if m.shape != a.shape or m.ndim != 3:
        raise InputError(f"masks {m.shape} and maps {a.shape}: expected the same shape (n, H, W)")
    if not m.any() or m.all():
        raise InputError("PRO needs defective and normal pixels")
    regions = np.zeros(m.shape, np.int64)
    count = 0
    for i in range(len(m)):
        labelled, n = ndimage.label(m[i], structure=np.ones((3, 3)))
        regions[i] = np.where(labelled > 0, labelled + count, 0)
        count += n
    sizes = np.bincount(regions.ravel(), minlength=count + 1)
    weight = np.where(regions > 0, 1.0 / (count * sizes[regions]), 0.0).ravel()
    order = np.argsort(-a.ravel(), kind="stable")
    values = a.ravel()[order]
    pro = np.cumsum(weight[order])
    fpr = np.cumsum(~m.ravel()[order]) / (~m).sum()
    last = np.r_[values[1:] != values[:-1], True]  # the end of each run of equal values: one threshold each
    fpr, pro = np.r_[0.0, fpr[last]], np.r_[0.0, pro[last]]
    cut = np.searchsorted(fpr, max_fpr, side="right")
    if cut < len(fpr):
        f0, f1, p0, p1 = fpr[cut - 1], fpr[cut], pro[cut - 1], pro[cut]
        fpr, pro = np.r_[fpr[:cut], max_fpr], np.r_[pro[:cut], p0 + (p1 - p0) * (max_fpr - f0) / (f1 - f0)]
    return float(np.trapezoid(pro, fpr) / max_fpr)
