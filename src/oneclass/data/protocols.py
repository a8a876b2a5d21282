"""Evaluation protocols of the papers, as functions from a labelled dataset to train / test (/ val) splits.

Every protocol returns a `Split`: normal training images, test images with labels (1 = anomaly), and an
optional validation set drawn from the *training* split only. `val_outliers` > 0 puts real outliers in the
validation set (some papers select epochs that way); the honest default uses none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oneclass.errors import DataError


@dataclass
class Split:
    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def val(self) -> tuple[np.ndarray, np.ndarray] | None:
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


def one_vs_rest(data: dict[str, np.ndarray], normal_class: int | Sequence[int], seed: int = 0,
                val_normal: int = 0, val_outliers: int = 0) -> Split:
    """Train on the normal class(es) of the train split; test on the whole test split (ADACL, OCGAN)."""
    normal = _as_classes(normal_class)
    rng = np.random.default_rng(seed)
    train_normal = _normal_mask(data["y_train"], normal, np.unique(data["y_train"]))
    x_train, x_val, y_val = _take_val(rng, data["x_train"][train_normal], data["x_train"][~train_normal],
                                      val_normal, val_outliers)
    y_test = (~np.isin(data["y_test"], normal)).astype(np.int64)
    return Split(x_train, data["x_test"], y_test, x_val, y_val,
                 {"protocol": "one-vs-rest", "normal_classes": normal, "seed": seed})


def memae(data: dict[str, np.ndarray], normal_class: int | Sequence[int], seed: int = 0, val_normal: int = 0,
          val_outliers: int = 0, anomaly_fraction: float = 0.3, pool: bool = True) -> Split:
    """MemAE protocol (OLED's MNIST): the normal class's images split 2:1 into train and test; anomalies,
    drawn at random from the other classes, make up `anomaly_fraction` of the test set.

    With `pool` (default) the dataset's train and test splits are pooled first, as the MemAE and OLED
    code do. Validation normals come out of the training two thirds; validation outliers never overlap
    the test anomalies.
    """
    normal = _as_classes(normal_class)
    x = np.concatenate([data["x_train"], data["x_test"]]) if pool else data["x_train"]
    y = np.concatenate([data["y_train"], data["y_test"]]) if pool else data["y_train"]
    is_normal = _normal_mask(y, normal, np.unique(y))
    rng = np.random.default_rng(seed)
    x_normal = x[is_normal][rng.permutation(int(is_normal.sum()))]
    x_other = x[~is_normal][rng.permutation(int((~is_normal).sum()))]
    n_train = round(len(x_normal) * 2 / 3)
    n_test_normal = len(x_normal) - n_train
    n_anomalies = round(n_test_normal * anomaly_fraction / (1 - anomaly_fraction))
    if n_anomalies + val_outliers > len(x_other):
        raise DataError(f"not enough images of other classes for {n_anomalies} test and {val_outliers} val outliers")
    x_test = np.concatenate([x_normal[n_train:], x_other[:n_anomalies]])
    y_test = np.r_[np.zeros(n_test_normal, np.int64), np.ones(n_anomalies, np.int64)]
    x_train, x_val, y_val = _take_val(rng, x_normal[:n_train], x_other[n_anomalies:], val_normal, val_outliers)
    return Split(x_train, x_test, y_test, x_val, y_val,
                 {"protocol": "memae", "normal_classes": normal, "seed": seed, "pooled": pool,
                  "anomaly_fraction": anomaly_fraction})


PROTOCOLS: dict[str, Callable[..., Split]] = {"one-vs-rest": one_vs_rest, "memae": memae}


def make_split(protocol: str, data: dict[str, np.ndarray], normal_class: int | Sequence[int], seed: int = 0,
               **options: Any) -> Split:
    """Apply protocol `protocol` by name."""
    try:
        fn = PROTOCOLS[protocol]
    except KeyError:
        raise DataError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}") from None
    return fn(data, normal_class, seed=seed, **options)
