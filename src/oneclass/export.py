"""ONNX export of a fitted detector, and scoring with the exported file (onnxruntime), without our Python stack.

The graph takes the raw image batch, input `images`: uint8 (n, C, H, W) with values 0-255 (the saved model's
input shape; resize before), and does the preprocessing itself (to [0, 1], then the method's normalisation). It
returns `score`, the method's default score (n,), and `map`, the anomaly maps (n, H, W), where the method has
them. The file's metadata carries the method, the score's name, the input shape and the decision threshold with
its normalisation (`oneclass.*` keys, JSON values), so `OnnxModel` decides as the saved model does, and the SHA-256
of the graph it was written for: `OnnxModel` checks every field by the rules `config.json` is checked by, the
graph's input and outputs against them, and the digest against the graph, so a graph carrying another's metadata is
refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oneclass import params as rules
from oneclass.core import MAP, Decision, Detector, Scores, as_images, check_shape
from oneclass.errors import InputError, ModelFileError, OneClassError
from oneclass.files import write_atomic
from oneclass.registry import detector_class, is_method

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
            "outputs": outputs, "version": _version(), "graph_sha256": graph_digest(model)}
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
            import onnx
            import onnxruntime
        except ImportError:
            raise OneClassError("scoring an ONNX file needs onnx and onnxruntime: pip install -e '.[onnx]' in the "
                                "clone") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: no such file")
        try:
            model = onnx.load(str(self.path))
            self.session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnx's and onnxruntime's own errors (a damaged or foreign file)  # noqa: BLE001
            raise ModelFileError(f"{self.path}: onnxruntime cannot read it ({str(exc).splitlines()[0]})") from None
        meta = _metadata(model, self.path)
        self.name, self.default_score, self.outputs = meta["method"], meta["default_score"], meta["outputs"]
        self.input_shape_ = tuple(meta["input_shape"])
        try:
            self.decision_ = None if meta["decision"] is None else Decision.from_json(meta["decision"], str(self.path))
        except ValueError as exc:
            raise ModelFileError(f"{exc}; export the model again") from None
        if self.decision_ is not None and self.decision_.score not in ("", self.default_score):
            raise ModelFileError(f"{self.path}: its decision applies to score {self.decision_.score!r}, not to the "
                                 f"graph's {self.default_score!r}; export the model again")
        _check_graph(self.session, self.input_shape_, self.outputs, self.path)
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


def graph_digest(model) -> str:
    """The SHA-256 of an ONNX model's graph (its nodes and weights, not its metadata)."""
    return hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()


def _metadata(model, path: Path) -> dict[str, Any]:
    """The `oneclass.*` metadata of an exported file, every field checked as `config.json`'s are (`ModelFileError`
    naming the file and the field), and bound to the graph by its digest."""
    def bad(field: str, what: str) -> ModelFileError:
        return ModelFileError(f"{path}: metadata field 'oneclass.{field}' {what}; export the model again")

    meta = {}
    for entry in model.metadata_props:
        if entry.key.startswith("oneclass."):
            try:
                meta[entry.key.removeprefix("oneclass.")] = json.loads(entry.value)
            except ValueError:
                raise bad(entry.key.removeprefix("oneclass."), "is not JSON") from None
    if "method" not in meta:
        raise ModelFileError(f"{path}: not an ONNX file written by `oneclass export` (no oneclass metadata)")
    if "graph_sha256" not in meta:
        raise ModelFileError(f"{path}: exported by an older oneclass (no digest binds its metadata to "
                             "its graph); export the model again")
    for field, kind in (("method", str), ("default_score", str), ("outputs", list), ("graph_sha256", str)):
        if not isinstance(meta.get(field), kind):
            raise bad(field, f"must be a {'JSON ' + kind.__name__ if kind is not str else 'string'}")
    if meta["graph_sha256"] != graph_digest(model):
        raise bad("graph_sha256", "does not match the graph: the graph is not the one this metadata was written for")
    if not is_method(meta["method"]):
        raise bad("method", f"names no method ({meta['method'][:40]!r})")
    if meta["default_score"] not in detector_class(meta["method"]).score_names:
        raise bad("default_score", f"is not a score of {meta['method']}")
    if meta["outputs"] not in (["score"], ["score", "map"]):
        raise bad("outputs", "must be [\"score\"] or [\"score\", \"map\"]")
    try:
        rules.image_shape().check("input_shape", meta.get("input_shape"))
    except InputError as exc:
        raise bad("input_shape", str(exc).split(": ", 1)[-1]) from None
    if meta.get("input_shape") is None:
        raise bad("input_shape", "is missing")
    if "decision" not in meta:
        raise bad("decision", "is missing")
    return meta


def _check_graph(session, shape: tuple[int, ...], outputs: list[str], path: Path) -> None:
    """The graph takes one uint8 input `images` of (n, *shape) and gives the outputs the metadata names."""
    inputs = session.get_inputs()
    ok = (len(inputs) == 1 and inputs[0].name == "images" and inputs[0].type == "tensor(uint8)"
          and len(inputs[0].shape) == 4 and list(inputs[0].shape[1:]) == list(shape))
    if not ok:
        found = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
        raise ModelFileError(f"{path}: the graph's input ({found}) is not the uint8 images (n, {', '.join(map(str, shape))}) "
                             "its metadata describes; export the model again")
    names = [o.name for o in session.get_outputs()]
    if names != outputs:
        raise ModelFileError(f"{path}: the graph's outputs {names} are not the {outputs} its metadata names; export "
                             "the model again")


def _version() -> str:
    from oneclass import __version__

    return __version__
