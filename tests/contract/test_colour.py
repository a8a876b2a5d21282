"""Colour and size end to end: every method trains on 3-channel images at 64×64 and at 128×128 (the papers use
28–64), scores them, gives maps at the image's own size where it has maps, and, at 64×64, exports to ONNX with the
same scores."""

from __future__ import annotations

import numpy as np
import pytest

import oneclass
from oneclass.data.defects import make_image
from tests.contract.test_methods import FAST

#: over FAST where colour needs it: Deep SVDD's colour LeNet (32, 64, 128) takes 20 s at 128×128; smaller here
COLOUR = {"dsvdd": {"widths": (8, 8, 16), "rep_dim": 16}}


@pytest.fixture(scope="module")
def textures():
    """30 generated tiles (27 to train on, 3 to score) and 3 tiles with a defect, 128×128 colour."""
    normal = np.stack([make_image("tile", np.random.default_rng(i))[0] for i in range(30)])
    defective = np.stack([make_image("tile", np.random.default_rng(100 + i), "missing")[0] for i in range(3)])
    return normal, defective


def shrink(images: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(x).resize((side, side), Image.BILINEAR)) for x in images])


@pytest.mark.parametrize("side", [64, 128])
@pytest.mark.parametrize("method", sorted(oneclass.available()))
def test_every_method_trains_and_scores_colour_images_at_64_and_128(method, side, textures, tmp_path):
    normal, defective = (shrink(x, side) for x in textures)
    det = oneclass.create(method, **FAST[method], **COLOUR.get(method, {})).fit(normal[:27])
    assert det.input_shape_ == (3, side, side)
    test = np.concatenate([normal[27:], defective])  # unseen: a training image's kNN distance is a rounding error
    scores, maps = det.score_with_maps(test)
    assert all(np.isfinite(v).all() and v.shape == (6,) for v in scores.values())
    if det.has_anomaly_maps:
        assert maps.shape == (6, side, side) and np.isfinite(maps).all()
    if side == 64 and det.capabilities.onnx:
        from oneclass.export import OnnxModel, export_onnx

        onnx = OnnxModel(export_onnx(det, tmp_path / "model.onnx"))
        # float32: knn_geom's squared distances (|a|² − 2ab + |b|² over 3,072 values, summed in another order by
        # onnxruntime) differ here by 1.7e-4 at most, 7e-5 of the largest score; the tolerance leaves 4× room
        np.testing.assert_allclose(onnx.score(test).default, scores.default, rtol=1e-4,
                                   atol=3e-4 * np.abs(scores.default).max())
