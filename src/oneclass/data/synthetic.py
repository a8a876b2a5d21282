"""Generated data: ADA's noisy MNIST (digits placed at random on a larger canvas, with strong Gaussian noise)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def noisy_canvases(digits: np.ndarray, rng: np.random.Generator, canvas: int = 84, size_range: tuple[int, int] = (28, 56),
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
