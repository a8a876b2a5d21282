"""`cae`: context autoencoder — the `ae` network trained to inpaint random square holes (OLED's ablation)."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from oneclass import params as rules
from oneclass.core import minmax
from oneclass.methods.ae import AE


def random_square_masks(n: int, height: int, width: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Masks (n, 1, H, W): 1 keeps a pixel, 0 hides it; each hides one size×size square at a random place."""
    top = torch.randint(0, height - size + 1, (n, 1), generator=generator)
    left = torch.randint(0, width - size + 1, (n, 1), generator=generator)
    rows = torch.arange(height)[None, :]
    cols = torch.arange(width)[None, :]
    in_rows = (rows >= top) & (rows < top + size)
    in_cols = (cols >= left) & (cols < left + size)
    return (~(in_rows[:, :, None] & in_cols[:, None, :])).float().unsqueeze(1)


class CAE(AE):
    """Context autoencoder: reconstruct the whole image from one with a random square hidden (set to 0).

    Scores, as OLED's Table 4 reports them for its CAE: `rec` = error of R(x); `mask` = error of R(x ⊙ M)
    with a random mask M; `cont` = mean absolute error inside the hidden square; `avg` = mean of the three
    after min-max scaling each over the scored set. Default `rec` (CAE's best in OLED's Table 4, and the
    only one that does not depend on random test masks or on the other images scored).
    """

    name = "cae"
    score_names = ("rec", "mask", "cont", "avg")
    default_score = "rec"
    param_rules = {**AE.param_rules, "mask_size": rules.integer(1, optional=True)}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, widths: tuple[int, ...] = (16, 32, 64),
                 latent_dim: int = 16, kernel: int = 3, mask_size: int | None = None, epochs: int = 20,
                 batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    @property
    def hole(self) -> int:
        """Side of the hidden square: `mask_size`, else 10 pixels per 28 (OLED's 10×10 on 28×28)."""
        return self.mask_size or max(1, round(10 * min(self.input_shape_[1:]) / 28))

    def _masks(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return random_square_masks(n, self.input_shape_[1], self.input_shape_[2], self.hole, generator)

    def _loss(self, xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        masks = self._masks(len(xb), generator).to(xb.device)
        return F.mse_loss(self.net_(xb * masks), xb)

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """`rec` and its maps as `ae`; with a `generator` (not in an exported graph), random test masks for `mask` and
        `cont`: reproducible, the same images in the same order always get the same masks."""
        out = super().forward(batch)
        if generator is None:
            return out
        masks = self._masks(len(batch), generator).to(batch.device)
        masked_error = self.net_(batch * masks) - batch
        inside = (1.0 - masks).expand_as(batch)
        return {**out, "mask": masked_error.pow(2).flatten(1).mean(1),
                "cont": (masked_error.abs() * inside).flatten(1).sum(1) / inside.flatten(1).sum(1)}

    def _over_set(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**scores, "avg": (minmax(scores["rec"]) + minmax(scores["mask"]) + minmax(scores["cont"])) / 3}
