"""Anomaly maps drawn over their images, as PNG: what `oneclass score --heatmaps` writes and the service returns."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import colormaps
from PIL import Image

#: small images are enlarged (nearest neighbour) to at least this many pixels on the shorter side, so that a
#: 28×28 map can be seen
MIN_SIDE = 112


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """`image`, uint8 (H, W) or (H, W, 3) as `read_images` gives it, with the anomaly map `heat` (H, W) over it in the
    inferno colours, scaled to the map's own range (the brightest pixel is the image's most anomalous, not an
    absolute level)."""
    unit = image.astype(np.float32) / 255.0
    rgb = np.repeat(unit[None], 3, axis=0) if unit.ndim == 2 else unit.transpose(2, 0, 1)
    span = float(heat.max() - heat.min())
    level = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    colour = colormaps["inferno"](level)[..., :3].transpose(2, 0, 1)
    blended = (1 - alpha) * rgb + alpha * colour
    picture = Image.fromarray((blended.transpose(1, 2, 0) * 255).round().astype(np.uint8))
    factor = max(1, -(-MIN_SIDE // min(picture.size)))
    return picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST) if factor > 1 else picture


def png_bytes(picture: Image.Image) -> bytes:
    """A picture as PNG bytes."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
