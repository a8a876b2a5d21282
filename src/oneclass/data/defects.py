"""A generated defect-inspection data set in MVTec AD's layout: colour textures and one object at 128×128 with
synthetic defects (scratches, spots, missing parts, colour changes) and their exact masks, made deterministically
from a seed. No such data set can be downloaded everywhere; this one is the default of `oneclass demo --defects`,
of `make bench-defects` and of the tests.

Layout (as MVTec AD's, read back by `oneclass.data.mvtec`)::

    ROOT/<category>/train/good/000.png
    ROOT/<category>/test/good/000.png
    ROOT/<category>/test/<defect>/000.png
    ROOT/<category>/ground_truth/<defect>/000_mask.png      (255 = defective pixel)

A defect's mask is exactly the pixels it painted; a colour change or a hole is drawn inside the object only, so
its mask holds no background.

    >>> import tempfile
    >>> root = make_defects(tempfile.mkdtemp(), categories=("tile",), n_train=4, n_test_good=2, n_per_defect=1)
    >>> sorted(p.name for p in (root / "tile" / "test").iterdir())
    ['colour', 'good', 'missing', 'scratch', 'spot']
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from oneclass.errors import DataError

CATEGORIES = ("weave", "tile", "wood", "pill")
DEFECTS = ("scratch", "spot", "missing", "colour")
SIDE = 128
#: strong tints of a colour change, one drawn per defect
_TINTS = np.array([(1.25, 0.8, 0.8), (0.8, 1.2, 0.8), (0.8, 0.85, 1.3), (1.2, 1.15, 0.7)], np.float32)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)


def _smooth_noise(rng: np.random.Generator, cell: int) -> np.ndarray:
    """Smooth random field in about [-1, 1]: uniform noise on a coarse grid of `cell`-pixel cells, bicubic up."""
    coarse = rng.uniform(-1, 1, (SIDE // cell + 2, SIDE // cell + 2)).astype(np.float32)
    big = Image.fromarray(coarse).resize((SIDE + 2 * cell, SIDE + 2 * cell), Image.BICUBIC)
    return np.asarray(big, np.float32)[cell:cell + SIDE, cell:cell + SIDE]


def _weave(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A woven fabric: two crossing gratings of period ~8 px at a slightly random angle and phase."""
    y, x = _grid()
    theta = rng.normal(0, 0.03)
    u, v = x * np.cos(theta) + y * np.sin(theta), -x * np.sin(theta) + y * np.cos(theta)
    period = rng.uniform(7.6, 8.4)
    a, b = rng.uniform(0, 2 * np.pi, 2)
    pattern = 0.5 + 0.25 * (np.sin(2 * np.pi * u / period + a) + np.sin(2 * np.pi * v / period + b))
    shade = 0.75 + 0.5 * pattern + 0.06 * _smooth_noise(rng, 16)
    colour = np.array([0.62, 0.5, 0.38], np.float32) + rng.normal(0, 0.012, 3).astype(np.float32)
    return shade[..., None] * colour, np.ones((SIDE, SIDE), bool)


