"""What scoring gives back: `Scores` (every score of a method, by name) and `Decision` (the threshold that turns the
default score into normal / anomalous, and the map of scores onto [0, 1])."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


class Scores(Mapping[str, np.ndarray]):
    """Anomaly scores by name, each an array of shape (n,); higher = more anomalous.

    Parameters
    ----------
    values : mapping of str to array-like
        Every score the method computes.
    default : str
        The name of the method's headline score, one of `values`.

    Examples
    --------
    >>> s = Scores({"rec": [0.1, 0.9], "other": [1.0, 2.0]}, default="rec")
    >>> s.default.tolist(), s.default_name, sorted(s)
    ([0.1, 0.9], 'rec', ['other', 'rec'])
    """

    def __init__(self, values: Mapping[str, Any], default: str):
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
    """Scale to [0, 1] over the given set (a constant set maps to 0).

    Examples
    --------
    >>> minmax(np.array([2.0, 4.0, 3.0])).tolist()
    [0.0, 1.0, 0.5]
    """
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


@dataclass(frozen=True)
class Decision:
    """The decision threshold `fit` sets on the default score, and what it was set on.

    Parameters
    ----------
    threshold : float
        A default score above it is anomalous.
    low : float
        The lowest default score of the normal images the threshold was set on: it maps to 0 in `normalised`.
    score : str
        The score it applies to (the method's default).
    fpr : float
        The false-positive rate aimed at on those normal images (`threshold_fpr`).
    source : str
        Where the normal images came from: "val", "held-out" or "training".
    n : int
        How many normal images it was set on.

    Examples
    --------
    >>> d = Decision.from_scores(np.arange(100.0), fpr=0.05, score="rec", source="held-out")
    >>> d.threshold, d.decide(np.array([50.0, 96.0])).tolist()
    (95.0, [0, 1])
    >>> d.normalised(np.array([0.0, 95.0, 500.0])).tolist()
    [0.0, 0.5, 1.0]
    """

    threshold: float
    low: float
    score: str = ""
    fpr: float | None = None
    source: str = ""
    n: int | None = None

    @classmethod
    def from_scores(cls, normal_scores: np.ndarray, *, fpr: float, score: str, source: str) -> Decision:
        """The threshold at false-positive rate `fpr` on the default scores of normal images. Warns where half of
        them or more share one score: no threshold can split them, the training collapsed."""
        scores = np.asarray(normal_scores, dtype=np.float64)
        values, counts = np.unique(scores, return_counts=True)
        if len(scores) > 1 and 2 * counts.max() >= len(scores):
            warnings.warn(f"{counts.max()} of {len(scores)} {source} normal images get the same {score} score "
                          f"({values[counts.argmax()]:.6g}): the training collapsed and the detector cannot rank them; "
                          "train longer (epochs), on more images or with a lower learning rate", UserWarning, stacklevel=2)
        threshold = float(np.quantile(scores, 1.0 - fpr, method="higher"))
        return cls(threshold=threshold, low=float(scores.min()), score=score, fpr=fpr, source=source, n=len(scores))

    @classmethod
    def from_json(cls, record: Any, where: str) -> Decision:
        """A decision read from a model's config or an ONNX file's metadata; `ValueError` naming `where` if damaged."""
        if not (isinstance(record, dict) and all(isinstance(record.get(k), int | float) and not isinstance(record[k], bool)
                                                 and math.isfinite(record[k]) for k in ("threshold", "low"))):
            raise ValueError(f"{where}: field 'decision' must hold finite numbers 'threshold' and 'low'")
        rules = {"score": "a string", "source": "a string", "fpr": "a number between 0 and 1 or null",
                 "n": "a whole number >= 1 or null"}
        for key, rule in rules.items():
            if key in record and not _valid(key, record[key]):
                raise ValueError(f"{where}: field 'decision' must hold {key!r} as {rule}, found {str(record[key])[:40]!r}")
        known = {k: record[k] for k in ("threshold", "low", "score", "fpr", "source", "n") if k in record}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON object (what config.json, metrics.json and the service show)."""
        return asdict(self)

    def fpr_interval(self, level: float = 0.9) -> tuple[float, float] | None:
        """The range the false-positive rate on new normal images falls in with probability `level`, given that
        the threshold is the r-th lowest of `n` normal scores: that rate is Beta(n − r + 1, r)-distributed (for
        continuous scores). None where `n` or `fpr` is unknown (models of older versions).

        Examples
        --------
        >>> d = Decision(threshold=1.0, low=0.0, fpr=0.05, n=25)
        >>> [round(v, 3) for v in d.fpr_interval()]
        [0.014, 0.176]
        """
        if not self.n or self.fpr is None:
            return None
        from scipy.stats import beta

        rank = math.ceil((1.0 - self.fpr) * (self.n - 1)) + 1  # np.quantile(..., method="higher"), 1-based
        lo, hi = beta.ppf([(1 - level) / 2, (1 + level) / 2], self.n - rank + 1, rank)
        return float(lo), float(hi)

    @staticmethod
    def normals_needed(fpr: float, within: float = 0.5, level: float = 0.9, most: int = 20_000) -> int | None:
        """The fewest normal images a threshold at `fpr` needs so that, from then on, the false-positive rate on new
        normal images lies within `fpr` × (1 ± `within`) with probability `level` (`fpr_interval`); None if more
        than `most`.

        Examples
        --------
        >>> Decision.normals_needed(0.05), Decision.normals_needed(0.01), Decision.normals_needed(0.05, within=0.2)
        (304, 1616, 1562)
        """
        from scipy.stats import beta

        n = np.arange(2, most + 1)
        rank = np.ceil((1.0 - fpr) * (n - 1)) + 1
        lo = beta.ppf((1 - level) / 2, n - rank + 1, rank)
        hi = beta.ppf((1 + level) / 2, n - rank + 1, rank)
        bad = np.flatnonzero((lo < fpr * (1 - within)) | (hi > fpr * (1 + within)))
        if len(bad) and bad[-1] == len(n) - 1:
            return None
        return int(n[bad[-1] + 1]) if len(bad) else 2

    def normalised(self, default_scores: np.ndarray) -> np.ndarray:
        """Default scores mapped linearly to [0, 1]: 0 at `low`, 0.5 at the threshold, 1 at twice that distance and
        beyond. Anomalous (`decide`) is above 0.5."""
        span = max(self.threshold - self.low, 1e-12)
        return np.clip(0.5 * (np.asarray(default_scores, np.float64) - self.low) / span, 0.0, 1.0)

    def decide(self, default_scores: np.ndarray) -> np.ndarray:
        """1 (anomalous) where a default score is above the threshold, else 0."""
        return (np.asarray(default_scores) > self.threshold).astype(np.int64)


def _valid(key: str, value: Any) -> bool:
    """Whether a saved decision's optional field `key` holds a value of its kind."""
    if key in ("score", "source"):
        return isinstance(value, str)
    if value is None:
        return True
    if key == "fpr":
        return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
