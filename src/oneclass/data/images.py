"""Image files and folders: single images, `normal/` + `abnormal/` trees, flat folders to score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from oneclass.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm"}


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_image(path: str | Path, size: tuple[int, int] | None = None, channels: int | None = None) -> np.ndarray:
    """Read one image as uint8 (H, W) for one channel or (H, W, 3) for three, resized to `size` = (H, W)."""
    p = Path(path)
    try:
        with Image.open(p) as img:
            img.load()
            mode = {1: "L", 3: "RGB"}.get(channels or (1 if img.mode in ("L", "1", "I", "I;16", "F") else 3))
            img = img.convert(mode)
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{p}: not a readable image ({exc})") from None


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name (hidden files skipped)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    return sorted(p for p in root.iterdir() if is_image_file(p))


def read_images(paths: list[Path], size: tuple[int, int] | None = None, channels: int | None = None) -> np.ndarray:
    """Read several images into one uint8 array; without `size` they must all share the first one's size."""
    if not paths:
        raise DataError("no images to read")
    first = read_image(paths[0], size, channels)
    size = size or first.shape[:2]
    channels = channels or (1 if first.ndim == 2 else 3)
    return np.stack([first, *(read_image(p, size, channels) for p in paths[1:])])


def read_labelled_folder(folder: str | Path, size: tuple[int, int] | None = None,
                         channels: int | None = None) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """A folder with `normal/` and optionally `abnormal/` subfolders -> (images, labels 0/1, paths)."""
    root = Path(folder)
    normal = list_images(root / "normal") if (root / "normal").is_dir() else []
    abnormal = list_images(root / "abnormal") if (root / "abnormal").is_dir() else []
    if not normal:
        raise DataError(f"{root}: expected images in {root / 'normal'} (and anomalies, if any, in {root / 'abnormal'})")
    paths = normal + abnormal
    labels = np.array([0] * len(normal) + [1] * len(abnormal), dtype=np.int64)
    return read_images(paths, size, channels), labels, paths
