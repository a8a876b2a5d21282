"""Data sets in MVTec AD's layout, read by path: a category folder holds `train/good/` (normal training images),
`test/good/` and `test/<defect>/`, and `ground_truth/<defect>/<name>_mask.png` for each defective test image. A root
of several such category folders is a data set of categories (`categories`).

    >>> import tempfile
    >>> from oneclass.data.defects import make_defects
    >>> root = make_defects(tempfile.mkdtemp(), categories=("wood",), n_train=3, n_test_good=2, n_per_defect=1)
    >>> categories(root)
    ['wood']
    >>> wood = read_category(root / "wood", size=(64, 64))
    >>> wood.train.images.shape, wood.test.images.shape, wood.masks.shape, int(wood.labels.sum())
    ((3, 64, 64, 3), (6, 64, 64, 3), (6, 64, 64), 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from oneclass.data.folder import FolderImages, read_folder
from oneclass.data.images import read_image
from oneclass.errors import DataError

GOOD = "good"


@dataclass(frozen=True)
class Category:
    """One category of an MVTec-style data set, read at one size.

    Attributes
    ----------
    name : str
    train : FolderImages
        `train/good/`.
    test : FolderImages
        `test/`, every subfolder.
    labels : int64 array (n_test,)
        0 for `test/good/`, 1 for a defect.
    defects : list of str
        The subfolder of each test image ("good" or the defect's name).
    masks : bool array (n_test, H, W)
        The defective pixels at the images' size (all False for good images).
    """

    name: str
    train: FolderImages
    test: FolderImages
    labels: np.ndarray
    defects: list[str]
    masks: np.ndarray


def is_category(path: str | Path) -> bool:
    """Whether `path` is a category folder in MVTec AD's layout (it has `train/good/` and `test/`)."""
    p = Path(path)
    return (p / "train" / GOOD).is_dir() and (p / "test").is_dir()


def categories(root: str | Path) -> list[str]:
    """The category folders under `root`, sorted; [] if there are none. A category folder itself gives [its name]."""
    p = Path(root)
    if is_category(p):
        return [p.name]
    return sorted(c.name for c in p.iterdir() if c.is_dir() and is_category(c)) if p.is_dir() else []


def _mask(category: Path, image: Path, size: tuple[int, int]) -> np.ndarray:
    defect = image.parent.name
    stem = image.relative_to(category / "test" / defect).with_suffix("")
    path = category / "ground_truth" / defect / f"{stem}_mask.png"
    if not path.is_file():
        raise DataError(f"{image}: no mask {path}; every defective test image needs one (255 = defective pixel)")
    mask = read_image(path, channels=1)
    return np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.Resampling.NEAREST)) > 127


def read_category(folder: str | Path, size: tuple[int, int] | None = None, channels: int | None = None,
                  square: str | None = None) -> Category:
    """Read a category folder at `size` (H, W; default: the training images' median size, capped and made square
    as `read_folder` does) with `channels` (default: as most training images are). Masks are resized with the
    nearest pixel."""
    root = Path(folder)
    if not is_category(root):
        raise DataError(f"{root}: not in MVTec AD's layout (expected train/good/ and test/ in it)")
    train = read_folder(root / "train" / GOOD, size, channels, option=f"{root}: train/good", square=square)
    test = read_folder(root / "test", train.size, train.channels, option=f"{root}: test")
    defects = [p.relative_to(root / "test").parts[0] for p in test.paths]
    labels = np.array([d != GOOD for d in defects], np.int64)
    if labels.all() or not labels.any():
        raise DataError(f"{root / 'test'}: needs good images (test/good/) and defective ones (test/<defect>/)")
    masks = np.stack([_mask(root, p, train.size) if d != GOOD else np.zeros(train.size, bool)
                      for p, d in zip(test.paths, defects, strict=True)])
    return Category(root.name, train, test, labels, defects, masks)
