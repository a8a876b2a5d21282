"""The one training loop every torch method runs (`fit_epochs`), and its pieces: batching from in-memory tensors,
model selection, checkpoints."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from oneclass.checkpoint import Checkpoint
from oneclass.metrics import auroc
from oneclass.runtime import autocast, compute_dtype, progress, to_device

if TYPE_CHECKING:
    from oneclass.core import TorchDetector

#: model-selection rules, as reported in results
SELECTION_RULES = ("none", "val-normal", "val-normal-aug", "val-with-outliers")


def batches(n: int, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True) -> Iterator[torch.Tensor]:
    """Index tensors covering range(n) in batches (a fresh permutation per call when shuffling). A last batch of one
    image joins the batch before it: BatchNorm cannot train on a single image."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    parts = list(order.split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    yield from parts


#: wrap each method's update step in `torch.compile` (for `make bench-speed` to measure; measured slower than eager
#: for the methods here, see docs/results.md, so off)
COMPILE_STEPS = False


def selection_rule(val: tuple[torch.Tensor, np.ndarray] | None) -> str:
    """`none` without validation data, `val-normal` if it holds only normals, else `val-with-outliers`."""
    if val is None:
        return "none"
    return "val-with-outliers" if val[1].any() else "val-normal"


class BestEpoch:
    """Keeps the weights of the best epoch under a model-selection rule.

    `val-with-outliers` maximises the validation AUROC of the default score (real outliers);
    `val-normal-aug` does the same with augmented normal images as the outliers (ADACL); `val-normal`
    minimises the mean default score of the (normal) validation images; `none` keeps the last epoch.
    """

    def __init__(self, rule: str):
        if rule not in SELECTION_RULES:
            raise ValueError(f"unknown selection rule {rule!r}; one of {SELECTION_RULES}")
        self.rule = rule
        self.best_epoch: int | None = None
        self.best_value = -np.inf
        self.history: list[float] = []
        self._state: dict | None = None

    def update(self, epoch: int, module: torch.nn.Module, val_scores: np.ndarray | None, val_labels: np.ndarray | None) -> None:
        """Record epoch `epoch` (1-based) given the default scores of the validation set."""
        if self.rule == "none":
            self.best_epoch = epoch
            return
        value = -float(np.mean(val_scores)) if self.rule == "val-normal" else auroc(val_labels, val_scores)
        self.history.append(value)
        if value > self.best_value:
            self.best_value, self.best_epoch = value, epoch
            self._state = copy.deepcopy(module.state_dict())

    def restore(self, module: torch.nn.Module) -> None:
        if self._state is not None:
            module.load_state_dict(self._state)

    def summary(self) -> dict:
        return {"selection": self.rule, "best_epoch": self.best_epoch,
                "val_history": [round(v, 6) for v in self.history]}

    def state(self) -> dict:
        """Everything `load_state` needs to continue the selection (for checkpoints)."""
        return {"best_epoch": self.best_epoch, "best_value": self.best_value, "history": self.history,
                "weights": self._state}

    def load_state(self, state: dict) -> None:
        self.best_epoch, self.best_value, self.history = state["best_epoch"], state["best_value"], state["history"]
        self._state = state["weights"]


@dataclass
class Validation:
    """What model selection looks at after each epoch: `values()` gives one number per validation image (the
    default score, or a method's own objective), `labels` says which images are outliers, `rule` how to rank."""

    rule: str
    labels: np.ndarray
    values: Callable[[], np.ndarray]


@dataclass
class Batch:
    """One training batch: `images` on the training device (channels-last), `targets` (if the loop was given any)
    on the device, the 1-based `epoch` it belongs to."""

    images: torch.Tensor
    targets: torch.Tensor | None
    epoch: int


