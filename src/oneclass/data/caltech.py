"""Reader for the Caltech-256 layout: `256_ObjectCategories/NNN.name/NNN_XXXX.jpg`, `257.clutter` for clutter."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oneclass.data.images import is_image_file
from oneclass.errors import DataError

CLUTTER = "257.clutter"


def caltech_categories(root: str | Path) -> dict[str, list[Path]]:
    """Category folder name -> its image files, sorted. Non-image files (such as `198.spider/RENAME2`),
    hidden files and empty folders are skipped. `root` may be the dataset folder or `256_ObjectCategories`."""
    base = Path(root)
    if (base / "256_ObjectCategories").is_dir():
        base = base / "256_ObjectCategories"
    if not base.is_dir():
        raise DataError(f"{base}: no such folder; expected the Caltech-256 folder holding 256_ObjectCategories/")
    categories = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if is_image_file(p))
        if files:
            categories[folder.name] = files
    if not categories:
        raise DataError(f"{base}: no category folders with images (expected e.g. 001.ak47/001_0001.jpg)")
    return categories


def caltech_index(root: str | Path) -> dict[str, np.ndarray]:
    """All images as `paths` (str), `labels` (index into `categories`) and `categories` (folder names, sorted)."""
    categories = caltech_categories(root)
    names = list(categories)
    return {"paths": np.array([str(p) for files in categories.values() for p in files], dtype=object),
            "labels": np.array([i for i, files in enumerate(categories.values()) for _ in files], dtype=np.int64),
            "categories": np.array(names, dtype=object)}
