import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from oneclass.errors import InputError
from oneclass.metrics import auroc, eer, f1_at_outlier_ratio, f1_at_threshold, pixel_auroc, pro_auc, threshold_for_outlier_ratio


def test_auroc_hand_computed():
    # pairs (anomaly, normal): (0.35 vs 0.1) win, (0.35 vs 0.4) loss, (0.8 vs both) wins -> 3/4
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(-10, 10)), min_size=2, max_size=60))
def test_auroc_matches_scikit_learn_and_flips(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    if y.min() == y.max():
        return
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert auroc(y, -s) == pytest.approx(1 - auroc(y, s))


def test_eer_hand_computed():
    # perfectly separated -> 0; perfectly inverted -> 1
    assert eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])[0] == pytest.approx(0.0)
    assert eer([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])[0] == pytest.approx(1.0)
    # scores 1..4 for labels 0,1,0,1: at threshold 2 FPR = 1/2, miss = 0; at threshold 3 FPR = 1/2, miss = 1/2
    rate, thr = eer([0, 1, 0, 1], [1, 2, 3, 4])
    assert rate == pytest.approx(0.5)
    assert thr == pytest.approx(3.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=4, max_size=50))
def test_eer_lies_between_fpr_and_miss_rate_at_its_threshold(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs])
    if y.min() == y.max():
        return
    rate, thr = eer(y, s)
    assert 0.0 <= rate <= 1.0 and np.isfinite(thr)
    # the EER is at most the worse of the two error rates at any threshold
    for t in np.unique(s):
        fpr = np.mean(s[y == 0] >= t)
        miss = np.mean(s[y == 1] < t)
        assert rate <= max(fpr, miss) + 1e-9


def test_f1_at_threshold_hand_computed():
    y = [0, 0, 0, 1, 1]
    s = [0.1, 0.2, 0.7, 0.8, 0.3]
    # flagged (>= 0.5): idx 2, 3 -> TP 1, FP 1, FN 1 -> F1 = 2/(2+1+1) = 0.5
    assert f1_at_threshold(y, s, 0.5) == pytest.approx(0.5)
    # normal as positive: predicted normal idx 0, 1, 4 -> TP 2, FP 1, FN 1 -> F1 = 4/6
    assert f1_at_threshold(y, s, 0.5, positive=0) == pytest.approx(4 / 6)


def test_outlier_ratio_threshold_flags_that_fraction():
    s = np.arange(10.0)
    assert threshold_for_outlier_ratio(s, 0.3) == 7.0
    y = (s >= 7).astype(int)
    assert f1_at_outlier_ratio(y, s, 0.3) == pytest.approx(1.0)
    with pytest.raises(InputError):
        threshold_for_outlier_ratio(s, 1.5)


def test_pixel_auroc():
    masks = np.zeros((2, 4, 4))
    masks[0, :2, :2] = 1
    maps = masks * 2 + 0.1
    assert pixel_auroc(masks, maps) == pytest.approx(1.0)
    with pytest.raises(InputError, match="shape"):
        pixel_auroc(masks, maps[:1])


def test_single_class_labels_are_refused():
    with pytest.raises(InputError, match="both normal"):
        auroc([0, 0], [0.1, 0.2])


def _pro_by_thresholds(masks, maps, max_fpr=0.3):
    """PRO the slow way: every threshold, every region's overlap by its own loop (MVTec AD's definition)."""
    from scipy import ndimage

    regions = [r for m in masks for r in (lambda lab: [lab[0] == k for k in range(1, lab[1] + 1)])(
        ndimage.label(m, structure=np.ones((3, 3))))]
    regions_maps = [maps[i] for i, m in enumerate(masks) for _ in range(ndimage.label(m, structure=np.ones((3, 3)))[1])]
    normal = maps[masks == 0]
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        fpr = (normal >= t).mean()
        pro = np.mean([(rm[r] >= t).mean() for r, rm in zip(regions, regions_maps, strict=True)])
        points.append((fpr, pro))
    f, p = np.array(points).T
    keep = f <= max_fpr
    f_cut, p_cut = np.r_[f[keep], max_fpr], np.r_[p[keep], np.interp(max_fpr, f, p)]
    return np.trapezoid(p_cut, f_cut) / max_fpr


def test_pro_is_exact_against_a_threshold_by_threshold_computation():
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 12, 12), bool)
    masks[0, 2:4, 2:9] = True  # a large region and a one-pixel region count the same
    masks[0, 9, 9] = True
    masks[2, 5:10, 1:4] = True
    maps = rng.random((3, 12, 12)).round(2) + masks * rng.uniform(0, 0.6, (3, 12, 12))  # ties, and partial signal
    assert pro_auc(masks, maps) == pytest.approx(_pro_by_thresholds(masks, maps), rel=1e-9)
    assert pro_auc(masks, maps.astype(np.float32) * 0 + masks) == pytest.approx(1.0)  # perfect maps


def test_pro_weighs_regions_not_pixels():
    masks = np.zeros((1, 10, 10), bool)
    masks[0, :5, :] = True  # 50 pixels
    masks[0, 9, 9] = True  # 1 pixel
    found_big = masks * 1.0
    found_big[0, 9, 9] = 0.0
    # half the regions at FPR 0, though 50 of 51 pixels; then straight to (1, 1): 0.3 × (0.5 + 0.65) / 2 / 0.3
    assert pro_auc(masks, found_big) == pytest.approx(0.575)
    with pytest.raises(InputError, match="defective and normal pixels"):
        pro_auc(np.zeros((1, 4, 4)), np.zeros((1, 4, 4)))
