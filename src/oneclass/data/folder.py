"""A user's own images: every image under a folder (recursively), brought to one size and one number of channels,
with what was done to them stated; and test folders whose subfolders say which images are normal.

    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for i, side in enumerate((30, 32, 34) * 10):
    ...     Image.fromarray(np.zeros((side, side), np.uint8)).save(root / f"{i}.png")
    >>> folder = read_folder(root)
    >>> folder.images.shape, folder.summary()
    ((30, 32, 32), '32×32 pixels (the median size), 1 channel (as the images are); 20 of 30 resized')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oneclass.data.images import IMAGE_SUFFIXES, ImageHeader, image_header, read_images
from oneclass.errors import DataError, UnreadableImageError

#: the longer side of the default size at most (the median size of a folder of large photos is scaled down to it)
MAX_DEFAULT_SIDE = 128
#: test subfolders whose images are normal; images in any other subfolder are anomalies
NORMAL_FOLDERS = ("normal", "good")


@dataclass(frozen=True)
class FolderImages:
    """Images read from a folder, and how they were made uniform.

    Attributes
    ----------
    images : uint8 array (n, H, W) or (n, H, W, 3)
    paths : list of Path
        The files, in the order of `images`.
    size : (int, int)
        (H, W) every image was brought to; `size_source` says why ("given", "the median size", ...).
    channels : int
        1 or 3; `channels_source` says why.
    resized, converted : int
        How many images were not at `size`, and how many had other channels than `channels`.
    notes : list of str
        What else was decided and the user should know: images of more than 8 bits scaled to 8, alpha channels
        ignored, sizes far apart, too few images to learn from.
    """

    images: np.ndarray
    paths: list[Path]
    size: tuple[int, int]
    channels: int
    size_source: str
    channels_source: str
    resized: int
    converted: int
    notes: list[str]

    def summary(self) -> str:
        """One line: the size and channels used and why, what was changed, and anything else decided."""
        h, w = self.size
        changed = [f"{n} of {len(self.paths)} {what}" for n, what in ((self.resized, "resized"),
                                                                     (self.converted, "converted")) if n]
        parts = ([", ".join(changed)] if changed else []) + self.notes
        return (f"{h}×{w} pixels ({self.size_source}), {self.channels} channel{'s' if self.channels > 1 else ''} "
                f"({self.channels_source})" + "".join(f"; {part}" for part in parts))


def find_images(root: str | Path, option: str = "--images") -> list[Path]:
    """Every image file under `root`, recursively, sorted by path; hidden files and folders are skipped."""
    folder = Path(root)
    if not folder.exists():
        raise DataError(f"{option} {folder}: no such folder")
    if not folder.is_dir():
        raise DataError(f"{option} {folder}: is a file; give the folder that holds the images")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not paths:
        raise DataError(f"{option} {folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, "
                        "in subfolders too)")
    return paths


#: fewer training images than this get a note: a detector learns little from them, and a threshold set on so
#: few normals is a guess (results/fpr-intervals.txt)
FEW_IMAGES = 20
#: sizes further apart than this factor (in height or width) get a note: resizing them all to one changes shapes
SIZE_SPREAD = 4


def _notes(headers: list[ImageHeader]) -> list[str]:
    """What else a user should know about a folder's images (`FolderImages.notes`)."""
    n = len(headers)
    notes = [f"{k} of {n} {what}" for k, what in ((sum(h.wide for h in headers), "of more than 8 bits, scaled to 8"),
                                                  (sum(h.transparent for h in headers), "with an alpha channel, "
                                                   "which is ignored")) if k]
    heights, widths = [h.height for h in headers], [h.width for h in headers]
    if max(heights) > SIZE_SPREAD * min(heights) or max(widths) > SIZE_SPREAD * min(widths):
        small, large = min(headers, key=lambda h: h.height * h.width), max(headers, key=lambda h: h.height * h.width)
        notes.append(f"sizes range from {small.height}×{small.width} to {large.height}×{large.width}, so shapes change "
                     "(give --size, or crop them alike first)")
    if n < FEW_IMAGES:
        notes.append(f"only {n} image{'s' if n > 1 else ''}: too few to learn much from or to set a threshold on; "
                     "100 or more work better")
    return notes


def _header(path: Path) -> ImageHeader:
    """(H, W, channels) from the file's header; an unreadable file is named, before anything is trained."""
    try:
        return image_header(path, path)
    except UnreadableImageError as exc:
        raise UnreadableImageError(f"{exc}; remove it or fix it: nothing was trained") from None


def read_folder(root: str | Path, size: tuple[int, int] | None = None, channels: int | None = None,
                option: str = "--images", square: str | None = None) -> FolderImages:
    """Read every image under `root` at `size` (H, W; default: the median size, scaled so that the longer side is
    at most `MAX_DEFAULT_SIDE`, and made square on its longer side where `square` says why the detector needs
    that) with `channels` (default: 3 if most images are in colour, else 1). An unreadable file is refused, naming
    it, before anything is decoded."""
    paths = find_images(root, option)
    headers = [_header(p) for p in paths]
    size_source, channels_source = "given", "given"
    if size is None:
        h, w = (int(np.median([header[i] for header in headers])) for i in (0, 1))
        scale = min(1.0, MAX_DEFAULT_SIDE / max(h, w))
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        size_source = "the median size" if scale == 1.0 else f"the median size {h}×{w}, scaled to at most {MAX_DEFAULT_SIDE}"
        if square and size[0] != size[1]:
            size, size_source = (max(size),) * 2, f"{size_source} {size[0]}×{size[1]}, made square: {square}"
    if channels is None:
        colour = sum(header.channels == 3 for header in headers)
        channels = 3 if 2 * colour >= len(headers) else 1
        channels_source = "as the images are" if colour in (0, len(headers)) else f"{colour} of {len(headers)} in colour"
    images = read_images(paths, size, channels)
    return FolderImages(images, paths, tuple(size), channels, size_source, channels_source,
                        resized=sum((h.height, h.width) != tuple(size) for h in headers),
                        converted=sum(h.channels != channels for h in headers), notes=_notes(headers))


def read_test_folder(root: str | Path, size: tuple[int, int], channels: int,
                     option: str = "--test") -> tuple[FolderImages, np.ndarray]:
    """A test folder: images under `normal/` or `good/` are normal (label 0), those under any other subfolder
    anomalies (1), as in MVTec AD's `test/good/`, `test/<defect>/`. It must hold both kinds."""
    folder = read_folder(root, size, channels, option)
    top = [p.relative_to(Path(root)).parts for p in folder.paths]
    if any(len(parts) < 2 for parts in top):
        raise DataError(f"{option} {root}: put the test images in subfolders, normal ones in normal/ (or good/) and "
                        "anomalies in any other, e.g. abnormal/")
    labels = np.array([0 if parts[0] in NORMAL_FOLDERS else 1 for parts in top], dtype=np.int64)
    if labels.all() or not labels.any():
        raise DataError(f"{option} {root}: needs normal images (in normal/ or good/) and anomalies (in other "
                        "subfolders) to measure AUROC")
    return folder, labels
