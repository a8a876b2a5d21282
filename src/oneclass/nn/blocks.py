"""Convolutional encoders and decoders that adapt to any input size (28×28, 32×32, 30×30 patches, 84×84).

The encoder halves the resolution with stride-2 convolutions; the decoder mirrors it, upsampling to the
exact sizes the encoder saw (nearest neighbour + convolution), so odd sizes such as 7 or 15 round-trip.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def conv_block(c_in: int, c_out: int, stride: int = 1, kernel: int = 3, bias: bool = False,
               batch_norm: bool = True, affine: bool = True) -> nn.Sequential:
    """Conv → BatchNorm → LeakyReLU(0.2), 'same' padding (odd kernels only)."""
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd to keep 'same' padding, got {kernel}")
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=bias)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out, affine=affine))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def clip_straight_through(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Clip to [lo, hi] in the forward pass but let gradients through unchanged (straight-through), so an
    output pushed outside the range early in training can come back; a plain clamp has zero gradient there
    and we saw whole networks stick at the bound."""
    return x + (x.clamp(lo, hi) - x).detach()


def up_block(c_in: int, c_out: int, size: tuple[int, int], kernel: int = 3) -> nn.Sequential:
    """Nearest-neighbour upsampling to `size`, then a conv block."""
    return nn.Sequential(nn.Upsample(size=size, mode="nearest"), conv_block(c_in, c_out, 1, kernel))


def downsampled_sizes(size: tuple[int, int], n: int) -> list[tuple[int, int]]:
    """Spatial sizes after each of n stride-2 'same' convolutions, starting with `size` itself."""
    sizes = [tuple(size)]
    for _ in range(n):
        h, w = sizes[-1]
        sizes.append((math.ceil(h / 2), math.ceil(w / 2)))
    return sizes


class ConvEncoder(nn.Module):
    """Stride-2 conv blocks, one per entry of `widths`, then a dense layer to `out_features`. Without
    `batch_norm` the convolutions carry biases instead (a WGAN-GP critic must not mix samples of a batch)."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], out_features: int,
                 kernel: int = 3, bias: bool = True, batch_norm: bool = True):
        super().__init__()
        c, h, w = input_shape
        self.sizes = downsampled_sizes((h, w), len(widths))
        chans = (c, *widths)
        self.features = nn.Sequential(*[conv_block(chans[i], chans[i + 1], 2, kernel, bias=not batch_norm,
                                                   batch_norm=batch_norm) for i in range(len(widths))])
        fh, fw = self.sizes[-1]
        self.fc = nn.Linear(widths[-1] * fh * fw, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (n, C, H, W) to codes (n, latent_dim)."""
        return self.fc(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """Mirror of `ConvEncoder`: dense layer, then upsampling conv blocks back to `input_shape`; tanh output."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], in_features: int, kernel: int = 3):
        super().__init__()
        c, h, w = input_shape
        sizes = downsampled_sizes((h, w), len(widths))
        self.start = (widths[-1], *sizes[-1])
        self.fc = nn.Linear(in_features, widths[-1] * sizes[-1][0] * sizes[-1][1])
        rev = widths[::-1]
        blocks = [up_block(rev[i], rev[i + 1], sizes[-2 - i], kernel) for i in range(len(widths) - 1)]
        self.features = nn.Sequential(*blocks)
        self.out = nn.Sequential(nn.Upsample(size=(h, w), mode="nearest"),
                                 nn.Conv2d(rev[-1], c, kernel, 1, kernel // 2), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (n, latent_dim) to images (n, C, H, W) in [-1, 1]."""
        x = nn.functional.leaky_relu(self.fc(z), 0.2).view(-1, *self.start)
        return self.out(self.features(x))
