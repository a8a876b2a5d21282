"""Grad-CAM (Selvaraju et al., ICCV 2017) for a whole batch in one backward pass, without changing the network."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F


def grad_cam(trunk: nn.Sequential, head: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
             layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class activation maps of the logit `head(trunk(x))` read at the output A of `trunk[layer - 1]` (1-based).

    CAM(x) = ReLU(Σ_k α_k A^k) with α_k the spatial mean of ∂logit/∂A^k, upsampled bilinearly to x's size.
    Each image's logit depends on its own activations only (the network must be in eval mode, so BatchNorm
    uses its running statistics), so the gradient of the summed logits gives every image's gradient at once.
    Returns the maps (n, H, W) and the logits (n,); no parameter gradients are accumulated.
    """
    if not 1 <= layer <= len(trunk):
        raise ValueError(f"layer must be 1 to {len(trunk)}, got {layer}")
    with torch.enable_grad():
        activations = trunk[:layer](x).detach().requires_grad_(True)
        logits = head(trunk[layer:](activations))
        (grads,) = torch.autograd.grad(logits.sum(), activations)
    weights = grads.mean((2, 3), keepdim=True)
    cam = F.relu((weights * activations.detach()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0], logits.detach()