def fit_epochs(det: TorchDetector, step: Callable[[Batch], float | dict[str, float]], images: torch.Tensor, *,
               epochs: int, batch_size: int, generator: torch.Generator, targets: torch.Tensor | None = None,
               module: torch.nn.Module | None = None, validation: Validation | None = None,
               end_epoch: Callable[[int, list | dict], bool | None] | None = None, track: bool = True,
               stateful: dict[str, Any] | None = None, desc: str | None = None) -> dict:
    """Train for `epochs` epochs; returns the record that goes into `fit_info_`.

    Each epoch puts `module` (default: the detector's network) in training mode and calls `step` once per batch of
    a fresh shuffle of `images` (indices drawn from `generator`); `step` makes the method's update (the order of
    a GAN's updates stays visible in the method) and returns the batch's loss, or a dict of named losses. Then,
    in this order: `end_epoch(epoch, the losses so far, unrounded)` (schedulers, statistics; True stops training
    early), model selection on `validation`, and, with `track`, the detector's `epoch_callback` (the network in
    eval mode, no gradients). Each step runs under bf16 autocast when the detector's `precision` resolves to bf16
    (validation and the callback score in fp32). At the end the selected epoch's weights are restored and `module`
    is left in eval mode.

    With `stateful` (the optimisers and schedulers `step` uses, by name) and the detector's `checkpoint_dir` set,
    the loop writes a checkpoint after every epoch and, when it finds one of the same run, continues after its
    epoch: the weights, those objects, the generators' states, the losses and the selection so far are restored,
    so the result equals an uninterrupted run's. The checkpoint is removed when training ends. Methods whose
    `step` keeps other state between epochs (G2D's GAN phase) pass no `stateful` and restart instead.

    The record: `epochs` run, the `precision` trained in, `train_loss` (per epoch, the mean over images: a list,
    or a dict of lists), `selection`, `best_epoch`, `val_history`, and `stopped_at` when `end_epoch` stopped it.
    """
    module = det.net_ if module is None else module
    step = torch.compile(step) if COMPILE_STEPS else step
    device = det.torch_device
    dtype = compute_dtype(det.precision, device)
    best = BestEpoch("none" if validation is None else validation.rule)
    history: list[float] | dict[str, list[float]] | None = None
    stopped_at = None
    done = 0  # epochs already trained (by the run a checkpoint was written in)
    desc = desc or f"{det.name} epochs"
    checkpoint = None
    if stateful is not None and det.checkpoint_dir is not None:
        checkpoint = Checkpoint(det.checkpoint_dir, desc, {"params": det.get_params(), "images": list(images.shape),
                                                          "epochs": epochs, "batch_size": batch_size})
        saved = checkpoint.load()
        if saved is not None:
            done, history = saved["epoch"], saved["history"]
            _restore(saved, module, stateful, generator, best)
    epoch = done
    for epoch in progress(range(done + 1, epochs + 1), desc, total=epochs, initial=done):
        module.train()
        totals: dict[str, float] = {}
        for idx in batches(len(images), batch_size, generator):
            batch = Batch(to_device(images[idx], device), None if targets is None else targets[idx].to(device), epoch)
            with autocast(device, dtype):
                losses = step(batch)
            for k, v in (losses.items() if isinstance(losses, dict) else [("", losses)]):
                totals[k] = totals.get(k, 0.0) + v * len(idx)
        history = _appended(history, {k: v / len(images) for k, v in totals.items()})
        stop = bool(end_epoch(epoch, history)) if end_epoch is not None else False
        if validation is None:
            best.update(epoch, module, None, None)
        else:
            best.update(epoch, module, validation.values(), validation.labels)
        if track and det.epoch_callback is not None:
            det.net_.eval()
            with torch.no_grad():
                det.epoch_callback(det, epoch)
        if stop:
            stopped_at = epoch
            break
        if checkpoint is not None and epoch < epochs:
            checkpoint.save({"epoch": epoch, "history": history, "module": module.state_dict(),
                             "objects": {name: obj.state_dict() for name, obj in stateful.items()},
                             "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                             "best": best.state()})
    if checkpoint is not None:
        checkpoint.remove()
    best.restore(module)
    module.eval()
    return {"epochs": epoch, "precision": "bf16" if dtype == torch.bfloat16 else "fp32",
            "train_loss": _rounded(history if history is not None else []), **best.summary(),
            **({"stopped_at": stopped_at} if stopped_at is not None else {})}


def _appended(history: list[float] | dict[str, list[float]] | None,
              means: dict[str, float]) -> list[float] | dict[str, list[float]]:
    """The loss history with one more epoch's means: a list for a single loss (key ""), else a dict of lists."""
    if history is None:
        history = [] if list(means) == [""] else {k: [] for k in means}
    if isinstance(history, list):
        history.append(means[""])
    else:
        for k in history:
            history[k].append(means[k])
    return history


def _restore(saved: dict, module: torch.nn.Module, stateful: dict[str, Any], generator: torch.Generator,
             best: BestEpoch) -> None:
    """Put back what a checkpoint saved, so that training continues as if it had never stopped."""
    module.load_state_dict(saved["module"])
    for name, obj in stateful.items():
        obj.load_state_dict(saved["objects"][name])
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    best.load_state(saved["best"])


def _rounded(history: list[float] | dict[str, list[float]]) -> list[float] | dict[str, list[float]]:
    if isinstance(history, dict):
        return {k: _rounded(v) for k, v in history.items()}
    return [round(v, 6) for v in history]
