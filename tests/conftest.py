"""Shared fixtures. Real data comes from ../shared/data when present; everything else is generated here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oneclass.data import load_dataset

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache or $ONECLASS_DATA; never download during tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("ONECLASS_DATA", raising=False)


@pytest.fixture(scope="session")
def mini() -> dict[str, np.ndarray]:
    """The embedded Fashion-MNIST subset (real images, 250 train + 100 test per class)."""
    return load_dataset("fashion-mnist-mini")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "fashion-mnist").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA
