"""Video, patch by patch: `PatchVideoDetector` wraps a detector of square grey patches and owns how a video becomes
patches and scores (patch size, stride, which patches to train on, smoothing of frame scores). It saves as a folder
with its own `config.json` (these settings) and the patch detector in `detector/`; `load_patch_video` reads that,
a folder `oneclass train` wrote (a patch model from the ucsd-patches protocol), and the folders of older versions
(a detector with a `video.json` beside it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oneclass import params as rules
from oneclass.core import Detector, load
from oneclass.core.persistence import CONFIG_FILE, check_model_folder
from oneclass.data.video import extract_patches, frame_scores, heatmaps, training_patches
from oneclass.errors import InputError, ModelFileError
from oneclass.files import put_back, write_atomic, written_whole

FORMAT = "oneclass-patch-video"
DETECTOR_FOLDER = "detector"
#: the sidecar of models saved before the wrapper (read, never written)
OLD_SETTINGS_FILE = "video.json"
_RULES = {"patch_size": rules.integer(1), "stride": rules.integer(1), "train_patches": rules.one_of("motion", "all"),
          "min_motion": rules.number(0, 1), "motion_delta": rules.number(0),
          "max_train_patches": rules.integer(1, optional=True), "smooth": rules.integer(1)}


@dataclass(frozen=True)
class PatchSettings:
    """How a video becomes patches and frame scores.

    Attributes
    ----------
    patch_size, stride : int
        Patch side and the pixels between patches.
    train_patches : {"motion", "all"}
        Train on the patches where at least `min_motion` of the pixels changed by more than `motion_delta` grey
        levels from the frame before, or on all.
    min_motion, motion_delta : float
    max_train_patches : int or None
        At most this many training patches, drawn at random.
    smooth : int
        Frame scores (the max over a frame's patches) averaged over this many frames.
    """

    patch_size: int = 30
    stride: int = 25
    train_patches: str = "motion"
    min_motion: float = 0.01
    motion_delta: float = 15.0
    max_train_patches: int | None = None
    smooth: int = 1
    def __post_init__(self) -> None:
        for name, rule in _RULES.items():
            rule.check(name, getattr(self, name))

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON object."""
        return asdict(self)


class PatchVideoDetector:
    """A patch detector that scores video frames.

    Parameters
    ----------
    detector : Detector
        Trained on (or to train on) square grey patches.
    settings : PatchSettings

    Examples
    --------
    >>> import numpy as np, oneclass
    >>> frames = np.random.default_rng(0).integers(0, 255, (4, 40, 40), dtype=np.uint8)
    >>> video = PatchVideoDetector(oneclass.create("ocsvm"), PatchSettings(patch_size=20, stride=20, train_patches="all"))
    >>> video.fit([frames]).score_frames(frames)[1].shape
    (4,)
    """

    def __init__(self, detector: Detector, settings: PatchSettings | None = None):
        self.detector = detector
        self.settings = settings or PatchSettings()
        self.n_train_patches_: int | None = None

    def training_patches(self, clips: list[np.ndarray], seed: int = 0) -> np.ndarray:
        """The patches of normal clips (each (T, H, W) uint8) that `fit` trains on."""
        s = self.settings
        return training_patches(clips, s.patch_size, s.stride, s.train_patches, s.motion_delta, s.min_motion,
                                s.max_train_patches, rng=np.random.default_rng(seed))

    def fit(self, clips: list[np.ndarray], patches: np.ndarray | None = None, callbacks: tuple = ()) -> PatchVideoDetector:
        """Train the detector on the clips' patches (or on `patches` already cut by `training_patches`), with the
        training loop's `callbacks`."""
        patches = self.training_patches(clips, self.detector.seed) if patches is None else patches
        self.detector.fit(patches, callbacks=callbacks)
        self.n_train_patches_ = len(patches)
        return self

    def score_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, P) patch scores (the detector's default score) and (T,) frame scores of a clip (T, H, W)."""
        channels, size, width = self.detector.input_shape_
        if channels != 1 or size != width:
            raise InputError(f"the model takes {channels}×{size}×{width} inputs; video is scored with a model trained on "
                             "square grey patches (oneclass train-video, or the ucsd-patches protocol)")
        patches = extract_patches(frames, size, self.settings.stride)
        t, p = patches.shape[:2]
        scores = self.detector.score(patches.reshape(t * p, size, size)).default.reshape(t, p)
        return scores, frame_scores(scores, self.settings.smooth)

    def heatmaps(self, patch_scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """(T, P) patch scores → (T, H, W) maps: each pixel the highest score of the patches covering it."""
        return heatmaps(patch_scores, shape, self.detector.input_shape_[-1], self.settings.stride)

    def save(self, path: str | Path, **about: Any) -> Path:
        """The detector in `path`/detector/ and the settings (and `about`, e.g. the videos) in `path`/config.json,
        replacing a model saved there before as a whole (`Detector.save`'s rules)."""
        out = Path(path)
        check_model_folder(out)
        config = {"format": FORMAT, "settings": self.settings.to_json(), "detector": DETECTOR_FOLDER,
                  "n_train_patches": self.n_train_patches_, **about}
        with written_whole(out, "save:") as new:
            self.detector.save(new / DETECTOR_FOLDER)
            write_atomic(new / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        return out


def load_patch_video(path: str | Path, **load_options: Any) -> PatchVideoDetector:
    """A `PatchVideoDetector` saved by `save`; or a patch detector saved by `oneclass train` (stride = patch size);
    or one with the `video.json` of older versions. `load_options` go to `oneclass.load` (device, precision)."""
    root = Path(path)
    put_back(root)  # as `load` does
    config_path = root / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        config = None  # `load` names what is wrong with the folder
    if isinstance(config, dict) and config.get("format") == FORMAT:
        try:
            settings = PatchSettings(**config["settings"])
        except (KeyError, TypeError, InputError) as exc:
            raise ModelFileError(f"{config_path}: patch settings unusable ({exc})") from None
        video = PatchVideoDetector(load(root / DETECTOR_FOLDER, **load_options), settings)
        video.n_train_patches_ = config.get("n_train_patches")
        return video
    detector = load(root, **load_options)
    return PatchVideoDetector(detector, _old_settings(root / OLD_SETTINGS_FILE, detector.input_shape_[-1]))


def _old_settings(path: Path, patch_size: int) -> PatchSettings:
    """The patch settings of a model saved before the wrapper: its video.json, else stride = patch size."""
    if not path.is_file():
        return PatchSettings(patch_size=patch_size, stride=patch_size)
    try:
        old = json.loads(path.read_text())
        return PatchSettings(patch_size=patch_size, stride=old["stride"], train_patches=old.get("train_patches", "motion"),
                             min_motion=old.get("min_motion", 0.01))
    except (ValueError, TypeError, KeyError, InputError) as exc:
        raise ModelFileError(f"{path}: not the patch settings `oneclass train-video` writes "
                             f"({type(exc).__name__}: {exc}); remove it or train again") from None
