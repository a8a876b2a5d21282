"""Anomaly maps drawn over their images, as PNG: what `oneclass score --heatmaps` writes and the service returns."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import colormaps
from PIL import Image

#: small images are enlarged (nearest neighbour) to at least this many pixels on the shorter side, so that a
#: 28×28 map can be seen
MIN_SIDE = 112


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5,
                    scale: tuple[float, float] | None = None) -> Image.Image:
    """`image`, uint8 (H, W) or (H, W, 3) as `read_images` gives it, with the anomaly map `heat` (H, W) over it in the
    inferno colours: from `scale` = (value drawn black, value drawn white), shared by the images shown together so
    that one colour means one level; without it, the map's own range (its brightest pixel is its most anomalous)."""
    unit = image.astype(np.float32) / 255.0
    rgb = np.repeat(unit[None], 3, axis=0) if unit.ndim == 2 else unit.transpose(2, 0, 1)
    lo, hi = (float(heat.min()), float(heat.max())) if scale is None else scale
    level = np.clip((heat - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(heat)
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


def colour_scale(lo: float, hi: float, label: str = "anomaly map") -> Image.Image:
    """The legend of overlays drawn with `scale=(lo, hi)`: the inferno colour bar with its values."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 0.9))
    ax = fig.add_axes((0.05, 0.55, 0.9, 0.3))
    fig.colorbar(ScalarMappable(Normalize(lo, hi), "inferno"), cax=ax, orientation="horizontal", label=label)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
