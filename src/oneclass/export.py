"""ONNX export of a fitted detector, and scoring with the exported file (onnxruntime), without our Python stack.

The graph takes the raw image batch, input `images`: uint8 (n, C, H, W) with values 0-255 (the saved model's
input shape; resize before), and does the preprocessing itself (to [0, 1], then the method's normalisation). It
returns `score`, the method's default score (n,), and `map`, the anomaly maps (n, H, W), where the method has
them. The file's metadata carries the method, the score's name, the input shape and the decision threshold with
its normalisation (`oneclass.*` keys, JSON values), so `OnnxModel` decides as the saved model does.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oneclass.core import MAP, Decision, Detector, Scores, as_images, check_shape
from oneclass.errors import InputError, ModelFileError, OneClassError
from oneclass.files import write_atomic

#: the opset the graphs are written in (onnxruntime 1.17+ runs it)
OPSET = 17


class _ScoringGraph(torch.nn.Module):
    """uint8 images → the detector's normalisation → its scoring graph, `Detector.forward` (the one `score` runs) →
    the default score and the maps."""

    def __init__(self, det: Detector):
        super().__init__()
        self.net = det.net_  # registered, so that its weights become the graph's initialisers
        self.det = det

    def forward(self, images: torch.Tensor):
        out = self.det.forward(self.det._normalise(images.float() / 255.0))
        score = out[self.det.default_score]
        return (score, out[MAP]) if self.det.has_anomaly_maps else score


def export_onnx(det: Detector, path: str | Path) -> Path:
    """Write `det` as an ONNX graph to `path` (see the module's docstring for its inputs, outputs and metadata).

    Examples
    --------
    >>> import pathlib, tempfile, numpy as np, oneclass
    >>> det = oneclass.create("ae", epochs=1, widths=(4, 8), latent_dim=4).fit(np.zeros((40, 8, 8), np.uint8))
    >>> exported = OnnxModel(export_onnx(det, pathlib.Path(tempfile.mkdtemp()) / "ae.onnx"))
    >>> exported.score(np.zeros((2, 8, 8), np.uint8)).default.shape, exported.has_anomaly_maps
    ((2,), True)
    """
    det._require_fitted()
    if det.export_refusal is not None:
        raise InputError(f"{det.name} cannot be exported to ONNX: {det.export_refusal}")
    import onnx

    det.net_.eval()
    graph = _ScoringGraph(det).eval()
    example = torch.zeros((2, *det.input_shape_), dtype=torch.uint8)
    outputs = ["score", "map"] if det.has_anomaly_maps else ["score"]
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(graph, (example.to(det.torch_device),), buffer, input_names=["images"], output_names=outputs,
                          opset_version=OPSET, dynamo=False, dynamic_axes={name: {0: "n"} for name in ["images", *outputs]})
    model = onnx.load_from_string(buffer.getvalue())
    meta = {"method": det.name, "default_score": det.default_score, "input_shape": list(det.input_shape_),
            "input": "uint8 (n, C, H, W), 0-255", "decision": None if det.decision_ is None else det.decision_.to_json(),
            "outputs": outputs, "version": _version()}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"oneclass.{key}", json.dumps(value)
    out = Path(path)
    write_atomic(out, model.SerializeToString())
    return out


class OnnxModel:
    """An exported detector, run by onnxruntime: `score`, `score_with_maps`, `anomaly_maps`, `normalised`, `decide`
    and `predict` as a loaded `Detector` has them (the default score only); `image_results` takes it as it takes a
    Detector.

    Parameters
    ----------
    path : str or Path
        A file written by `export_onnx` (`oneclass export`); anything else is refused in one line naming it.
    """

    def __init__(self, path: str | Path):
        try:
            import onnxruntime
        except ImportError:
            raise OneClassError("scoring an ONNX file needs onnxruntime: pip install -e '.[onnx]' in the clone") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: no such file")
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
            meta = {k.removeprefix("oneclass."): json.loads(v)
                    for k, v in self.session.get_modelmeta().custom_metadata_map.items() if k.startswith("oneclass.")}
            self.name = meta["method"]
            self.default_score = meta["default_score"]
            self.input_shape_ = tuple(int(v) for v in meta["input_shape"])
            self.decision_ = None if meta["decision"] is None else Decision.from_json(meta["decision"], str(self.path))
            self.outputs = list(meta["outputs"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{self.path}: not an ONNX file written by `oneclass export` ({exc})") from None
        except Exception as exc:  # onnxruntime's own errors (a damaged or foreign file)  # noqa: BLE001
            raise ModelFileError(f"{self.path}: onnxruntime cannot read it ({str(exc).splitlines()[0]})") from None
        self.score_names = (self.default_score,)

    @property
    def has_anomaly_maps(self) -> bool:
        """Whether the graph has a `map` output."""
        return "map" in self.outputs

    def _run(self, x: Any) -> list[np.ndarray]:
        images = as_images(x, "x")
        check_shape(images, self.input_shape_)
        raw = (images * 255.0).round().to(torch.uint8).numpy()
        return self.session.run(None, {"images": raw})

    def score(self, x: Any) -> Scores:
        """The default score of images `x` (as `Detector.score`, that score only)."""
        return self.score_with_maps(x)[0]

    def score_with_maps(self, x: Any) -> tuple[Scores, np.ndarray | None]:
        """The default score of images `x` and their maps (None where the method has none), in one run."""
        out = self._run(x)
        return Scores({self.default_score: out[0].astype(np.float64)}, self.default_score), (out[1] if len(out) > 1 else None)

    def anomaly_maps(self, x: Any) -> np.ndarray:
        """The anomaly maps (n, H, W) of images `x`."""
        if not self.has_anomaly_maps:
            raise InputError(f"{self.name} does not produce anomaly maps")
        return self._run(x)[1]

    def normalised(self, default_scores: np.ndarray) -> np.ndarray:
        """Default scores mapped to [0, 1] by the exported decision (0.5 at the threshold)."""
        return self._require_decision().normalised(default_scores)

    def decide(self, default_scores: np.ndarray) -> np.ndarray:
        """1 where a default score is above the exported threshold, else 0."""
        return self._require_decision().decide(default_scores)

    def predict(self, x: Any) -> np.ndarray:
        """0 (normal) or 1 (anomalous) per image."""
        return self.decide(self.score(x).default)

    def _require_decision(self) -> Decision:
        if self.decision_ is None:
            raise OneClassError(f"{self.path}: {self.no_decision_reason()}")
        return self.decision_

    def no_decision_reason(self) -> str:
        """Why the file has no decision threshold."""
        return "the model it was exported from had no decision threshold"


def _version() -> str:
    from oneclass import __version__

    return __version__
