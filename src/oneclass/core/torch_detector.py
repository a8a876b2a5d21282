"""`TorchDetector`: a detector whose learned state is one `torch.nn.Module`, `net_`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from oneclass.core.detector import Detector
from oneclass.errors import InputError
from oneclass.runtime import map_batches, module_to_device
from oneclass.training import Validation, selection_rule

#: the most weights and buffers a network may hold (2 GB in fp32; Adam keeps two more copies while training)
MAX_NETWORK_VALUES = 500_000_000


class TorchDetector(Detector):
    """A detector whose learned state is one `torch.nn.Module`, `self.net_`, built by `_build()`."""

    export_refusal: ClassVar[str | None] = None

    def _build(self) -> torch.nn.Module:
        raise NotImplementedError

    def _eval(self) -> None:
        self.net_.eval()

    def _validation(self, val: tuple[torch.Tensor, np.ndarray] | None) -> Validation | None:
        """Model selection on the `val` given to `fit`, by the default score: `val-normal` when it holds only normal
        images, else `val-with-outliers`; None without one (the last epoch is kept)."""
        if val is None:
            return None
        return Validation(selection_rule(val), val[1], lambda: self._outputs(val[0])[self.default_score])

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return self.net_.state_dict()

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._check_network_size()
        self.net_ = module_to_device(self._build(), self.torch_device)
        self.net_.load_state_dict(tensors)
        self.net_.eval()

    def _new_net(self) -> torch.nn.Module:
        self._check_network_size()
        self.net_ = module_to_device(self._build(), self.torch_device)
        return self.net_

    def _check_network_size(self) -> None:
        """Count on the meta device (no memory) the values `_build()` would hold; more than `MAX_NETWORK_VALUES` is
        refused in one line before anything is allocated."""
        try:
            with torch.device("meta"):
                shape = self._build()
            values = sum(t.numel() for t in (*shape.parameters(), *shape.buffers()))
        except RuntimeError:  # a size that overflows even counting
            values = None
        if values is None or values > MAX_NETWORK_VALUES:
            size = "too many values to count" if values is None else f"{values:,} values ({values * 4 / 2**30:.1f} GB)"
            raise InputError(f"{self.name}: these settings make a network of {size}, more than the "
                             f"{MAX_NETWORK_VALUES:,} oneclass builds; lower widths, latent_dim or the image size")

    def _images_through(self, module: Callable[[torch.Tensor], torch.Tensor], x: Any) -> np.ndarray:
        """`module` (a part of the network in eval mode) applied to images `x`, its output as images: floats in
        [0, 1] with shape (n, C, H, W). What the methods' `reconstruct` returns."""
        self.net_.eval()
        return self._to_unit_range(map_batches(module, self.network_input(x), self.torch_device)).numpy()

