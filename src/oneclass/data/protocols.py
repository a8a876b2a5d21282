"""Evaluation protocols of the papers, as functions from a labelled dataset to train / test (/ val) splits.

Every protocol returns a `Split`: normal training images, test images with labels (1 = anomaly), and an
optional validation set drawn from the *training* split only. `val_outliers` > 0 puts real outliers in the
validation set (some papers select epochs that way); the honest default uses none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oneclass.data.ucsd import VideoDataset
from oneclass.errors import DataError


@dataclass(frozen=True)
class FramePatches:
    """How a video protocol's test patches map to frames: each clip's frames in order, `patches_per_frame`
    patches of each frame in a row (`video.patch_grid` order), and the smoothing applied to frame scores."""

    clip_lengths: tuple[int, ...]
    frame_shape: tuple[int, int]
    patch_size: int
    stride: int
    smooth: int = 1

    @property
    def patches_per_frame(self) -> int:
        """How many patches each test frame is cut into."""
        from oneclass.data.video import patch_grid

        return len(patch_grid(self.frame_shape, self.patch_size, self.stride))

    def frame_scores(self, patch_scores: np.ndarray) -> np.ndarray:
        """Patch scores (all clips' frames × patches, flat) → frame scores, clip by clip."""
        from oneclass.data.video import frame_scores

        per_frame = patch_scores.reshape(-1, self.patches_per_frame)
        ends = np.cumsum(self.clip_lengths)
        return np.concatenate([frame_scores(per_frame[e - n:e], self.smooth) for n, e in
                               zip(self.clip_lengths, ends, strict=True)])


@dataclass
class Split:
    """A protocol's split: training normals, test images and labels, the optional validation set, known anomalies and
    named test sets, and what the protocol did (`info`)."""
    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: named test sets inside the test split, as index arrays into x_test (the outlier-ratio protocol's 10 %–50 %
    #: sets); the whole test split is always evaluated as well
    test_sets: dict[str, np.ndarray] = field(default_factory=dict)
    #: anomalies known beforehand, for methods that train with them (ADA's semi-supervised setting)
    x_known: np.ndarray | None = None
    #: video protocols: x_test holds the test frames' patches and y_test the frame labels; this turns patch
    #: scores into frame scores
    frames: FramePatches | None = None

    @property
    def val(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The validation set as `fit` takes it, (images, labels), or None."""
        return None if self.x_val is None else (self.x_val, self.y_val)


def _normal_mask(labels: np.ndarray, normal: Sequence[int], n_classes_present: Sequence[int]) -> np.ndarray:
    missing = sorted(set(normal) - set(int(c) for c in n_classes_present))
    if missing:
        raise DataError(f"normal class {missing[0]} does not occur in the data; "
                        f"classes present: {', '.join(str(int(c)) for c in n_classes_present)}")
    return np.isin(labels, list(normal))


def _as_classes(normal_class: int | Sequence[int]) -> list[int]:
    return [int(normal_class)] if np.isscalar(normal_class) else [int(c) for c in normal_class]


def _take_val(rng: np.random.Generator, x_normal: np.ndarray, x_outlier: np.ndarray, val_normal: int,
              val_outliers: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Hold out `val_normal` normals (removed from training) and draw `val_outliers` outliers."""
    if val_normal < 0 or val_outliers < 0:
        raise DataError(f"val_normal and val_outliers count images and cannot be negative; got {val_normal}, {val_outliers}")
    if val_normal == 0 and val_outliers == 0:
        return x_normal, None, None
    if val_normal >= len(x_normal):
        raise DataError(f"val_normal={val_normal} leaves no training images (only {len(x_normal)} normal images)")
    if val_outliers > len(x_outlier):
        raise DataError(f"val_outliers={val_outliers} exceeds the {len(x_outlier)} available outliers")
    order = rng.permutation(len(x_normal))
    held, kept = order[:val_normal], order[val_normal:]
    outliers = x_outlier[rng.choice(len(x_outlier), val_outliers, replace=False)]
    x_val = np.concatenate([x_normal[held], outliers])
    y_val = np.r_[np.zeros(val_normal, np.int64), np.ones(val_outliers, np.int64)]
    return x_normal[kept], x_val, y_val


def _keep_per_class(rng: np.random.Generator, labels: np.ndarray, keep: np.ndarray, classes: Sequence[int],
                    per_class: int | None) -> np.ndarray:
    """`keep` with all but a random `per_class` of each class's kept images dropped (None: unchanged)."""
    if per_class is None:
        return keep
    if per_class < 1:
        raise DataError(f"train_per_class={per_class} must be at least 1 (or null for every image)")
    keep = keep.copy()
    for c in classes:
        keep[rng.permutation(np.flatnonzero(keep & (labels == c)))[per_class:]] = False
    return keep


def one_vs_rest(data: dict[str, np.ndarray], normal_class: int | Sequence[int], seed: int = 0,
                val_normal: int = 0, val_outliers: int = 0, train_per_class: int | None = None) -> Split:
    """Train on the normal class(es) of the train split; test on the whole test split (ADACL, OCGAN).
    `train_per_class` keeps that many random training images of each normal class (None: all), to measure
    how a method depends on the size of its training set; the validation normals come out of those."""
    normal = _as_classes(normal_class)
    rng = np.random.default_rng(seed)
    is_normal = _normal_mask(data["y_train"], normal, np.unique(data["y_train"]))
    train_normal = _keep_per_class(rng, data["y_train"], is_normal, normal, train_per_class)
    x_train, x_val, y_val = _take_val(rng, data["x_train"][train_normal], data["x_train"][~is_normal],
                                      val_normal, val_outliers)
    y_test = (~np.isin(data["y_test"], normal)).astype(np.int64)
    return Split(x_train, data["x_test"], y_test, x_val, y_val,
                 {"protocol": "one-vs-rest", "normal_classes": normal, "seed": seed,
                  **({} if train_per_class is None else {"train_per_class": train_per_class})})


def memae(data: dict[str, np.ndarray], normal_class: int | Sequence[int], seed: int = 0, val_normal: int = 0,
          val_outliers: int = 0, anomaly_fraction: float = 0.3, pool: bool = True,
          train_per_class: int | None = None) -> Split:
    """MemAE protocol (OLED's MNIST): the normal class's images split 2:1 into train and test; anomalies,
    drawn at random from the other classes, make up `anomaly_fraction` of the test set.

    With `pool` (default) the dataset's train and test splits are pooled first, as the MemAE and OLED
    code do. Validation normals come out of the training two thirds; validation outliers never overlap
    the test anomalies. `train_per_class` keeps that many random images of each normal class of the training
    two thirds (None: all; the validation normals come out of those), leaving the test set as it is, to
    measure how a method depends on the size of its training set.
    """
    normal = _as_classes(normal_class)
    x = np.concatenate([data["x_train"], data["x_test"]]) if pool else data["x_train"]
    y = np.concatenate([data["y_train"], data["y_test"]]) if pool else data["y_train"]
    is_normal = _normal_mask(y, normal, np.unique(y))
    rng = np.random.default_rng(seed)
    order = rng.permutation(int(is_normal.sum()))
    x_normal, y_normal = x[is_normal][order], y[is_normal][order]
    x_other = x[~is_normal][rng.permutation(int((~is_normal).sum()))]
    n_train = round(len(x_normal) * 2 / 3)
    n_test_normal = len(x_normal) - n_train
    n_anomalies = round(n_test_normal * anomaly_fraction / (1 - anomaly_fraction))
    if n_anomalies + val_outliers > len(x_other):
        raise DataError(f"not enough images of other classes for {n_anomalies} test and {val_outliers} val outliers")
    x_test = np.concatenate([x_normal[n_train:], x_other[:n_anomalies]])
    y_test = np.r_[np.zeros(n_test_normal, np.int64), np.ones(n_anomalies, np.int64)]
    kept = _keep_per_class(rng, y_normal[:n_train], np.ones(n_train, bool), normal, train_per_class)
    x_train, x_val, y_val = _take_val(rng, x_normal[:n_train][kept], x_other[n_anomalies:], val_normal, val_outliers)
    return Split(x_train, x_test, y_test, x_val, y_val,
                 {"protocol": "memae", "normal_classes": normal, "seed": seed, "pooled": pool,
                  "anomaly_fraction": anomaly_fraction,
                  **({} if train_per_class is None else {"train_per_class": train_per_class})})


def outlier_ratio(data: dict[str, np.ndarray], normal_class: int | Sequence[int], seed: int = 0, val_normal: int = 0,
                  val_outliers: int = 0, ratios: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5)) -> Split:
    """ALOCC's and G2D's MNIST protocol: train on the normal (target) class of the train split; test on every
    test image of that class plus outliers drawn at random from the other classes, making up each of `ratios`.

    The outliers of a smaller ratio are a subset of those of a larger one (prefixes of one random order), so
    the curves over ratios differ by the added outliers only. The test split is the largest set; the smaller
    ones are `test_sets` named "10%", "20%", ...
    """
    normal = _as_classes(normal_class)
    ratios = sorted(float(r) for r in ratios)
    if not ratios or not all(0.0 < r < 1.0 for r in ratios):
        raise DataError(f"ratios must lie strictly between 0 and 1, got {ratios}")
    rng = np.random.default_rng(seed)
    train_normal = _normal_mask(data["y_train"], normal, np.unique(data["y_train"]))
    x_train, x_val, y_val = _take_val(rng, data["x_train"][train_normal], data["x_train"][~train_normal],
                                      val_normal, val_outliers)
    test_normal = _normal_mask(data["y_test"], normal, np.unique(data["y_test"]))
    x_in, x_pool = data["x_test"][test_normal], data["x_test"][~test_normal]
    counts = [round(len(x_in) * r / (1.0 - r)) for r in ratios]
    if counts[-1] > len(x_pool):
        raise DataError(f"{ratios[-1]:.0%} outliers need {counts[-1]} images of other classes; the test split has {len(x_pool)}")
    outliers = x_pool[rng.permutation(len(x_pool))[: counts[-1]]]
    n_in = len(x_in)
    test_sets = {f"{round(r * 100)}%": np.r_[np.arange(n_in), n_in + np.arange(k)] for r, k in zip(ratios, counts, strict=True)}
    y_test = np.r_[np.zeros(n_in, np.int64), np.ones(counts[-1], np.int64)]
    return Split(x_train, np.concatenate([x_in, outliers]), y_test, x_val, y_val,
                 {"protocol": "outlier-ratio", "normal_classes": normal, "seed": seed, "ratios": ratios},
                 test_sets)


def caltech(data: dict[str, np.ndarray], normal_class: int, seed: int = 0, val_normal: int = 0, val_outliers: int = 0,
            image_size: int = 64, per_category: int = 150, transductive: bool = False) -> Split:
    """ALOCC's and G2D's Caltech-256 protocol. `normal_class` is the number of inlier categories (1, 3 or 5),
    drawn at random for each `seed` (the papers repeat three times); the first `per_category` images of each
    are the inliers; outliers come from `257.clutter` so that exactly half of the test set are outliers.

    The papers do not say which inliers are trained on. By default two thirds of them are (at random) and the
    other third is tested; `transductive=True` trains on all inliers and tests on all of them plus as many
    clutter images (an outlier-detection setting, in which the detector has seen the inliers it scores).
    Images are read as RGB and resized to `image_size`².
    """
    from oneclass.data.caltech import CLUTTER
    from oneclass.data.images import read_images

    names = list(data["categories"])
    if CLUTTER not in names:
        raise DataError(f"the Caltech-256 folder has no {CLUTTER}/ category, which the protocol draws outliers from")
    clutter = names.index(CLUTTER)
    candidates = [i for i in range(len(names)) if i != clutter]
    n = int(normal_class)
    if not 1 <= n <= len(candidates):
        raise DataError(f"caltech: the number of inlier categories must be 1 to {len(candidates)}, got {n}")
    rng = np.random.default_rng(seed)
    chosen = sorted(int(c) for c in rng.choice(candidates, n, replace=False))
    paths, labels = data["paths"], data["labels"]
    inliers = np.concatenate([np.flatnonzero(labels == c)[:per_category] for c in chosen])
    inliers = inliers[rng.permutation(len(inliers))]
    if transductive:
        train_idx, test_in = inliers, inliers
    else:
        n_train = round(len(inliers) * 2 / 3)
        train_idx, test_in = inliers[:n_train], inliers[n_train:]
    pool = np.flatnonzero(labels == clutter)
    pool = pool[rng.permutation(len(pool))]
    if len(test_in) + val_outliers > len(pool):
        raise DataError(f"{CLUTTER} has {len(pool)} images; the protocol needs {len(test_in) + val_outliers}")
    test_out, val_out = pool[: len(test_in)], pool[len(test_in): len(test_in) + val_outliers]

    def read(idx: np.ndarray) -> np.ndarray:
        return read_images([paths[i] for i in idx], (image_size, image_size), channels=3)

    x_test_in = read(test_in)
    x_test = np.concatenate([x_test_in, read(test_out)])
    y_test = np.r_[np.zeros(len(test_in), np.int64), np.ones(len(test_out), np.int64)]
    x_train_in = x_test_in if transductive else read(train_idx)  # transductive: the same images, read once
    x_train, x_val, y_val = _take_val(rng, x_train_in, read(val_out) if val_outliers else x_test[:0],
                                      val_normal, val_outliers)
    return Split(x_train, x_test, y_test, x_val, y_val,
                 {"protocol": "caltech", "categories": [names[c] for c in chosen], "seed": seed,
                  "transductive": transductive, "image_size": image_size})


def noisy_mnist(data: dict[str, np.ndarray], normal_class: int | Sequence[int], seed: int = 0, val_normal: int = 0,
                val_outliers: int = 0, train_per_class: int = 200, test_per_class: int = 100,
                known_class: int | None = None, canvas: int = 84, size_range: Sequence[int] = (56, 84)) -> Split:
    """ADA's noisy MNIST: every image is a digit at a random position and size on a `canvas`² image with Gaussian
    noise of a per-image σ ~ N(30, 30²) (`synthetic.noisy_canvases`). Few training images, as in the paper's
    setting: `train_per_class` random images of the normal class from the train split; the test set holds
    `test_per_class` random images of every class from the test split. Each seed draws and renders its own
    images. `known_class` (semi-supervised): `train_per_class` images of that anomaly class, from the train
    split, are given to the method as known anomalies; the test set keeps all classes.
    """
    from oneclass.data.synthetic import noisy_canvases

    if data["x_train"].ndim != 3:
        raise DataError("noisy-mnist draws grayscale digits: use it with --dataset mnist (or fashion-mnist)")
    normal = _as_classes(normal_class)
    present = np.unique(data["y_train"])
    _normal_mask(data["y_train"], normal, present)
    if known_class is not None and (known_class in normal or known_class not in present):
        raise DataError(f"known_class {known_class} must be a class of the data other than the normal class(es) {normal}")
    rng = np.random.default_rng(seed)

    def draw(y: np.ndarray, classes: Sequence[int], count: int, where: str) -> np.ndarray:
        picked = []
        for c in classes:
            idx = np.flatnonzero(y == c)
            if len(idx) < count:
                raise DataError(f"noisy-mnist: class {c} has {len(idx)} images in the {where} split, {count} needed")
            picked.append(rng.choice(idx, count, replace=False))
        return np.concatenate(picked)

    test_classes = [int(c) for c in np.unique(data["y_test"])]
    train_idx = draw(data["y_train"], normal, train_per_class + val_normal, "train")
    test_idx = draw(data["y_test"], test_classes, test_per_class, "test")
    others = np.flatnonzero(~np.isin(data["y_train"], normal + ([known_class] if known_class is not None else [])))
    known_idx = (draw(data["y_train"], [known_class], train_per_class, "train")
                 if known_class is not None else np.zeros(0, np.int64))
    if val_outliers > len(others):
        raise DataError(f"val_outliers={val_outliers} exceeds the {len(others)} available outliers")
    val_out_idx = rng.choice(others, val_outliers, replace=False)

    def render(images: np.ndarray) -> np.ndarray:
        return noisy_canvases(images, rng, canvas, tuple(size_range))

    x_train, x_val, y_val = _take_val(rng, render(data["x_train"][train_idx]), render(data["x_train"][val_out_idx]),
                                      val_normal, val_outliers)
    y_test = (~np.isin(data["y_test"][test_idx], normal)).astype(np.int64)
    return Split(x_train, render(data["x_test"][test_idx]), y_test, x_val, y_val,
                 {"protocol": "noisy-mnist", "normal_classes": normal, "seed": seed, "known_class": known_class,
                  "train_per_class": train_per_class, "test_per_class": test_per_class, "canvas": canvas,
                  "size_range": list(size_range), "noise_sigma": "N(30, 30^2) on 0-255"},
                 x_known=render(data["x_train"][known_idx]) if known_class is not None else None)


def ucsd_patches(data: VideoDataset, normal_class: int = 0, seed: int = 0, val_normal: int = 0, val_outliers: int = 0,
                 patch_size: int = 30, stride: int = 25, train_patches: str = "motion", motion_delta: float = 15.0,
                 min_motion: float = 0.01, max_train_patches: int | None = None, smooth: int = 1) -> Split:
    """The UCSD patch protocol (OLED, ADACL, ALOCC, G2D on Ped2): frames cut into `patch_size`² patches every
    `stride` pixels (default 25: G2D's overlap of 5); training on patches of the normal training clips; each test
    frame scored by the max over its patches (then a moving average over `smooth` frames, off by default) and
    evaluated at frame level against the `.m` labels.

    The papers train on pedestrian patches without saying how they were picked. `train_patches="motion"` (default)
    keeps the patches in which at least `min_motion` of the pixels changed by more than `motion_delta` grey levels
    since the previous frame; "all" keeps every patch. `max_train_patches` draws that many at random.
    """
    from oneclass.data.video import extract_patches, training_patches

    if val_outliers:
        raise DataError("ucsd-patches: the training clips hold no anomalies, so val_outliers must be 0")
    rng = np.random.default_rng(seed)
    x_train = training_patches([c.frames for c in data.train], patch_size, stride, train_patches, motion_delta,
                               min_motion, max_train_patches, rng)
    x_train, x_val, y_val = _take_val(rng, x_train, x_train[:0], val_normal, 0)
    x_test = np.concatenate([extract_patches(c.frames, patch_size, stride).reshape(-1, patch_size, patch_size)
                             for c in data.test])
    y_test = np.concatenate([c.labels for c in data.test])
    frames = FramePatches(tuple(len(c.frames) for c in data.test), data.test[0].frames.shape[1:], patch_size, stride,
                          smooth)
    return Split(x_train, x_test, y_test, x_val, y_val,
                 {"protocol": "ucsd-patches", "seed": seed, "patch_size": patch_size, "stride": stride,
                  "train_patches": train_patches, "motion_delta": motion_delta, "min_motion": min_motion,
                  "smooth": smooth, "n_test_frames": len(y_test), "patches_per_frame": frames.patches_per_frame},
                 frames=frames)


#: the protocols whose training data hold no outliers to draw a validation set's `val_outliers` from
PROTOCOLS_WITHOUT_OUTLIERS = ("ucsd-patches",)

PROTOCOLS: dict[str, Callable[..., Split]] = {"one-vs-rest": one_vs_rest, "memae": memae,
                                              "outlier-ratio": outlier_ratio, "caltech": caltech,
                                              "noisy-mnist": noisy_mnist, "ucsd-patches": ucsd_patches}


def protocol_options(protocol: str | None = None) -> tuple[str, ...]:
    """The options (keyword arguments after the seed) of `protocol`, read from its function's signature; without
    one, those of every protocol, each once.

    Examples
    --------
    >>> protocol_options("memae")
    ('val_normal', 'val_outliers', 'anomaly_fraction', 'pool', 'train_per_class')
    """
    functions = PROTOCOLS.values() if protocol is None else [PROTOCOLS[protocol]]
    names = [p for fn in functions for p in inspect.signature(fn).parameters if p not in ("data", "normal_class", "seed")]
    return tuple(dict.fromkeys(names))


def make_split(protocol: str, data: dict[str, np.ndarray] | VideoDataset, normal_class: int | Sequence[int], seed: int = 0,
               **options: Any) -> Split:
    """Apply protocol `protocol` by name."""
    try:
        fn = PROTOCOLS[protocol]
    except KeyError:
        raise DataError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}") from None
    if isinstance(data, VideoDataset) != (protocol == "ucsd-patches"):
        raise DataError("the ucsd-patches protocol and the video datasets (ucsd-ped1, ucsd-ped2, moving-scenes) go "
                        "together: use --protocol ucsd-patches with them, and another protocol with image datasets")
    if isinstance(data, dict) and ("categories" in data) != (protocol == "caltech"):
        raise DataError("the caltech protocol and the caltech256 dataset go together: use --protocol caltech with "
                        "--dataset caltech256, and another protocol with the other datasets")
    accepted = protocol_options(protocol)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DataError(f"the {protocol} protocol has no option {unknown[0]!r}; its options: {', '.join(accepted)}")
    return fn(data, normal_class, seed=seed, **options)
