"""`vae`: variational autoencoder; the anomaly score is the negative ELBO (reconstruction + KL)."""

from __future__ import annotations

import torch
from torch import nn

from oneclass import params as rules
from oneclass.core import MAP
from oneclass.methods.ae import AE
from oneclass.nn import ConvDecoder, ConvEncoder


class VariationalAutoencoder(nn.Module):
    """Encoder to (μ, log σ²) of a Gaussian latent; decoder from a latent sample."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], latent_dim: int, kernel: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = ConvEncoder(input_shape, widths, 2 * latent_dim, kernel)
        self.decoder = ConvDecoder(input_shape, widths, latent_dim, kernel)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² of the posterior (log σ² clamped to [-10, 10])."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the posterior mean (used for scoring and pictures)."""
        return self.decoder(self.encode(x)[0])


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per sample."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class VAE(AE):
    """VAE with a Gaussian decoder of unit variance: loss = ½‖x − x̂‖² + β·KL, summed over pixels.

    Scores: `elbo` (default) = ½‖x − x̂(μ)‖² + KL, the negative ELBO at the posterior mean;
    `rec` = mean squared reconstruction error. Anomaly maps: squared error per pixel.
    """

    name = "vae"
    score_names = ("elbo", "rec")
    default_score = "elbo"
    param_rules = {**AE.param_rules, "beta": rules.number(0)}

    def __init__(self, *, input_shape: tuple[int, int, int] | None = None, widths: tuple[int, ...] = (16, 32, 64),
                 latent_dim: int = 16, kernel: int = 3, beta: float = 1.0, epochs: int = 20, batch_size: int = 128,
                 lr: float = 1e-3, weight_decay: float = 0.0, seed: int = 0, device: str = "auto",
                 precision: str = "auto", threshold_fpr: float = 0.05, calibration: float = 0.1):
        self._set_params(locals())

    def _build(self) -> nn.Module:
        return VariationalAutoencoder(self.input_shape_, tuple(self.widths), self.latent_dim, self.kernel)

    def _loss(self, xb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        mu, logvar = self.net_.encode(xb)
        noise = torch.randn(mu.shape, generator=generator).to(mu.device)
        recon = self.net_.decoder(mu + noise * (0.5 * logvar).exp())
        rec = 0.5 * (recon - xb).pow(2).flatten(1).sum(1)
        return (rec + self.beta * kl_to_standard_normal(mu, logvar)).mean()

    def forward(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        mu, logvar = self.net_.encode(batch)
        error = (self.net_.decoder(mu) - batch).pow(2)
        flat = error.flatten(1)
        return {"elbo": 0.5 * flat.sum(1) + kl_to_standard_normal(mu, logvar), "rec": flat.mean(1), MAP: error.mean(1)}
