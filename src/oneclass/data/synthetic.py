"""Generated data: ADA's noisy MNIST (digits placed at random on a larger canvas, with strong Gaussian noise), and
UCSD-like moving scenes (walking blobs on a static background; carts and cyclists as anomalies)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from oneclass.data.ucsd import Clip, VideoDataset


def noisy_canvases(digits: np.ndarray, rng: np.random.Generator, canvas: int = 84, size_range: tuple[int, int] = (56, 84),
                   sigma_mean: float = 30.0, sigma_std: float = 30.0) -> np.ndarray:
    """Place each (H, W) uint8 image at a random position of a black `canvas`² image, resized to a side drawn
    uniformly from `size_range` (inclusive, bilinear), then add Gaussian noise N(0, σ²) with σ drawn per image
    from N(`sigma_mean`, `sigma_std`²) on the 0–255 scale (the variance σ² does not depend on σ's sign) and clip
    to 0–255. Returns uint8 (n, canvas, canvas).
    """
    lo, hi = size_range
    if not 1 <= lo <= hi <= canvas:
        raise ValueError(f"size_range {size_range} must lie within 1..{canvas}")
    n = len(digits)
    sizes = rng.integers(lo, hi + 1, n)
    tops = (rng.random(n) * (canvas - sizes + 1)).astype(int)
    lefts = (rng.random(n) * (canvas - sizes + 1)).astype(int)
    sigmas = rng.normal(sigma_mean, sigma_std, n)
    out = np.zeros((n, canvas, canvas), np.float32)
    for i in range(n):  # one resize per image: generation, not training
        digit = Image.fromarray(digits[i]).resize((int(sizes[i]), int(sizes[i])), Image.BILINEAR)
        out[i, tops[i]:tops[i] + sizes[i], lefts[i]:lefts[i] + sizes[i]] = np.asarray(digit, np.float32)
    out += rng.standard_normal(out.shape, dtype=np.float32) * sigmas[:, None, None].astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------- moving scenes


def _smooth_texture(rng: np.random.Generator, shape: tuple[int, int], passes: int = 3, width: int = 9) -> np.ndarray:
    """A static textured background: white noise blurred by repeated box filters, scaled to 0–1."""
    field = rng.random(shape)
    kernel = np.ones(width) / width
    for _ in range(passes):
        field = np.apply_along_axis(np.convolve, 0, field, kernel, "same")
        field = np.apply_along_axis(np.convolve, 1, field, kernel, "same")
    return (field - field.min()) / (np.ptp(field) + 1e-9)


def _ellipse(rows: np.ndarray, cols: np.ndarray, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    return ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1.0


class _Walker:
    """A pedestrian-like blob: an upright ellipse with a head, walking at constant velocity, swinging its width
    with its gait; anomalies are wider (carts) or faster with a wheel bar (cyclists)."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], kind: str = "pedestrian", start: int = 0):
        h, w = shape
        self.kind, self.start = kind, start
        speed = {"pedestrian": rng.uniform(0.4, 1.1), "cart": rng.uniform(1.5, 2.2), "cyclist": rng.uniform(4.0, 5.0)}[kind]
        horizontal = kind != "pedestrian" or rng.random() < 0.6
        sign = rng.choice([-1.0, 1.0])
        self.vy, self.vx = (rng.normal(0, 0.1), sign * speed) if horizontal else (sign * speed, rng.normal(0, 0.1))
        self.ry, self.rx = (8.0, 13.0) if kind == "cart" else (rng.uniform(7, 10), rng.uniform(3, 4.5))
        margin = 14
        if kind == "pedestrian" and start == 0:  # already in the scene when the clip starts
            self.y, self.x = rng.uniform(margin, h - margin), rng.uniform(margin, w - margin)
        elif horizontal:
            self.y, self.x = rng.uniform(margin + 10, h - margin - 10), (-margin if sign > 0 else w + margin)
        else:
            self.y, self.x = (-margin if sign > 0 else h + margin), rng.uniform(margin, w - margin)
        self.shade = rng.uniform(25, 70) if rng.random() < 0.7 else rng.uniform(190, 230)
        self.phase = rng.uniform(0, 2 * np.pi)

    def draw(self, frame: np.ndarray, t: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Paint the walker at frame `t` of its clip; returns its pixel mask."""
        k = t - self.start
        cy, cx = self.y + self.vy * k, self.x + self.vx * k
        if self.kind == "cart":
            mask = (np.abs(rows - cy) <= self.ry) & (np.abs(cols - cx) <= self.rx)
        else:
            swing = 1.0 + 0.25 * np.sin(self.phase + 0.5 * k)
            mask = _ellipse(rows, cols, cy, cx, self.ry, self.rx * swing)
            mask |= _ellipse(rows, cols, cy - self.ry - 2.0, cx, 2.5, 2.5)  # head
            if self.kind == "cyclist":
                mask |= (np.abs(rows - cy - self.ry) <= 2.0) & (np.abs(cols - cx) <= 9.0)
        frame[mask] = self.shade
        return mask

    def gone(self, t: int, shape: tuple[int, int]) -> bool:
        k = t - self.start
        y, x = self.y + self.vy * k, self.x + self.vx * k
        return not (-20 <= y <= shape[0] + 20 and -20 <= x <= shape[1] + 20)


def moving_scenes(n_train: int = 8, n_test: int = 6, n_frames: int = 80, shape: tuple[int, int] = (120, 180),
                  pedestrians: int = 4, seed: int = 0) -> VideoDataset:
    """A UCSD-like surveillance set in memory: a static textured walkway seen from a fixed camera, pedestrian-like
    blobs walking across it (normal), and in every test clip one or two anomalous objects — carts (wide, faster)
    and cyclists (fast, with a wheel bar) — that enter from an edge and cross the scene. Frames carry sensor noise
    (σ = 2 grey levels). Test frames are abnormal while an anomalous object is visible; its pixels are the masks.
    Returns clips that `write_ucsd_tree` puts on disk in the UCSD layout.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = _smooth_texture(rng, shape)
    background = 95 + 60 * texture + 25 * (np.abs(rows - h / 2) < h / 4)  # a lighter walkway band
    background = background.astype(np.float32)

    def clip(anomalies: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
        walkers = [_Walker(rng, shape) for _ in range(pedestrians)]
        odd = [_Walker(rng, shape, kind, start) for kind, start in anomalies]
        frames = np.empty((n_frames, h, w), np.uint8)
        masks = np.zeros((n_frames, h, w), bool)
        for t in range(n_frames):  # generation, not training: one frame at a time
            frame = background.copy()
            walkers = [wk if not wk.gone(t, shape) else _Walker(rng, shape, start=t) for wk in walkers]
            for wk in walkers:
                wk.draw(frame, t, rows, cols)
            for wk in odd:
                if t >= wk.start:
                    masks[t] |= wk.draw(frame, t, rows, cols)
            frame += rng.normal(0, 2.0, shape).astype(np.float32)
            frames[t] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
        return frames, masks

    train = [Clip(f"Train{i + 1:03d}", clip([])[0]) for i in range(n_train)]
    test = []
    for i in range(n_test):
        start = int(rng.integers(n_frames // 8, n_frames // 3))
        if i % 3 == 2:  # a cyclist crosses, then a cart enters after it has left: two ranges on the .m line
            start = n_frames // 16
            anomalies = [("cyclist", start), ("cart", start + int(n_frames * 0.7))]
        else:
            anomalies = [("cart" if i % 2 == 0 else "cyclist", start)]
        frames, masks = clip(anomalies)
        test.append(Clip(f"Test{i + 1:03d}", frames, masks.reshape(n_frames, -1).any(1).astype(np.int64), masks))
    return VideoDataset(train, test)


def label_ranges(labels: np.ndarray) -> list[tuple[int, int]]:
    """Runs of 1 in frame labels as 1-based inclusive (first, last) pairs, as a UCSD `.m` file writes them."""
    edges = np.diff(np.r_[0, labels.astype(np.int8), 0])
    return [(int(a) + 1, int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)]


def write_ucsd_tree(dataset: VideoDataset, folder: str | Path, name: str = "UCSDsynth") -> Path:
    """Write clips in the UCSD layout: `name/Train/TrainNNN/NNN.tif`, `name/Test/TestNNN/NNN.tif`,
    `name/Test/TestNNN_gt/NNN.bmp` (masks, 0/255) and `name/Test/name.m`. Returns `folder/name`."""
    root = Path(folder) / name
    for split, clips in (("Train", dataset.train), ("Test", dataset.test)):
        for c in clips:
            (root / split / c.name).mkdir(parents=True, exist_ok=True)
            for t, frame in enumerate(c.frames):
                Image.fromarray(frame).save(root / split / c.name / f"{t + 1:03d}.tif")
            if c.masks is not None:
                (root / split / f"{c.name}_gt").mkdir(exist_ok=True)
                for t, mask in enumerate(c.masks):
                    Image.fromarray(mask.astype(np.uint8) * 255).save(root / split / f"{c.name}_gt" / f"{t + 1:03d}.bmp")
    lines = ["TestVideoFile = {};"]
    for c in dataset.test:
        ranges = ", ".join(f"{a}:{b}" for a, b in label_ranges(c.labels))
        lines.append(f"TestVideoFile{{end+1}}.gt_frame = [{ranges}];")
    (root / "Test" / f"{name}.m").write_text("\n".join(lines) + "\n")
    return root
