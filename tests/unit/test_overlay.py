"""Heatmap overlays: one colour scale across the images shown together, and its legend."""

import numpy as np

from oneclass.overlay import colour_scale, heatmap_overlay


def test_a_shared_scale_keeps_levels_comparable_across_images():
    image = np.full((28, 28), 128, np.uint8)
    low, high = np.full((28, 28), 1.0), np.full((28, 28), 2.0)
    own = [np.asarray(heatmap_overlay(image, m)) for m in (low, high)]
    assert (own[0] == own[1]).all()  # each map on its own range: a flat map is flat, whatever its level
    shared = [np.asarray(heatmap_overlay(image, m, scale=(0.0, 2.0))).astype(int) for m in (low, high)]
    assert shared[1].sum() > shared[0].sum()  # on one scale, the higher map is brighter
    legend = colour_scale(0.0, 2.0)
    assert legend.mode == "RGB" and legend.width > legend.height
