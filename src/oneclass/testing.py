"""The Detector contract as a public conformance check: `check_detector(cls)` runs every rule a method must keep,
so a method in another package (registered through the `oneclass.methods` entry-point group) is held to the same
contract as the built-in ones, each of which passes it in oneclass's own suite.

The rules: declared parameter rules that the defaults pass; keyword-only parameters stored unchanged; `clone`;
a clear error before `fit`; finite scores of the declared names and shapes, maps of the image size where promised;
`score`, `score_with_maps` and `anomaly_maps` agreeing (one scoring graph); an image's default score not depending
on the other images scored with it (unless the method says it does); the same seed giving the same model;
save / load giving the same scores on training-like images and on images unlike them (noise, blank, saturated,
inverted); a fit stopped after an epoch resuming to the same model (methods with `epochs`); ONNX scores and maps
within 1e-4 of PyTorch's where the method exports.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from oneclass.core import Detector, clone
from oneclass.errors import NotFittedError

#: the relative tolerance of float32 scores computed twice (saved and loaded, PyTorch and ONNX)
RTOL = 1e-4


class _Stop(Exception):
    """Raised after an epoch to stand for a training run that was killed."""


def example_images(n: int = 96, side: int = 28, seed: int = 0) -> np.ndarray:
    """Normal images for the checks where the caller has none: blurred bright discs of random size and place on a
    dark ground, uint8 (n, side, side)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    centres = rng.uniform(0.3 * side, 0.7 * side, (n, 2))
    radii = rng.uniform(0.15 * side, 0.3 * side, n)
    d = np.hypot(yy[None] - centres[:, 0, None, None], xx[None] - centres[:, 1, None, None])
    return (255 * np.clip(radii[:, None, None] - d + 1, 0, 1)).astype(np.uint8)


