"""DCGAN-style networks as in G2D's authors' public code (our own code): a generator of 4×4 stride-2 transposed
convolutions and tanh, and a critic with InstanceNorm."""

from __future__ import annotations

import torch
from torch import nn

from oneclass.nn.blocks import downsampled_sizes


def _transposed(c_in: int, c_out: int, size_in: tuple[int, int], size_out: tuple[int, int]) -> nn.ConvTranspose2d:
    """A 4×4 stride-2 transposed convolution from `size_in` to `size_out` (twice the size, or one less)."""
    pads, extra = [], []
    for n_in, n_out in zip(size_in, size_out, strict=True):
        excess = 2 * n_in + 2 - n_out  # = 2·padding − output_padding
        pads.append((excess + 1) // 2)
        extra.append(excess % 2)
    return nn.ConvTranspose2d(c_in, c_out, 4, 2, tuple(pads), tuple(extra), bias=False)


class TransposedGenerator(nn.Module):
    """I as in the authors' code (a DCGAN generator), sized like ours: z → dense → BatchNorm → ReLU at the smallest
    map, then 4×4 stride-2 transposed convolutions (BatchNorm, ReLU) up through the sizes the critic sees, the last
    to the image channels, and tanh."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...], latent_dim: int):
        super().__init__()
        c, h, w = input_shape
        sizes = downsampled_sizes((h, w), len(widths))[::-1]
        chans = (*widths[::-1], c)
        self.start = (chans[0], *sizes[0])
        n_start = chans[0] * sizes[0][0] * sizes[0][1]
        self.fc = nn.Sequential(nn.Linear(latent_dim, n_start, bias=False), nn.BatchNorm1d(n_start), nn.ReLU())
        layers: list[nn.Module] = []
        for i in range(len(widths)):
            layers.append(_transposed(chans[i], chans[i + 1], sizes[i], sizes[i + 1]))
            layers += [nn.BatchNorm2d(chans[i + 1]), nn.ReLU()] if i < len(widths) - 1 else [nn.Tanh()]
        self.features = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.features(self.fc(z).view(-1, *self.start))


class InstanceNormCritic(nn.Module):
    """C as in the authors' code: stride-2 convolutions, each with InstanceNorm (affine) and LeakyReLU(0.2), then
    one value (their last 4×4 convolution over the 4×4 map is this dense layer)."""

    def __init__(self, input_shape: tuple[int, int, int], widths: tuple[int, ...]):
        super().__init__()
        c, h, w = input_shape
        chans = (c, *widths)
        self.features = nn.Sequential(*[nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1),
                                                      nn.InstanceNorm2d(chans[i + 1], affine=True), nn.LeakyReLU(0.2))
                                        for i in range(len(widths))])
        fh, fw = downsampled_sizes((h, w), len(widths))[-1]
        self.fc = nn.Linear(widths[-1] * fh * fw, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))
