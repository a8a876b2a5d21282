"""The Detector contract: fit on normal images, score new ones, save and load them safely.

Every method subclasses `Detector` (or `TorchDetector`), lists its hyper-parameters with the paper's
defaults in `__init__`, and registers itself with `@register`. Models are saved as a directory holding
`config.json` (method, hyper-parameters, input shape, normalisation, fit summary) and
`weights.safetensors`; nothing is ever unpickled.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors

from oneclass import params as rules
from oneclass.errors import InputError, ModelFileError, OneClassError
from oneclass.files import write_atomic
from oneclass.registry import METHODS, available, detector_class
from oneclass.training import (
    PRECISIONS,
    Validation,
    autocast,
    compute_dtype,
    deterministic,
    map_batches,
    module_to_device,
    selection_rule,
)

FORMAT = "oneclass-detector"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


# ---------------------------------------------------------------------------------------------- inputs


def as_images(x: Any, name: str = "x") -> torch.Tensor:
    """Validate images and return them as a float32 tensor (n, C, H, W) with values in [0, 1].

    Accepts uint8 arrays (n, H, W) or (n, H, W, C), and float arrays or tensors (n, C, H, W) or
    (n, H, W) already scaled to [0, 1].
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise InputError(f"{name}: expected a numpy array or torch tensor of images, got {type(x).__name__}")
    if t.ndim not in (3, 4):
        raise InputError(f"{name}: expected images of shape (n, H, W), (n, H, W, C) or (n, C, H, W), got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise InputError(f"{name}: no images (the first dimension is 0)")
    if t.dtype == torch.uint8:
        if t.ndim == 4:
            if t.shape[-1] not in (1, 3):
                raise InputError(f"{name}: uint8 images must be (n, H, W) or (n, H, W, C) with C = 1 or 3, got {tuple(t.shape)}")
            t = t.permute(0, 3, 1, 2)
        else:
            t = t.unsqueeze(1)
        return t.float().div_(255.0).contiguous()
    if not t.dtype.is_floating_point:
        raise InputError(f"{name}: dtype {t.dtype} is not supported; pass uint8 images or floats in [0, 1]")
    t = t.float()
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.shape[1] not in (1, 3):
        raise InputError(f"{name}: float images must be (n, C, H, W) with C = 1 or 3, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    lo, hi = t.min().item(), t.max().item()
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(f"{name}: float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                         "pass uint8 images or rescale")
    return t.contiguous()


def as_labels(y: Any, n: int, name: str = "labels") -> np.ndarray:
    """Validate binary labels (0 = normal, 1 = anomaly) for n images."""
    arr = np.asarray(y)
    if arr.shape != (n,):
        raise InputError(f"{name}: expected {n} labels, got shape {arr.shape}")
    if not np.isin(arr, (0, 1)).all():
        raise InputError(f"{name}: labels must be 0 (normal) or 1 (anomaly)")
    return arr.astype(np.int64)


# ---------------------------------------------------------------------------------------------- scores


class Scores(Mapping[str, np.ndarray]):
    """Anomaly scores by name (each an array of shape (n,), higher = more anomalous)."""

    def __init__(self, values: Mapping[str, np.ndarray], default: str):
        if default not in values:
            raise KeyError(f"default score {default!r} not among {sorted(values)}")
        self._values = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        self.default_name = default

    @property
    def default(self) -> np.ndarray:
        """The method's headline score."""
        return self._values[self.default_name]

    def __getitem__(self, key: str) -> np.ndarray:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Scores({list(self._values)}, default={self.default_name!r}, n={len(self.default)})"


def minmax(v: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] over the given set (a constant set maps to 0)."""
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


# ---------------------------------------------------------------------------------------------- base


def create(name: str, **params: Any) -> Detector:
    """Create a detector by name, e.g. `create("ae", input_shape=(1, 28, 28), seed=0)`."""
    cls = detector_class(name)
    known = cls.param_names()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise OneClassError(f"{name}: unknown hyper-parameter(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return cls(**params)


class Detector:
    """A one-class detector: fit on normal images, score new ones (higher = more anomalous).

    Subclasses set `name`, `score_names` and `default_score`, take all hyper-parameters as keyword
    arguments of `__init__` (stored unchanged under the same names, as in scikit-learn), and implement
    `_fit`, `_score` and the state hooks. Inputs reach `_fit` / `_score` already validated and normalised.
    """

    name: ClassVar[str] = ""
    score_names: ClassVar[tuple[str, ...]] = ()
    default_score: ClassVar[str] = ""
    #: range the images are mapped to before they reach the network; most papers use [-1, 1]
    input_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    #: benchmark presets, hyper-parameters over the defaults: "paper" = the paper's settings (usually the
    #: defaults themselves), "fast" = our CPU budget. `val_normal` / `val_outliers` set the validation split.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: the paper's model-selection set, e.g. {"val_normal": 150, "val_outliers": 150}: drawn from the training split
    #: by `bench` and `train` where the protocol has outliers to draw and the command sets neither count
    #: (`settings.resolve`); elsewhere the method's own rule applies (`fit` without `val`)
    paper_validation: ClassVar[dict[str, int]] = {}
    #: called as `epoch_callback(detector, epoch)` after each training epoch (by the shared loop,
    #: `training.fit_epochs`), with the network in eval mode, so the detector can score (e.g. to track test AUROC
    #: over epochs); not a hyper-parameter, and it must not change training
    epoch_callback: Callable[[Detector, int], None] | None = None
    #: methods that can learn from a few known anomalies (ADA's semi-supervised setting) set this; their `_fit`
    #: then gets the normalised anomalies as `known` (None when none are given; other methods always get None)
    accepts_known_anomalies: ClassVar[bool] = False
    #: what a benchmark cell sets on top of the preset to follow the paper's protocol (`bench.grid.Cell.settings`):
    #: every method trains on the protocol's whole training split; a method adds its own (OLED: scores scaled over
    #: the test set, as its paper evaluates)
    benchmark_settings: ClassVar[dict[str, Any]] = {"calibration": 0.0}
    #: where the training loop keeps its epoch checkpoints (see `training.fit_epochs`); None: no checkpoints.
    #: Not a hyper-parameter: `oneclass bench` sets it for each cell, beside its results file
    checkpoint_dir: Path | None = None
    #: the precision `score` computes in: fp32 unless asked (`load(path, precision="bf16")`, `score --precision`);
    #: not a hyper-parameter (`precision` is the one training uses)
    scoring_precision: str = "fp32"
    #: learned attributes (trailing underscore, JSON values) that decide the shape of the network, e.g. which
    #: generator snapshots G2D keeps: saved in config.json's "state" and set again before the weights are loaded
    state_attributes: ClassVar[tuple[str, ...]] = ()
    #: the declared check of each of the method's own hyper-parameters (type and range or choices), beside
    #: `common_rules`; `check_params` applies them, then `_check_combinations`
    param_rules: ClassVar[dict[str, rules.Rule]] = {}
    common_rules: ClassVar[dict[str, rules.Rule]] = {
        "input_shape": rules.image_shape(), "seed": rules.integer(0), "device": rules.device_name(),
        "precision": rules.one_of(*PRECISIONS), "threshold_fpr": rules.number(0, 1, low_open=True, high_open=True),
        "calibration": rules.number(0, 0.5)}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self.input_shape = input_shape
        self.seed = seed
        self.device = device
        self.precision = precision
        self.threshold_fpr = threshold_fpr
        self.calibration = calibration

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap each method's `__init__` so that, once the outermost one has stored every hyper-parameter, they are
        checked (`check_params`): a bad value fails at construction, before any work starts."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__init__

        @functools.wraps(init)
        def checked_init(self: Detector, *args: Any, **params: Any) -> None:
            init(self, *args, **params)
            if type(self).__init__ is checked_init:
                self.check_params(self.get_params())

        cls.__init__ = checked_init

    # -- parameters ------------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self.param_names()}

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> None:
        """Refuse, with one InputError naming the parameter, any value that breaks its declared rule or a
        combination rule. Construction runs this check (see `__init_subclass__`) and `fit` repeats it, for values
        set after construction, so a bad value fails before any work starts."""
        declared = {**cls.common_rules, **cls.param_rules}
        for name, value in params.items():
            declared[name].check(name, value)
        cls._check_combinations({**cls.param_defaults(), **params})

    @classmethod
    def _check_combinations(cls, params: dict[str, Any]) -> None:
        """Checks that involve several hyper-parameters (e.g. x_l < x_h); a method overrides it when it has any."""

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"}

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    @property
    def fitted(self) -> bool:
        return getattr(self, "normalisation_", None) is not None

    @property
    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise InputError(f"device {self.device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                             "visible to PyTorch; use --device cpu or auto")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise InputError(f"device {self.device!r}: MPS is not available here; use --device cpu or auto")
        return device

    # -- public API ------------------------------------------------------------------------------
    def fit(self, x: Any, val: tuple[Any, Any] | None = None, known_anomalies: Any = None) -> Detector:
        """Train on normal images `x`. `val = (images, labels)` (0 normal, 1 anomaly) selects the epoch.
        `known_anomalies`: images of anomalies known beforehand, for the methods that use them."""
        self.check_params(self.get_params())
        if known_anomalies is not None and not self.accepts_known_anomalies:
            raise InputError(f"known_anomalies: {self.name} trains on normal images only; "
                             "leave known_anomalies out (ada can use them)")
        images = as_images(x, "x")
        shape = tuple(int(s) for s in images.shape[1:])
        if self.input_shape is not None and tuple(self.input_shape) != shape:
            raise InputError(f"x: images have shape {shape}, the detector was created with input_shape={tuple(self.input_shape)}")
        self.input_shape = shape
        val_t = None
        if val is not None:
            if not (isinstance(val, tuple | list) and len(val) == 2):
                raise InputError("val: expected a pair (images, labels)")
            vx = as_images(val[0], "val images")
            if tuple(vx.shape[1:]) != shape:
                raise InputError(f"val images: shape {tuple(vx.shape[1:])} differs from the training images' {shape}")
            val_t = (vx, as_labels(val[1], len(vx), "val labels"))
        known_t = None
        if known_anomalies is not None:
            known_t = as_images(known_anomalies, "known_anomalies")
            if tuple(known_t.shape[1:]) != shape:
                raise InputError(f"known_anomalies: shape {tuple(known_t.shape[1:])} differs from the training images' {shape}")
        calibration = source = None
        if not self.scores_relative_to_set:  # a detector that cannot decide needs no normals held out
            images, calibration, source = self._calibration_images(images, val_t)
        torch.manual_seed(self.seed)
        np.random.seed(self.seed % 2**32)
        self.normalisation_ = self._fit_normalisation(images)
        self.fit_info_: dict[str, Any] = {"n_train": len(images)}
        val_n = None if val_t is None else (self._normalise(val_t[0]), val_t[1])
        with deterministic(self.torch_device):
            self._fit(self._normalise(images), val_n, None if known_t is None else self._normalise(known_t))
        self.decision_ = None
        if calibration is not None:
            self._calibrate(self._normalise(calibration))
            self.decision_ = self._decision(self.score(calibration).default, source)
        return self

    def _calibration_images(self, images: torch.Tensor, val: tuple[torch.Tensor, np.ndarray] | None
                            ) -> tuple[torch.Tensor, torch.Tensor, str]:
        """(training images, normal images the threshold is set on, where those come from): the normals of `val`
        if it has some ("val"); else `calibration` of the training images, drawn at random and held out of training,
        when that gives at least 1 / `threshold_fpr` of them ("held-out"); else the training images themselves
        ("training": their scores run lower than new normals', so the false-positive rate will be higher)."""
        if val is not None and (val[1] == 0).sum() > 0:
            return images, val[0][torch.from_numpy(val[1] == 0)], "val"
        n_held = round(self.calibration * len(images))
        if n_held >= math.ceil(1 / self.threshold_fpr):
            order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))
            return images[order[n_held:]], images[order[:n_held]], "held-out"
        return images, images, "training"

    def _decision(self, normal_scores: np.ndarray, source: str) -> dict[str, Any]:
        """The decision threshold on the default score at `threshold_fpr` on `normal_scores`, and the two points
        (the lowest normal score ↦ 0, the threshold ↦ 0.5) of the linear map to normalised scores."""
        threshold = float(np.quantile(normal_scores, 1.0 - self.threshold_fpr, method="higher"))
        return {"score": self.default_score, "threshold": threshold, "fpr": self.threshold_fpr, "source": source,
                "n": len(normal_scores), "low": float(normal_scores.min())}

    def _require_decision(self) -> dict[str, Any]:
        decision = getattr(self, "decision_", None)
        if decision is None:
            raise OneClassError(f"{self.name}: {self.no_decision_reason()}")
        return decision

    @property
    def scores_relative_to_set(self) -> bool:
        """True where one image's scores depend on the others scored with it (OLED's `score_scaling="scored-set"`):
        then no fixed threshold can decide."""
        return False

    def _calibrate(self, images: torch.Tensor) -> None:
        """Learn, from normalised normal images held out of training (or the training images), what scoring needs
        beyond the network, e.g. OLED's score ranges; before the threshold is set on the same images."""

    def no_decision_reason(self) -> str:
        if self.scores_relative_to_set:
            return ("its scores are min-max scaled over the images scored together (the paper's evaluation), so no "
                    "fixed threshold can decide; rank the images by score instead")
        return "this model has no decision threshold (saved by an older oneclass): train it again for decisions"

    def normalised(self, default_scores: np.ndarray) -> np.ndarray:
        """Default scores mapped linearly to [0, 1]: 0 at the lowest calibration normal's score, 0.5 at the decision
        threshold, 1 at twice that distance and beyond. Anomalous (`predict`) is above 0.5."""
        d = self._require_decision()
        span = max(d["threshold"] - d["low"], 1e-12)
        return np.clip(0.5 * (np.asarray(default_scores, np.float64) - d["low"]) / span, 0.0, 1.0)

    def decide(self, default_scores: np.ndarray) -> np.ndarray:
        """1 (anomalous) where a default score is above the decision threshold, else 0."""
        return (np.asarray(default_scores) > self._require_decision()["threshold"]).astype(np.int64)

    def predict(self, x: Any) -> np.ndarray:
        """0 (normal) or 1 (anomalous) per image: its default score against the threshold `fit` set on held-out
        normal images at `threshold_fpr` (see `decision_`)."""
        self._require_decision()
        return self.decide(self.score(x).default)

    def score(self, x: Any) -> Scores:
        """Anomaly scores of images `x`: a mapping score name -> array (n,), with `.default`."""
        x = self._prepare(x)
        with autocast(self.torch_device, compute_dtype(self.scoring_precision, self.torch_device)):
            values = self._score(x)
        scores = Scores({k: values[k] for k in self.score_names}, self.default_score)
        counts = {k: int(np.count_nonzero(~np.isfinite(v))) for k, v in scores.items()}
        broken = {k: n for k, n in counts.items() if n}
        if broken:
            which = ", ".join(f"{k}: {n} of {len(scores.default)} images" for k, n in broken.items())
            raise OneClassError(f"{self.name}: non-finite scores ({which}); the network diverged in training or its "
                                "weights are damaged: retrain it, e.g. with a lower learning rate")
        return scores

    def decision_thresholds(self) -> dict[str, float]:
        """Score name -> the threshold its paper decides with (score >= threshold: anomalous); empty when the
        paper fixes none (then only ranking metrics, or a threshold set from a known outlier ratio, apply)."""
        return {}

    def anomaly_maps(self, x: Any) -> np.ndarray:
        """Per-pixel anomaly maps (n, H, W), for methods that can localise."""
        raise NotImplementedError(f"{self.name} does not produce anomaly maps")

    @property
    def has_anomaly_maps(self) -> bool:
        return type(self).anomaly_maps is not Detector.anomaly_maps

    #: why `export_forward` cannot exist for the method (ONNX export refuses with it); None where it can
    export_refusal: ClassVar[str | None] = "its scores are not a forward computation of a network"

    def export_forward(self, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The default score of a normalised batch `b` (n,) and its anomaly maps (n, H, W) or None, in torch operations
        only, in one batch: what an exported ONNX graph computes (`oneclass.export`)."""
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write `config.json` and `weights.safetensors` into directory `path`."""
        if not self.fitted:
            raise OneClassError(f"{self.name}: fit the detector before saving it")
        out = Path(path)
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "oneclass_version": _version(),
            "method": self.name,
            "params": jsonable(self.get_params()),
            "normalisation": self.normalisation_,
            "state": jsonable({k: getattr(self, k) for k in self.state_attributes}),
            "decision": jsonable(self.decision_),
            "fit_info": jsonable(self.fit_info_),
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._state_tensors().items()}
        write_atomic(out / WEIGHTS_FILE, save_tensors(tensors, metadata={"format": FORMAT, "method": self.name}))
        write_atomic(out / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        return out

    # -- normalisation ---------------------------------------------------------------------------
    def _fit_normalisation(self, images: torch.Tensor) -> dict[str, Any]:
        """Describe (in JSON) how [0, 1] images are mapped for the network. Default: a linear map to input_range."""
        return {"kind": "linear", "range": list(self.input_range)}

    def _normalise(self, images01: torch.Tensor) -> torch.Tensor:
        lo, hi = self.normalisation_["range"]
        return images01 * (hi - lo) + lo

    def _to_unit_range(self, images: Any) -> Any:
        """The inverse of the linear `_normalise`, clipped to [0, 1]: network outputs (tensor or array) as images."""
        lo, hi = self.normalisation_["range"]
        return ((images - lo) / (hi - lo)).clip(0, 1)

    def _prepare(self, x: Any) -> torch.Tensor:
        if not self.fitted:
            raise OneClassError(f"{self.name}: call fit() before scoring")
        images = as_images(x, "x")
        if tuple(images.shape[1:]) != tuple(self.input_shape):
            raise InputError(f"x: images have shape {tuple(images.shape[1:])}, the model expects {tuple(self.input_shape)}")
        return self._normalise(images)

    # -- hooks for subclasses ----------------------------------------------------------------------
    def _fit(self, x: torch.Tensor, val: tuple[torch.Tensor, np.ndarray] | None, known: torch.Tensor | None = None) -> None:
        """Train on normalised images `x`; `val` = (normalised images, labels) or None; `known`: normalised known
        anomalies (only for methods with `accepts_known_anomalies`, else None)."""
        raise NotImplementedError

    def _score(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything learned that is not in the JSON config, as named tensors."""
        raise NotImplementedError

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError


class TorchDetector(Detector):
    """A detector whose learned state is one `torch.nn.Module`, `self.net_`, built by `_build()`."""

    def _build(self) -> torch.nn.Module:
        raise NotImplementedError

    def _validation(self, val: tuple[torch.Tensor, np.ndarray] | None) -> Validation | None:
        """Model selection on the `val` given to `fit`, by the default score: `val-normal` when it holds only normal
        images, else `val-with-outliers`; None without one (the last epoch is kept)."""
        if val is None:
            return None
        return Validation(selection_rule(val), val[1], lambda: self._score(val[0])[self.default_score])

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return self.net_.state_dict()

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self.net_ = module_to_device(self._build(), self.torch_device)
        self.net_.load_state_dict(tensors)
        self.net_.eval()

    def _new_net(self) -> torch.nn.Module:
        self.net_ = module_to_device(self._build(), self.torch_device)
        return self.net_

    def _images_through(self, module: Callable[[torch.Tensor], torch.Tensor], x: Any) -> np.ndarray:
        """`module` (a part of the network in eval mode) applied to images `x`, its output as images: floats in
        [0, 1] with shape (n, C, H, W). What the methods' `reconstruct` returns."""
        self.net_.eval()
        return self._to_unit_range(map_batches(module, self._prepare(x), self.torch_device)).numpy()


def load(path: str | Path, device: str | None = None, precision: str | None = None) -> Detector:
    """Load a detector saved with `Detector.save`, to score on `device` (default: as saved, else auto) in
    `precision` (default fp32; "bf16" or "auto" to score under bf16 autocast). Refuses, naming the file,
    directories that oneclass did not write and files that were damaged or edited into something it cannot use."""
    if precision is not None:
        rules.one_of(*PRECISIONS).check("precision", precision)
    root = Path(path)
    config_path, weights_path = root / CONFIG_FILE, root / WEIGHTS_FILE
    if not root.is_dir():
        raise ModelFileError(f"{root}: no such model directory")
    for p in (config_path, weights_path):
        if not p.is_file():
            raise ModelFileError(f"{root}: missing {p.name}; is this a directory written by `oneclass train` or Detector.save?")
    config = _read_config(config_path)
    if config["method"] not in METHODS:
        raise ModelFileError(f"{config_path}: unknown method {config['method']!r}; available: {', '.join(available())}")
    cls = detector_class(config["method"])
    params = dict(config["params"])
    unknown = set(params) - set(cls.param_names())
    if unknown:
        raise ModelFileError(f"{config_path}: parameters {sorted(unknown)} unknown to method {cls.name!r}")
    if params.get("input_shape") is None:
        raise ModelFileError(f"{config_path}: no input_shape in params; the file was edited or is not a fitted model")
    if isinstance(params["input_shape"], list):
        params["input_shape"] = tuple(params["input_shape"])
    if device is not None:
        params["device"] = device
    try:
        det = cls(**_restore_tuples(cls, params))
        _check_device(det, fall_back=device is None)
    except InputError as exc:
        raise ModelFileError(f"{config_path}: {exc}") from None
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights_path}: unreadable safetensors file ({exc})") from None
    damaged = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if damaged:
        raise ModelFileError(f"{weights_path}: {len(damaged)} tensor(s) hold NaN or infinite values ({', '.join(damaged[:3])}); "
                             "the file is damaged: restore it or train again")
    det.normalisation_ = config["normalisation"]
    det.fit_info_ = config["fit_info"]
    det.decision_ = config["decision"]
    for name in cls.state_attributes:  # models saved before "state" existed kept these in fit_info
        value = config["state"].get(name, config["fit_info"].get(name.rstrip("_")))
        if value is None:
            raise ModelFileError(f"{config_path}: no {name!r} in \"state\"; the file was edited or is damaged")
        setattr(det, name, value)
    try:
        probe = det._normalise(torch.zeros(1, *det.input_shape))
        det._load_state_tensors(tensors)
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{weights_path}: weights do not match method {cls.name!r} with the settings in "
                             f"{CONFIG_FILE} ({detail})") from None
    if not torch.isfinite(probe).all():
        raise ModelFileError(f"{config_path}: the normalisation {config['normalisation']} is not usable")
    if precision is not None:
        det.scoring_precision = precision
    return det


def _read_config(path: Path) -> dict[str, Any]:
    """config.json, checked for the fields `load` reads and their types."""
    try:
        if path.stat().st_size > 10_000_000:
            raise ModelFileError(f"{path}: {path.stat().st_size} bytes is too large for a model's config")
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a oneclass model file (no \"format\": \"{FORMAT}\")")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written by a newer oneclass (format {version!r}); upgrade oneclass")
    config.setdefault("fit_info", {})
    config.setdefault("state", {})
    config.setdefault("decision", None)  # models saved before decision thresholds: they score but do not decide
    decision = config["decision"]
    if decision is not None and not (isinstance(decision, dict) and all(
            isinstance(decision.get(k), int | float) and math.isfinite(decision[k]) for k in ("threshold", "low"))):
        raise ModelFileError(f"{path}: field 'decision' must hold finite numbers 'threshold' and 'low'")
    for field, kind in (("method", str), ("params", dict), ("normalisation", dict), ("state", dict), ("fit_info", dict)):
        if not isinstance(config.get(field), kind):
            found = "missing" if field not in config else f"a {type(config[field]).__name__}"
            raise ModelFileError(f"{path}: field {field!r} must be a {kind.__name__}, found {found}")
    return config


def _check_device(det: Detector, fall_back: bool) -> None:
    """Refuse a device this machine does not have, or, with `fall_back` (the device was saved, not asked for), let
    it give way to "auto": a model trained on a GPU loads on a machine without one."""
    try:
        det.torch_device  # noqa: B018  (the property checks the device)
    except InputError:
        if not fall_back:
            raise
        det.device = "auto"


# ---------------------------------------------------------------------------------------------- helpers


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _restore_tuples(cls: type[Detector], params: dict[str, Any]) -> dict[str, Any]:
    """JSON turns tuples into lists; give tuple-valued defaults their tuples back."""
    sig = inspect.signature(cls.__init__).parameters
    return {k: tuple(v) if isinstance(v, list) and isinstance(sig[k].default, tuple) else v for k, v in params.items()}


def _version() -> str:
    from oneclass import __version__

    return __version__