def unlike_training(images: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Images unlike `images`, where copies of a scoring path drift apart: uniform noise, blank, saturated, inverted."""
    noise = np.random.default_rng(seed).integers(0, 256, (8, *images.shape[1:]), dtype=np.uint8)
    return {"noise": noise, "blank": np.zeros_like(images[:2]), "saturated": np.full_like(images[:2], 255),
            "inverted": 255 - images[:8]}


def check_detector(cls: type[Detector], params: dict[str, Any] | None = None, images: np.ndarray | None = None,
                   test_images: np.ndarray | None = None) -> None:
    """Run the Detector contract on `cls`; raise AssertionError naming the first rule broken.

    Parameters
    ----------
    cls : Detector subclass
        The method to check.
    params : dict, optional
        Hyper-parameters that make it quick (few epochs, narrow networks).
    images, test_images : uint8 arrays (n, H, W), optional
        Normal training images and images to score; default `example_images`.

    Examples
    --------
    >>> from oneclass.registry import detector_class
    >>> check_detector(detector_class("ocsvm"))
    """
    params = dict(params or {})
    images = example_images() if images is None else images
    test_images = images[:40] if test_images is None else test_images
    check_parameters(cls, params)
    det = cls(**{**params, "seed": 1}).fit(images)
    check_scores(det, test_images)
    check_reproducible(cls, params, images, test_images, det)
    with tempfile.TemporaryDirectory() as tmp:
        check_save_load(det, test_images, Path(tmp))
        check_resume(cls, params, images, test_images, Path(tmp) / "checkpoints")
        check_onnx(det, test_images, Path(tmp) / "model.onnx")


def check_parameters(cls: type[Detector], params: dict[str, Any]) -> None:
    """Declared rules for every parameter, defaults that pass them, keyword-only parameters stored unchanged,
    `clone`, and a NotFittedError before `fit`."""
    signature = inspect.signature(cls.__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for name, p in signature.items() if name != "self"), "parameters keyword-only"
    assert set(cls.param_names()) == set(cls.common_rules) | set(cls.param_rules), "a rule for every parameter"
    cls.check_params(cls.param_defaults())
    det = cls(**params)
    assert all(getattr(det, k) is v for k, v in params.items()), "parameters stored unchanged"
    assert clone(det).get_params() == det.get_params(), "clone keeps the parameters"
    assert cls.score_names and cls.default_score in cls.score_names, "a default among the score names"
    try:
        det.score(np.zeros((1, 8, 8), np.uint8))
    except NotFittedError:
        pass
    else:
        raise AssertionError("scoring before fit must raise NotFittedError")


def check_scores(det: Detector, x: np.ndarray) -> None:
    """Finite scores of every declared name, shape (n,); each image's default score the same scored alone or with
    the others (unless `scores_relative_to_set`); maps (n, H, W) where promised, the same from `score_with_maps`
    and `anomaly_maps`, and `score_with_maps`' scores equal to `score`'s."""
    scores = det.score(x)
    assert list(scores) == list(det.score_names) and scores.default_name == det.default_score
    for name, values in scores.items():
        assert values.shape == (len(x),) and np.isfinite(values).all(), f"score {name}: shape or non-finite values"
    if not det.scores_relative_to_set:  # an image's default score does not depend on the others scored with it
        alone = np.concatenate([det.score(x[:1]).default, det.score(x[1:]).default])
        # batch composition changes a matmul's blocking: float32 noise, amplified where a kNN distance cancels
        np.testing.assert_allclose(alone, scores.default, rtol=RTOL, atol=1e-5 * np.abs(scores.default).max(),
                                   err_msg="default score depends on the scored set")
    with_maps, maps = det.score_with_maps(x)
    for name in scores:
        np.testing.assert_allclose(with_maps[name], scores[name], rtol=1e-6, err_msg=f"{name}: score_with_maps")
    if det.has_anomaly_maps:
        assert maps is not None and maps.shape == (len(x), *det.input_shape_[1:]), "maps (n, H, W)"
        np.testing.assert_allclose(det.anomaly_maps(x), maps, rtol=1e-6, err_msg="anomaly_maps")
    else:
        assert maps is None


def check_reproducible(cls: type[Detector], params: dict[str, Any], images: np.ndarray, x: np.ndarray,
                       first: Detector) -> None:
    """The same seed gives the same scores."""
    again = cls(**{**params, "seed": 1}).fit(images)
    np.testing.assert_allclose(again.score(x).default, first.score(x).default, rtol=1e-5, err_msg="same seed")


def check_save_load(det: Detector, x: np.ndarray, folder: Path) -> None:
    """A saved and loaded model gives the same scores and maps on `x` and on images unlike it."""
    from oneclass.core import load

    loaded = load(det.save(folder / "model"))
    assert loaded.get_params() == det.get_params() and loaded.input_shape_ == det.input_shape_
    for kind, images in {"given": x, **unlike_training(x)}.items():
        ours, theirs = det.score_with_maps(images), loaded.score_with_maps(images)
        for name in det.score_names:
            np.testing.assert_allclose(theirs[0][name], ours[0][name], rtol=1e-6, atol=1e-9, err_msg=f"{kind} {name}")


def check_resume(cls: type[Detector], params: dict[str, Any], images: np.ndarray, x: np.ndarray, folder: Path) -> None:
    """A fit stopped after its first epoch, then run again with the same checkpoints, gives the uninterrupted
    model (methods with `epochs` of at least 2)."""
    from oneclass.checkpoint import Checkpointing
    from oneclass.training import EveryEpoch

    if (params.get("epochs") or cls.param_defaults().get("epochs") or 0) < 2:
        return
    whole = cls(**{**params, "seed": 2}).fit(images)

    def stop(epoch: int) -> None:
        if epoch == 2:
            raise _Stop

    det = cls(**{**params, "seed": 2})
    try:
        det.fit(images, callbacks=[EveryEpoch(stop), Checkpointing(folder)])
    except _Stop:
        pass
    det.fit(images, callbacks=[Checkpointing(folder)])
    np.testing.assert_array_equal(det.score(x).default, whole.score(x).default, err_msg="resumed fit")


def check_onnx(det: Detector, x: np.ndarray, path: Path) -> None:
    """ONNX scores and maps within `RTOL` of PyTorch's, on `x` and on images unlike it (where the method exports
    and onnxruntime is installed)."""
    try:
        import onnxruntime  # noqa: F401

        from oneclass.export import OnnxModel, export_onnx
    except ImportError:
        return
    if det.export_refusal is not None:
        return
    exported = OnnxModel(export_onnx(det, path))
    for kind, images in {"given": x, **unlike_training(x)}.items():
        (ours, our_maps), (theirs, their_maps) = det.score_with_maps(images), exported.score_with_maps(images)
        scale = np.abs(ours.default).max()
        np.testing.assert_allclose(theirs.default, ours.default, rtol=RTOL, atol=1e-5 * scale, err_msg=f"ONNX {kind}")
        if our_maps is not None:
            np.testing.assert_allclose(their_maps, our_maps, rtol=RTOL, atol=1e-5 * np.abs(our_maps).max(),
                                       err_msg=f"ONNX maps {kind}")
