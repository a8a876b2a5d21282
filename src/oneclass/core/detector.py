"""The Detector contract: fit on normal images, score new ones with one scoring graph, decide with a threshold.

A method subclasses `Detector` (or `TorchDetector`), takes its hyper-parameters as keyword arguments (defaults: what
works on a CPU budget; the paper's, where they differ, are the "paper" preset of `oneclass.bench.harness`), and
implements two things: `_fit` (training, on normalised images) and `forward`, its scoring graph: a torch function
from a normalised batch to every score (n,) and, where the method localises, the anomaly map (n, H, W) under "map".
`score`, `anomaly_maps`, `score_with_maps`, the service and the ONNX export all run `forward`, so they cannot
disagree.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from oneclass import params as rules
from oneclass.core.capabilities import Capabilities, capabilities
from oneclass.core.inputs import as_images, check_shape, fit_inputs
from oneclass.core.parameters import Parameterised
from oneclass.core.scores import Decision, Scores
from oneclass.errors import InputError, NotFittedError, OneClassError
from oneclass.runtime import (
    PRECISIONS,
    autocast,
    bf16_native,
    compute_dtype,
    deterministic,
    map_batches,
    resolve_device,
    seeded,
)
from oneclass.training import Callback, Run

#: what `forward` returns the anomaly maps under
MAP = "map"


class Detector(Parameterised):
    """A one-class detector: fit on normal images, score new ones (higher = more anomalous).

    Parameters
    ----------
    input_shape : tuple of int, optional
        (C, H, W) the detector is built for; None: that of the images `fit` gets (then in `input_shape_`).
    seed : int
        Seeds the split held out for the threshold, the weights and the batches: equal seeds, equal models.
    device : str
        "auto" (the machine's accelerator, else the CPU), "cpu", "cuda", "cuda:1", "mps".
    precision : {"auto", "fp32", "bf16"}
        Training precision; "auto" is bf16 autocast where the device computes it natively.
    threshold_fpr : float
        The false-positive rate the decision threshold aims at on held-out normal images.
    calibration : float
        The share of training images held out to set the threshold (0: none, set on the training images).

    Attributes
    ----------
    input_shape_ : tuple of int
        The (C, H, W) of the images `fit` trained on.
    decision_ : Decision or None
        The threshold on the default score, or None where the scores cannot decide (see `no_decision_reason`).
    fit_info_ : dict
        What training recorded: epochs, losses, selection, sizes.

    Examples
    --------
    >>> import numpy as np, oneclass
    >>> det = oneclass.create("ocsvm").fit(np.zeros((40, 8, 8), np.uint8))
    >>> det.input_shape_, det.decision_.source, det.predict(np.full((1, 8, 8), 255, np.uint8)).tolist()
    ((1, 8, 8), 'training', [1])
    """

    name: ClassVar[str] = ""
    score_names: ClassVar[tuple[str, ...]] = ()
    default_score: ClassVar[str] = ""
    #: range the images are mapped to before they reach the network; most papers use [-1, 1]
    input_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    #: whether `forward` returns anomaly maps (under "map")
    has_anomaly_maps: ClassVar[bool] = False
    #: methods that can learn from a few known anomalies (ADA's semi-supervised setting) set this; `_fit` gets them
    accepts_known_anomalies: ClassVar[bool] = False
    #: images per pass of `forward` when scoring
    scoring_batch_size: ClassVar[int] = 512
    #: why the method cannot be exported to ONNX; None where `forward` is a plain graph that can
    export_refusal: ClassVar[str | None] = "its scores are not a forward computation of a network"
    #: learned attributes (trailing underscore, JSON values) that decide the shape of the network, saved in
    #: config.json's "state" and set again before the weights are loaded
    state_attributes: ClassVar[tuple[str, ...]] = ()
    common_rules: ClassVar[dict[str, rules.Rule]] = {
        "input_shape": rules.image_shape(), "seed": rules.integer(0, 2**32 - 1), "device": rules.device_name(),
        "precision": rules.one_of(*PRECISIONS), "threshold_fpr": rules.number(0, 1, low_open=True, high_open=True),
        "calibration": rules.number(0, 0.5)}
    #: the precision `score` computes in: fp32 unless asked (`load(path, precision="bf16")`, `score --precision`)
    scoring_precision: str = "fp32"

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    @property
    def fitted(self) -> bool:
        """Whether `fit` (or `load`) has made the detector ready to score."""
        return getattr(self, "normalisation_", None) is not None

    @property
    def input_shape_(self) -> tuple[int, int, int]:
        """The (C, H, W) the detector is built for: that of the images `fit` trained on; before `fit`, the
        `input_shape` parameter where one was given."""
        shape = self.__dict__.get("_fitted_shape") or self.input_shape
        if shape is None:
            raise NotFittedError(f"{self.name}: its input shape is known once fit() has seen images (or pass input_shape)")
        return tuple(int(s) for s in shape)

    @input_shape_.setter
    def input_shape_(self, shape: tuple[int, int, int]) -> None:
        self._fitted_shape = tuple(int(s) for s in shape)

    @property
    def capabilities(self) -> Capabilities:
        """What the detector can do (maps, known anomalies, decisions, ONNX), as one record."""
        return capabilities(self)

    @property
    def torch_device(self) -> torch.device:
        """The device `device` names here (see `runtime.resolve_device`)."""
        return resolve_device(self.device)

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, x: Any, val: tuple[Any, Any] | None = None, known_anomalies: Any = None, *,
            callbacks: Sequence[Callback] = (), compile: bool = False) -> Detector:
        """Train on normal images and set the decision threshold.

        Parameters
        ----------
        x : array or tensor
            Normal images (see `as_images` for the layouts accepted).
        val : (images, labels), optional
            Labelled images (0 normal, 1 anomaly) that select the epoch; their normals also set the threshold.
        known_anomalies : array or tensor, optional
            Anomalies known beforehand, for the methods that use them (`accepts_known_anomalies`).
        callbacks : sequence of `training.Callback`
            Hooks into the training loop: `training.EveryEpoch` (e.g. score after each epoch),
            `checkpoint.Checkpointing` (resume an interrupted fit).
        compile : bool
            Wrap each update step in `torch.compile` (measured slower than eager here; `make bench-speed`).

        Returns
        -------
        Detector
            self, fitted. The caller's global random streams are left as they were.
        """
        self.check_params(self.get_params())
        if known_anomalies is not None and not self.accepts_known_anomalies:
            raise InputError(f"known_anomalies: {self.name} trains on normal images only; "
                             "leave known_anomalies out (ada can use them)")
        images, val_t, known_t = fit_inputs(x, val, known_anomalies, self.input_shape, self.square_only)
        self.input_shape_ = tuple(int(s) for s in images.shape[1:])
        calibration = source = None
        if not self.scores_relative_to_set:  # a detector that cannot decide needs no normals held out
            images, calibration, source = self._calibration_images(images, val_t)
        device = self.torch_device
        if self.precision == "bf16" and not bf16_native(device):
            warnings.warn(f"{self.name}: precision='bf16' on a {device.type.upper()} without native bf16 (AVX512-BF16 or "
                          "AMX) is emulated, several times slower than fp32; precision='auto' "
                          "picks fp32 here", UserWarning, stacklevel=2)
        self._run = Run(device, compute_dtype(self.precision, device), tuple(callbacks), self.get_params(), self.name,
                        compile)
        try:
            self._fit_seeded(images, val_t, known_t, calibration, source)
        finally:
            del self._run
        return self

    def _fit_seeded(self, images: torch.Tensor, val_t: tuple[torch.Tensor, np.ndarray] | None,
                    known_t: torch.Tensor | None, calibration: torch.Tensor | None, source: str | None) -> None:
        """`fit`'s training and calibration, under the detector's seed."""
        device = self._run.device
        with seeded(self.seed, device), deterministic(device):
            self.normalisation_ = self._fit_normalisation(images)
            self.fit_info_: dict[str, Any] = {"n_train": len(images)}
            val_n = None if val_t is None else (self._normalise(val_t[0]), val_t[1])
            self._fit(self._normalise(images), val_n, None if known_t is None else self._normalise(known_t))
            self.decision_: Decision | None = None
            if calibration is not None:
                self._set_decision(calibration, source)

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

    def calibrate(self, x: Any, fpr: float | None = None) -> Detector:
        """Set the decision threshold again, without refitting, on normal images `x` that training did not see.

        Parameters
        ----------
        x : array or tensor
            Normal images of the model's shape; the more, the closer the false-positive rate comes to `fpr`
            (`decision_.fpr_interval()` says how close).
        fpr : float, optional
            The false-positive rate to aim at (default: `threshold_fpr`, which it replaces).

        Examples
        --------
        >>> import numpy as np, oneclass
        >>> det = oneclass.create("ocsvm").fit(np.zeros((40, 8, 8), np.uint8))
        >>> noise = np.random.default_rng(0).integers(0, 30, (200, 8, 8), dtype=np.uint8)
        >>> det.calibrate(noise, fpr=0.01).decision_.source, det.decision_.n, det.threshold_fpr
        ('calibrate', 200, 0.01)
        """
        self._require_fitted()
        if self.scores_relative_to_set:
            raise OneClassError(f"{self.name}: {self.no_decision_reason()}")
        if fpr is not None:
            self.set_params(threshold_fpr=fpr)
        images = as_images(x, "x")
        check_shape(images, self.input_shape_)
        with seeded(self.seed, self.torch_device):
            self._set_decision(images, "calibrate")
        return self

    def _set_decision(self, normals: torch.Tensor, source: str) -> None:
        """What scoring needs beyond the network (`_calibrate`), then the threshold, both from these normals."""
        self._calibrate(self._normalise(normals))
        self.decision_ = Decision.from_scores(self.score(normals).default, fpr=self.threshold_fpr,
                                              score=self.default_score, source=source)

    @property
    def square_only(self) -> str | None:
        """Why this detector takes square images only, in words (e.g. "knn_geom rotates images"); None if it takes any."""
        return None

    @property
    def scores_relative_to_set(self) -> bool:
        """True where one image's scores depend on the others scored with it (OLED's `score_scaling="scored-set"`):
        then no fixed threshold can decide."""
        return False

    def _calibrate(self, images: torch.Tensor) -> None:
        """Learn, from normalised normal images held out of training (or the training images), what scoring needs
        beyond the network, e.g. OLED's score ranges; before the threshold is set on the same images."""

    # -- scoring ---------------------------------------------------------------------------------
    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The scoring graph: a normalised batch (n, C, H, W) on the device -> every score (n,) by name, and the
        anomaly maps (n, H, W) under "map" where the method has them. `generator` seeds random test inputs (random
        masks); `score` passes one seeded by `seed`, an exported graph None."""
        raise NotImplementedError

    def forward_scores(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """`forward`'s scores without the maps, for `score`; a method whose map costs more than its scores
        (`knn_geom`'s neighbour search) computes the same scores without it."""
        return {k: v for k, v in self.forward(batch, generator).items() if k != MAP}

    def _over_set(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Scores that depend on the whole scored set (a min-max scaling over it), from `forward`'s; default: none."""
        return scores

    def _outputs(self, x: torch.Tensor, maps: bool = False) -> dict[str, np.ndarray]:
        """`forward` over normalised images `x`, batch by batch on the device: every score, and the maps if asked."""
        self._eval()
        generator = torch.Generator().manual_seed(self.seed + 1)
        run = self.forward if maps else self.forward_scores
        out = map_batches(lambda b: run(b, generator), x, self.torch_device, self.scoring_batch_size)
        return {**self._over_set({k: v for k, v in out.items() if k != MAP}), **({MAP: out[MAP]} if MAP in out else {})}

    def _eval(self) -> None:
        """Put the networks in eval mode before scoring (TorchDetector)."""

    def score_with_maps(self, x: Any) -> tuple[Scores, np.ndarray | None]:
        """Scores of images `x` and their anomaly maps (n, H, W), or None where the method has none, in one pass."""
        return self._scored(x, maps=self.has_anomaly_maps)

    def score(self, x: Any) -> Scores:
        """Anomaly scores of images `x`: a mapping score name -> array (n,), higher = more anomalous, with `.default`.

        Examples
        --------
        >>> import numpy as np, oneclass
        >>> det = oneclass.create("ocsvm").fit(np.zeros((40, 8, 8), np.uint8))
        >>> det.score(np.full((2, 8, 8), 255, np.uint8)).default.shape
        (2,)
        """
        return self._scored(x, maps=False)[0]

    def _scored(self, x: Any, maps: bool) -> tuple[Scores, np.ndarray | None]:
        """What `score` and `score_with_maps` return, computed in `scoring_precision`."""
        prepared = self.network_input(x)
        with autocast(self.torch_device, compute_dtype(self.scoring_precision, self.torch_device)):
            out = self._outputs(prepared, maps=maps)
        return self._checked_scores(out), out.get(MAP)

    def decision_function(self, x: Any) -> np.ndarray:
        """The default score of images `x` (PyOD's name for it)."""
        return self.score(x).default

    def anomaly_maps(self, x: Any) -> np.ndarray:
        """Per-pixel anomaly maps (n, H, W), for methods that localise (`has_anomaly_maps`)."""
        if not self.has_anomaly_maps:
            raise InputError(f"{self.name} does not produce anomaly maps")
        return self.score_with_maps(x)[1]

    def _checked_scores(self, values: dict[str, np.ndarray]) -> Scores:
        scores = Scores({k: values[k] for k in self.score_names}, self.default_score)
        broken = {k: int(np.count_nonzero(~np.isfinite(v))) for k, v in scores.items()}
        broken = {k: n for k, n in broken.items() if n}
        if broken:
            which = ", ".join(f"{k}: {n} of {len(scores.default)} images" for k, n in broken.items())
            raise OneClassError(f"{self.name}: non-finite scores ({which}); the network diverged in training or its "
                                "weights are damaged: retrain it, e.g. with a lower learning rate")
        return scores

    def network_input(self, x: Any) -> torch.Tensor:
        """Images `x` validated and normalised as the networks get them (for studies of the networks)."""
        self._require_fitted()
        images = as_images(x, "x")
        check_shape(images, self.input_shape_)
        return self._normalise(images)

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"{self.name}: call fit() (or oneclass.load) before using the detector")

    # -- deciding --------------------------------------------------------------------------------
    def _require_decision(self) -> Decision:
        self._require_fitted()
        if self.decision_ is None:
            raise OneClassError(f"{self.name}: {self.no_decision_reason()}")
        return self.decision_

    def no_decision_reason(self) -> str:
        """Why `decision_` is None."""
        if self.scores_relative_to_set:
            return ("its scores are min-max scaled over the images scored together (the paper's evaluation), so no "
                    "fixed threshold can decide; rank the images by score instead")
        return "this model has no decision threshold (saved by an older oneclass): train it again for decisions"

    def normalised(self, default_scores: np.ndarray) -> np.ndarray:
        """Default scores mapped to [0, 1] by `decision_` (0.5 at the threshold)."""
        return self._require_decision().normalised(default_scores)

    def decide(self, default_scores: np.ndarray) -> np.ndarray:
        """1 (anomalous) where a default score is above the decision threshold, else 0."""
        return self._require_decision().decide(default_scores)

    def predict(self, x: Any) -> np.ndarray:
        """0 (normal) or 1 (anomalous) per image: its default score against the threshold `fit` set on held-out
        normal images at `threshold_fpr`."""
        self._require_decision()
        return self.decide(self.score(x).default)

    def decision_thresholds(self) -> dict[str, float]:
        """Score name -> the threshold its paper decides with (score >= threshold: anomalous); empty if none."""
        return {}

    def save(self, path: str | Path) -> Path:
        """Write `config.json` and `weights.safetensors` into directory `path` (see `oneclass.core.persistence`)."""
        from oneclass.core.persistence import save

        return save(self, path)

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

    # -- hooks for subclasses ----------------------------------------------------------------------
    def _fit(self, x: torch.Tensor, val: tuple[torch.Tensor, np.ndarray] | None, known: torch.Tensor | None = None) -> None:
        """Train on normalised images `x`; `val` = (normalised images, labels) or None; `known`: normalised known
        anomalies (only for methods with `accepts_known_anomalies`, else None)."""
        raise NotImplementedError

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything learned that is not in the JSON config, as named tensors (`_load_state_tensors` sets them)."""
        raise NotImplementedError
