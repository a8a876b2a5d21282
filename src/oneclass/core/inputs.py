"""Validation of what a user passes in: images (any of the layouts and dtypes we accept, checked once, here) and
binary labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from oneclass.errors import InputError


def as_images(x: Any, name: str = "x") -> torch.Tensor:
    """Validate images and return them as a float32 tensor (n, C, H, W) with values in [0, 1].

    Parameters
    ----------
    x : numpy array or torch tensor
        uint8 images (n, H, W) or (n, H, W, C) with C = 1 or 3, or floats in [0, 1] shaped (n, C, H, W) or (n, H, W).
    name : str
        What an error calls the argument.

    Raises
    ------
    InputError
        One line naming `name` and what is wrong: the type, shape, channels, dtype, NaN or range.

    Examples
    --------
    >>> as_images(np.zeros((2, 28, 28), np.uint8)).shape
    torch.Size([2, 1, 28, 28])
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise InputError(f"{name}: expected a numpy array or torch tensor of images, got {type(x).__name__}")
    if t.ndim not in (3, 4):
        raise InputError(f"{name}: expected images of shape (n, H, W), (n, H, W, C) or (n, C, H, W), got {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise InputError(f"{name}: no images (the first dimension is 0)")
    if t.dtype == torch.uint8:
        if t.ndim == 4:
            if t.shape[-1] not in (1, 3):
                raise InputError(f"{name}: uint8 images must be (n, H, W) or (n, H, W, C) with C = 1 or 3, got {tuple(t.shape)}")
            t = t.permute(0, 3, 1, 2)
        else:
            t = t.unsqueeze(1)
        return t.float().div_(255.0).contiguous()
    if not t.dtype.is_floating_point:
        raise InputError(f"{name}: dtype {t.dtype} is not supported; pass uint8 images or floats in [0, 1]")
    t = t.float()
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.shape[1] not in (1, 3):
        raise InputError(f"{name}: float images must be (n, C, H, W) with C = 1 or 3, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    lo, hi = t.min().item(), t.max().item()
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise InputError(f"{name}: float images must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                         "pass uint8 images or rescale")
    return t.contiguous()


def as_labels(y: Any, n: int, name: str = "labels") -> np.ndarray:
    """Validate binary labels (0 = normal, 1 = anomaly) for n images.

    Examples
    --------
    >>> as_labels([0, 1, 1], 3).tolist()
    [0, 1, 1]
    """
    arr = np.asarray(y)
    if arr.shape != (n,):
        raise InputError(f"{name}: expected {n} labels, got shape {arr.shape}")
    if not np.isin(arr, (0, 1)).all():
        raise InputError(f"{name}: labels must be 0 (normal) or 1 (anomaly)")
    return arr.astype(np.int64)


def check_shape(images: torch.Tensor, expected: tuple[int, ...], name: str = "x") -> None:
    """Refuse images whose (C, H, W) differs from `expected`, naming both shapes."""
    shape = tuple(int(s) for s in images.shape[1:])
    if shape != tuple(expected):
        raise InputError(f"{name}: images have shape {shape}, the model expects {tuple(expected)}")


def fit_inputs(x: Any, val: Any, known: Any, input_shape: tuple[int, ...] | None, square_only: str | None = None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, np.ndarray] | None, torch.Tensor | None]:
    """`fit`'s images, validation pair and known anomalies, validated: one shape for all, that of `input_shape`
    where one was given, square where the detector says why it needs that (`square_only`)."""
    images = as_images(x, "x")
    shape = tuple(int(s) for s in images.shape[1:])
    if input_shape is not None and tuple(input_shape) != shape:
        raise InputError(f"x: images have shape {shape}, the detector was created with input_shape={tuple(input_shape)}")
    if square_only and shape[1] != shape[2]:
        raise InputError(f"x: images must be square ({square_only}); got {shape[1]}×{shape[2]}: resize or crop them")
    val_t = None
    if val is not None:
        if not (isinstance(val, tuple | list) and len(val) == 2):
            raise InputError("val: expected a pair (images, labels)")
        vx = as_images(val[0], "val images")
        check_shape(vx, shape, "val images")
        val_t = (vx, as_labels(val[1], len(vx), "val labels"))
    known_t = None
    if known is not None:
        known_t = as_images(known, "known_anomalies")
        check_shape(known_t, shape, "known_anomalies")
    return images, val_t, known_t
