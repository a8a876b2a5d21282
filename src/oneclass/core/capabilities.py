"""What a method can do, in one record: `capabilities(det)` (or `Detector.capabilities`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oneclass.core.detector import Detector


@dataclass(frozen=True)
class Capabilities:
    """What a detector, with its hyper-parameters, can do.

    Attributes
    ----------
    maps : bool
        It localises: `anomaly_maps`, `score --heatmaps`, heatmaps in the service, a `map` output in ONNX.
    known_anomalies : bool
        `fit` can learn from a few anomalies known beforehand.
    decides : bool
        `fit` sets a decision threshold (False where an image's scores depend on the others scored with it).
    onnx : bool
        It exports to ONNX; `onnx_refusal` says why not where it cannot.
    onnx_refusal : str or None
    scores : tuple of str
        Its scores, the default first.
    """

    maps: bool
    known_anomalies: bool
    decides: bool
    onnx: bool
    onnx_refusal: str | None
    scores: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object."""
        return {**asdict(self), "scores": list(self.scores)}


def capabilities(det: Detector) -> Capabilities:
    """The capabilities of `det`.

    Examples
    --------
    >>> import oneclass
    >>> caps = oneclass.create("ocsvm").capabilities
    >>> caps.maps, caps.onnx, caps.scores
    (False, False, ('svm',))
    """
    refusal = det.export_refusal
    return Capabilities(maps=det.has_anomaly_maps, known_anomalies=det.accepts_known_anomalies,
                        decides=not det.scores_relative_to_set, onnx=refusal is None, onnx_refusal=refusal,
                        scores=(det.default_score, *[s for s in det.score_names if s != det.default_score]))