def _tile(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Square tiles of 32 px with grey grout, the grid shifted at random, each tile's blue a little different."""
    y, x = _grid()
    dy, dx = rng.integers(0, 32, 2)
    row, col = ((y + dy) // 32).astype(int), ((x + dx) // 32).astype(int)
    grout = (((y + dy) % 32) < 3) | (((x + dx) % 32) < 3)
    jitter = rng.normal(0, 0.03, (6, 6, 3)).astype(np.float32)
    tile = np.array([0.3, 0.45, 0.7], np.float32) + jitter[row, col]
    tile = tile * (1 + 0.05 * _smooth_noise(rng, 8))[..., None]
    image = np.where(grout[..., None], np.float32(0.55), tile)
    return image, np.ones((SIDE, SIDE), bool)


def _wood(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Wood grain: warped vertical stripes between a light and a dark brown."""
    y, x = _grid()
    warp = 5 * _smooth_noise(rng, 32)
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (x + warp) / rng.uniform(10, 12) + rng.uniform(0, 2 * np.pi))
    light, dark = np.array([0.78, 0.6, 0.4], np.float32), np.array([0.5, 0.33, 0.18], np.float32)
    return light + (dark - light) * (grain ** 1.5)[..., None], np.ones((SIDE, SIDE), bool)


def _pill(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A cream capsule on a dark background, a little shifted and turned, shaded, with faint speckles."""
    y, x = _grid()
    cy, cx = 64 + rng.normal(0, 2, 2)
    angle = rng.normal(0, 0.08)
    u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    r = (u / 48) ** 2 + (v / 26) ** 2
    pill = r <= 1
    shade = (1 - 0.25 * r) * (1 + 0.02 * _smooth_noise(rng, 8))
    body = np.array([0.92, 0.86, 0.72], np.float32) * shade[..., None]
    speckles = pill & (rng.random((SIDE, SIDE)) < 0.004)
    body[speckles] *= np.array([1.0, 0.75, 0.7], np.float32)
    background = np.array([0.12, 0.13, 0.16], np.float32) + 0.02 * _smooth_noise(rng, 16)[..., None]
    return np.where(pill[..., None], body, background), pill


_MAKERS = {"weave": _weave, "tile": _tile, "wood": _wood, "pill": _pill}


def _blob(rng: np.random.Generator, centre: np.ndarray, radius: float) -> np.ndarray:
    """An irregular blob around `centre`: an ellipse whose edge is pushed in and out by smooth noise."""
    y, x = _grid()
    ry, rx = radius * rng.uniform(0.7, 1.3, 2)
    d = np.sqrt(((y - centre[0]) / ry) ** 2 + ((x - centre[1]) / rx) ** 2)
    return d + 0.25 * _smooth_noise(rng, 8) <= 1


def _centre(rng: np.random.Generator, inside: np.ndarray, margin: int = 12, inset: int = 4) -> np.ndarray:
    """A point of `inside`, at least `inset` px from its edge, and `margin` px from the image's border."""
    inside = ndimage.binary_erosion(inside, iterations=inset, border_value=1)
    ys, xs = np.nonzero(inside[margin:-margin, margin:-margin])
    i = rng.integers(len(ys))
    return np.array([ys[i] + margin, xs[i] + margin], np.float32)


def _scratch(rng, image, inside):
    """A thin curved line, 1–2 px wide and 25–60 px long (turning back at the object's edge), 60 % of the way to
    dark or light, whichever contrasts with what it crosses."""
    y, x = _grid()
    point, heading = _centre(rng, inside, margin=20, inset=8), rng.uniform(0, 2 * np.pi)
    length, width = rng.uniform(25, 60), rng.uniform(0.8, 1.4)
    mask = np.zeros((SIDE, SIDE), bool)
    for _ in range(int(length)):
        heading += rng.normal(0, 0.08)
        step = np.clip(point + [np.sin(heading), np.cos(heading)], 2, SIDE - 3)
        if not inside[round(step[0]), round(step[1])]:  # turn back at the object's edge
            heading += np.pi
            continue
        point = step
        mask |= (y - point[0]) ** 2 + (x - point[1]) ** 2 <= width ** 2
    mask &= inside
    bright = image[mask].mean() < 0.5
    image[mask] = 0.4 * image[mask] + 0.6 * (np.float32(0.92) if bright else np.array([0.1, 0.08, 0.07], np.float32))
    return mask


def _spot(rng, image, inside):
    """A stain: an irregular blob of radius 3–7 px in a dark colour, 60 % opaque."""
    mask = _blob(rng, _centre(rng, inside), rng.uniform(3, 7)) & inside
    stain = np.array([0.25, 0.18, 0.1], np.float32) if rng.random() < 0.5 else np.array([0.2, 0.3, 0.15], np.float32)
    image[mask] = 0.4 * image[mask] + 0.6 * stain
    return mask


def _missing(rng, image, inside, background):
    """A missing piece, radius 7–14 px: a hole through a texture, a chip out of the object (background shows)."""
    mask = _blob(rng, _centre(rng, inside), rng.uniform(7, 14)) & inside
    image[mask] = background[mask]
    return mask


def _colour(rng, image, inside):
    """A discoloured region of radius 10–18 px: the texture stays, its colour is tinted (±20–30 % per channel)."""
    mask = _blob(rng, _centre(rng, inside), rng.uniform(10, 18)) & inside
    image[mask] = image[mask] * _TINTS[rng.integers(len(_TINTS))]
    return mask


def make_image(category: str, rng: np.random.Generator, defect: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One uint8 (128, 128, 3) image of `category` and its bool mask (all False for a normal image)."""
    image, inside = _MAKERS[category](rng)
    image = image.astype(np.float32)
    mask = np.zeros((SIDE, SIDE), bool)
    if defect == "missing":
        background = np.full_like(image, 0.04) if category != "pill" else _pill_background(image, inside)
        mask = _missing(rng, image, inside, background)
    elif defect is not None:
        mask = {"scratch": _scratch, "spot": _spot, "colour": _colour}[defect](rng, image, inside)
    image = image + rng.normal(0, 0.015, image.shape).astype(np.float32)  # sensor noise, everywhere
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), mask


def _pill_background(image: np.ndarray, pill: np.ndarray) -> np.ndarray:
    """The pill's background colour everywhere (what shows through a chip)."""
    return np.broadcast_to(image[~pill].mean(0), image.shape).copy()


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_defects(root: str | Path, categories: tuple[str, ...] = CATEGORIES, n_train: int = 200, n_test_good: int = 40,
                 n_per_defect: int = 12, seed: int = 0) -> Path:
    """Write the data set under `root` (see the module's docstring) and return `root`.

    Every image comes from its own random stream, derived from `seed`, the category and the image's place, so the
    same arguments give the same files and one category does not change another. A `root` that already holds files
    is refused: nothing is overwritten.
    """
    root = Path(root)
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise DataError(f"category {unknown[0]!r}: expected some of {', '.join(CATEGORIES)}")
    if root.is_file() or (root.is_dir() and any(root.iterdir())):
        raise DataError(f"{root}: already exists and is not empty; give a new folder (nothing was written)")
    for category in categories:
        stream = (seed, CATEGORIES.index(category))
        folder = root / category
        for i in range(n_train):
            _save(make_image(category, np.random.default_rng((*stream, 0, i)))[0], folder / "train" / "good" / f"{i:03d}.png")
        for i in range(n_test_good):
            _save(make_image(category, np.random.default_rng((*stream, 1, i)))[0], folder / "test" / "good" / f"{i:03d}.png")
        for d, defect in enumerate(DEFECTS):
            for i in range(n_per_defect):
                image, mask = make_image(category, np.random.default_rng((*stream, 2 + d, i)), defect)
                _save(image, folder / "test" / defect / f"{i:03d}.png")
                _save(mask.astype(np.uint8) * 255, folder / "ground_truth" / defect / f"{i:03d}_mask.png")
    (root / "README.json").write_text(json.dumps(
        {"generator": "oneclass data make-defects", "seed": seed, "categories": list(categories), "n_train": n_train,
         "n_test_good": n_test_good, "n_per_defect": n_per_defect, "defects": list(DEFECTS), "size": [SIDE, SIDE]},
        indent=2) + "\n")
    return root
