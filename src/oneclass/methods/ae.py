"""`ae`: convolutional autoencoder; the anomaly score is the squared reconstruction error."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from oneclass import params as rules
from oneclass.core import MAP, TorchDetector
from oneclass.nn import ConvDecoder, ConvEncoder
from oneclass.training import Batch, fit_epochs


class Autoencoder(nn.Module):
    """Strided-conv encoder → dense bottleneck → upsampling-conv decoder with tanh output."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], latent_dim: int, kernel: int = 3):
        super().__init__()
        self.encoder = ConvEncoder(input_shape, widths, latent_dim, kernel)
        self.decoder = ConvDecoder(input_shape, widths, latent_dim, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class AE(TorchDetector):
    """Conv autoencoder trained with mean squared error on normal images in [-1, 1].

    Scores: `rec` (default), the mean squared error per image; `rec_norm`, the mean over pixels of the
    squared error divided by that pixel's mean squared error on the training images, so that errors where
    normal images are always reconstructed well weigh more (a per-pixel Gaussian likelihood of the residual).
    Anomaly maps: squared error per pixel (mean over channels).
    """

    name = "ae"
    score_names = ("rec", "rec_norm")
    default_score = "rec"
    has_anomaly_maps = True
    param_rules = {"widths": rules.integers(1), "latent_dim": rules.integer(1), "kernel": rules.odd_integer(),
                   "epochs": rules.integer(1), "batch_size": rules.integer(1), "lr": rules.number(0, low_open=True),
                   "weight_decay": rules.number(0)}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, widths: tuple[int, ...] = (16, 32, 64),
                 latent_dim: int = 16, kernel: int = 3, epochs: int = 20, batch_size: int = 128, lr: float = 1e-3,
                 weight_decay: float = 0.0, seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    def _build(self) -> nn.Module:
        return Autoencoder(self.input_shape_, tuple(self.widths), self.latent_dim, self.kernel)

    def _loss(self, xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return F.mse_loss(self.net_(xb), xb)

    def _fit(self, x: torch.Tensor, val, known=None) -> None:
        net = self._new_net()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(self.seed)
        self.pixel_error_ = torch.ones(self.input_shape_[1:])  # rec_norm = rec until the training error is known

        def step(batch: Batch) -> float:
            loss = self._loss(batch.images, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        record = fit_epochs(self._run, step, x, module=self.net_, epochs=self.epochs, batch_size=self.batch_size, generator=gen,
                            validation=self._validation(val), stateful={"opt": opt})
        self._fit_pixel_error(x)
        self.fit_info_.update(record)

    @torch.no_grad()
    def reconstruct(self, x) -> np.ndarray:
        """Reconstructions of images `x`, as floats in [0, 1] with shape (n, C, H, W)."""
        return self._images_through(self.net_, x)

    def _fit_pixel_error(self, x: torch.Tensor) -> None:
        """Mean squared error of each pixel over the training images, floored at 1e-3 (on the [-1, 1] scale)."""
        self.pixel_error_ = torch.from_numpy(self._outputs(x, maps=True)[MAP]).mean(0).clamp_min(1e-3)

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        maps = (self.net_(batch) - batch).pow(2).mean(1)
        return {"rec": maps.flatten(1).mean(1), "rec_norm": (maps / self.pixel_error_.to(batch.device)).flatten(1).mean(1),
                MAP: maps}

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {**super()._state_tensors(), "pixel_error": self.pixel_error_}

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        tensors = dict(tensors)
        self.pixel_error_ = tensors.pop("pixel_error")
        super()._load_state_tensors(tensors)
