"""Image files and folders: single images, `normal/` + `abnormal/` trees, flat folders to score."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from oneclass.errors import DataError, ImageTooLargeError, UnreadableImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm"}


def is_image_file(path: Path) -> bool:
    """Whether `path` has the suffix of an image format we read."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


#: the most pixels one image may have (about 7,000 × 7,000): a file whose header claims more is refused before
#: anything is decoded, so no image can make a reader allocate gigabytes
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow refuses larger images itself (DecompressionBombError)

#: single-channel modes with more than 8 bits, and the value that stands for white in each
_WIDE_GREY = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "F": 1.0}


def is_grey_mode(mode: str) -> bool:
    """Whether Pillow's image mode `mode` is single-channel (read as grey unless colour is asked for)."""
    return mode in ("L", "1", "I", "F") or mode.startswith("I;16")


class ImageHeader(NamedTuple):
    """What an image file's header says: its size, the channels `read_image` reads it with unless told otherwise
    (1 for grey modes, else 3), and Pillow's mode ("L", "RGB", "RGBA", "I;16", ...)."""

    height: int
    width: int
    channels: int
    mode: str

    @property
    def wide(self) -> bool:
        """More than 8 bits per pixel (scaled to 8 bits when read)."""
        return self.mode in _WIDE_GREY or self.mode == "I"

    @property
    def transparent(self) -> bool:
        """It has an alpha channel (which reading ignores)."""
        return self.mode in ("RGBA", "LA", "PA", "La", "RGBa")


def _check_pixels(img: Image.Image, name: str | Path) -> None:
    if img.width * img.height > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError(f"{name}: {img.width}×{img.height} pixels is more than the {MAX_IMAGE_PIXELS:,} "
                                 "one image may have; shrink it first")


def image_header(source: str | Path | BinaryIO, name: str | Path) -> ImageHeader:
    """An image's `ImageHeader`, without decoding its pixels. `name` is what an error calls it."""
    try:
        with Image.open(source) as img:
            _check_pixels(img, name)
            return ImageHeader(img.height, img.width, 1 if is_grey_mode(img.mode) else 3, img.mode)
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{name}: the image claims more than {MAX_IMAGE_PIXELS:,} pixels; shrink it first") from None
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImageError(f"{name}: not a readable image ({exc})") from None


def conversion_note(header: ImageHeader, size: tuple[int, int], channels: int) -> str | None:
    """What reading an image of `header` at `size` and `channels` changes, in words; None if nothing.

    >>> conversion_note(ImageHeader(28, 28, 1, "L"), (64, 64), 3)
    'resized from 28×28, grey to colour'
    >>> conversion_note(ImageHeader(64, 64, 3, "RGB"), (64, 64), 3) is None
    True
    """
    h, w, c = header[:3]
    kind = {1: "grey", 3: "colour"}
    changes = ([f"resized from {h}×{w}"] if (h, w) != tuple(size) else []) + \
              ([f"{kind[c]} to {kind[channels]}"] if c != channels else [])
    return ", ".join(changes) or None


def read_image(path: str | Path, size: tuple[int, int] | None = None, channels: int | None = None) -> np.ndarray:
    """Read one image as uint8 (H, W) for one channel or (H, W, 3) for three, resized to `size` = (H, W).

    16-bit images are scaled by their bit depth (65535 is white) and float images must lie in [0, 1]; both are
    then quantised to 8 bits, as every detector takes. 32-bit integer images, whose range is unknown, are refused.
    """
    p = Path(path)
    try:
        return _decode(p, p, size, channels)
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except PermissionError:
        raise DataError(f"{p}: not allowed to read it (permission denied)") from None


def decode_image(data: bytes, name: str, size: tuple[int, int] | None = None, channels: int | None = None) -> np.ndarray:
    """`read_image` for the bytes of an image file (an upload); `name` is what errors call it."""
    if not data:
        raise DataError(f"{name}: empty file")
    return _decode(io.BytesIO(data), name, size, channels)


def _decode(source: Path | BinaryIO, name: str | Path, size: tuple[int, int] | None, channels: int | None) -> np.ndarray:
    try:
        with Image.open(source) as img:
            _check_pixels(img, name)
            img.load()
            grey = is_grey_mode(img.mode)
            img = _to_8_bits(img, name)
            img = img.convert({1: "L", 3: "RGB"}[channels or (1 if grey else 3)])
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{name}: the image claims more than {MAX_IMAGE_PIXELS:,} pixels; shrink it first") from None
    except (FileNotFoundError, PermissionError):
        raise
    except UnidentifiedImageError:
        raise UnreadableImageError(f"{name}: not a readable image (not a format Pillow knows)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImageError(f"{name}: not a readable image ({exc})") from None


def _to_8_bits(img: Image.Image, path: str | Path) -> Image.Image:
    """Single-channel images of more than 8 bits as 8-bit grey, scaled by their real depth."""
    if img.mode not in _WIDE_GREY and img.mode != "I":
        return img
    values = np.asarray(img)  # in its own type (2 or 4 bytes a pixel): a float64 copy would cost 8
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise DataError(f"{path}: the image holds NaN or infinite values")
    lo, hi = float(values.min()), float(values.max())
    if img.mode == "I":  # 32-bit integers: only a range that is plainly 8-bit can be read without guessing
        if lo < 0 or hi > 255:
            raise DataError(f"{path}: 32-bit integer image with values in [{lo:g}, {hi:g}]; its bit depth is unknown: "
                            "save it as 8- or 16-bit")
        white = 255.0
    else:
        white = _WIDE_GREY[img.mode]
        if lo < 0 or hi > white:
            raise DataError(f"{path}: {img.mode} image with values in [{lo:g}, {hi:g}]; expected 0 to {white:g}")
    out = np.empty(values.shape, np.uint8)
    rows = max(1, 2**20 // max(1, values.shape[1]))  # scaled a million pixels at a time, so memory stays bounded
    for start in range(0, len(values), rows):
        out[start:start + rows] = np.round(values[start:start + rows] * (255.0 / white))
    return Image.fromarray(out, mode="L")


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


def folder_labels(paths: list[Path]) -> np.ndarray | None:
    """1 for an image in a folder named abnormal/, 0 in one named normal/; None unless every image is in one of
    them and both kinds occur (then an AUROC can be taken)."""
    labels = np.array([{"abnormal": 1, "normal": 0}.get(Path(p).parent.name, -1) for p in paths])
    return labels if (labels >= 0).all() and 0 < labels.sum() < len(labels) else None
