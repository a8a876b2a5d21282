"""Reader for CIFAR-10's python version (`cifar-10-batches-py/data_batch_1..5`, `test_batch`).

The batches are pickles. We read them with an unpickler that can build only dicts, lists, strings,
numbers and numpy arrays: any other class in the file is refused, so a hostile file cannot run code.
Keys may be bytes (Python 2 pickles, as released) or str.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np

from oneclass.errors import DataError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("_codecs", "encode")}  # how protocol-2 pickles written by Python 3 rebuild bytes


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core")), name)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 (n, 32, 32, 3), labels int64 (n,))."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            batch = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{p}: not a readable CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{p}: not a CIFAR-10 batch (expected a dict, found {type(batch).__name__})")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{p}: CIFAR-10 batch without 'data' and 'labels' entries")
    data, labels = batch["data"], batch["labels"]
    # checked before any conversion: nested lists in a hostile pickle could expand to any size in np.asarray
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
        found = f"an array of shape {data.shape} and type {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{p}: expected 'data' as a uint8 array of shape (n, 3072), found {found}")
    if isinstance(labels, np.ndarray):
        labels = labels.tolist() if labels.ndim == 1 else None
    if not (isinstance(labels, list) and len(labels) == len(data) and all(isinstance(v, int) for v in labels)):
        raise DataError(f"{p}: expected 'labels' as a list of {len(data)} integers, one per image")
    labels = np.asarray(labels, dtype=np.int64)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def read_cifar10(folder: str | Path) -> dict[str, np.ndarray]:
    """All of CIFAR-10 from `folder` (the `cifar-10-batches-py` directory)."""
    root = Path(folder)
    train = [read_cifar_batch(root / name) for name in TRAIN_BATCHES]
    x_test, y_test = read_cifar_batch(root / TEST_BATCH)
    return {"x_train": np.concatenate([b[0] for b in train]), "y_train": np.concatenate([b[1] for b in train]),
            "x_test": x_test, "y_test": y_test}
