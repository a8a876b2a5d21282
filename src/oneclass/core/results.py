"""One inference result per image (`ImageResult`), made by one function (`image_results`) for a loaded detector or
an exported ONNX model alike, and written the same way by `score --json`, `score --csv` and `POST /score`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from oneclass.core.scores import Decision, Scores

#: the columns of `score --csv`
CSV_COLUMNS = ("name", "score", "normalised", "anomalous")


class ScoringModel(Protocol):
    """What `image_results` needs: a `Detector` or an `OnnxModel`."""

    name: str
    decision_: Decision | None
    has_anomaly_maps: bool

    def score(self, x: Any) -> Scores:
        """Every score of images `x`."""

    def score_with_maps(self, x: Any) -> tuple[Scores, np.ndarray | None]:
        """The scores and maps of images `x` in one pass."""


@dataclass(frozen=True)
class ImageResult:
    """What a model says of one image.

    Attributes
    ----------
    name : str
        The image's name (its path, or an upload's file name).
    scores : dict of str to float
        Every score the model gives (an ONNX model: the default score only).
    default_name : str
        Which of them is the default.
    normalised : float or None
        The default score mapped to [0, 1] by the decision threshold (0.5 at it); None where the model cannot decide.
    anomalous : bool or None
        Whether the default score is above the threshold; None where the model cannot decide.
    map : ndarray (H, W) or None
        The anomaly map, where asked for and the method has one.
    converted : str or None
        What was done to the image to give it the model's input size and channels ("resized from 28×28, grey to
        colour"); None if it had them.
    """

    name: str
    scores: dict[str, float]
    default_name: str
    normalised: float | None
    anomalous: bool | None
    map: np.ndarray | None = None
    converted: str | None = None

    @property
    def default_score(self) -> float:
        """The value of the default score."""
        return self.scores[self.default_name]

    def to_json(self) -> dict[str, Any]:
        """The fields `score --json` and `POST /score` give for the image (the map is written as a picture)."""
        return {"name": self.name, "scores": self.scores, "default_score": self.default_score,
                "normalised": self.normalised, "anomalous": self.anomalous, "converted": self.converted}

    def csv_row(self) -> list[str]:
        """The image's row under `CSV_COLUMNS`."""
        return [spreadsheet_safe(self.name), f"{self.default_score:.6g}",
                "" if self.normalised is None else f"{self.normalised:.4f}",
                "" if self.anomalous is None else str(int(self.anomalous))]


def spreadsheet_safe(text: str) -> str:
    """`text` for a CSV cell that a spreadsheet will not run as a formula: a leading `=`, `+`, `-`, `@`, tab or
    carriage return gets a `'` before it (OWASP's advice on CSV injection); bytes of a file name that are not UTF-8
    are written as escapes (`\\xff`).

    >>> spreadsheet_safe("=HYPERLINK(1).png"), spreadsheet_safe("a.png")
    ("'=HYPERLINK(1).png", 'a.png')
    """
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # a file name not in UTF-8
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def image_results(model: ScoringModel, images: Any, names: Sequence[str], maps: bool = False,
                  notes: Sequence[str | None] | None = None) -> list[ImageResult]:
    """Score `images` with `model` (one pass, maps too where asked and the method has them) and decide; `notes`
    say per image what was converted to give it the model's input (`ImageResult.converted`).

    Examples
    --------
    >>> import numpy as np, oneclass
    >>> det = oneclass.create("ocsvm").fit(np.zeros((40, 8, 8), np.uint8))
    >>> [r.anomalous for r in image_results(det, np.stack([np.zeros((8, 8), np.uint8),
    ...                                                     np.full((8, 8), 255, np.uint8)]), ["blank", "white"])]
    [False, True]
    """
    if maps and model.has_anomaly_maps:
        scores, heat = model.score_with_maps(images)
    else:
        scores, heat = model.score(images), None
    return results_from(scores, heat, model.decision_, names, notes)


def results_from(scores: Scores, maps: np.ndarray | None, decision: Decision | None, names: Sequence[str],
                 notes: Sequence[str | None] | None = None) -> list[ImageResult]:
    """The results of images already scored: their `scores`, their `maps` (or None), decided by `decision`, with
    their conversion `notes` (or none)."""
    normalised = None if decision is None else decision.normalised(scores.default)
    anomalous = None if decision is None else decision.decide(scores.default)
    return [ImageResult(name=name, scores={k: float(v[i]) for k, v in scores.items()}, default_name=scores.default_name,
                        normalised=None if normalised is None else float(normalised[i]),
                        anomalous=None if anomalous is None else bool(anomalous[i]),
                        map=None if maps is None else maps[i], converted=None if notes is None else notes[i])
            for i, name in enumerate(names)]


def results_csv(results: Sequence[ImageResult]) -> str:
    """The results as CSV text with a header (`CSV_COLUMNS`), quoted where a name needs it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(r.csv_row() for r in results)
    return out.getvalue()
