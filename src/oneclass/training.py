"""The one training loop every torch method runs (`fit_epochs`), and its pieces: batching from in-memory tensors,
model selection, and the hooks (`Callback`) through which a caller watches or checkpoints training. The loop knows
nothing of detectors: the module, the update step, the data and the run settings (`Run`) are its arguments."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from oneclass.metrics import auroc
from oneclass.runtime import autocast, progress, to_device

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
        """Load the selected epoch's weights into `module` (none kept: nothing changes)."""
        if self._state is not None:
            module.load_state_dict(self._state)

    def summary(self) -> dict:
        """The selection rule, the best epoch and the validation values, for `fit_info_`."""
        return {"selection": self.rule, "best_epoch": self.best_epoch,
                "val_history": [round(v, 6) for v in self.history]}

    def state(self) -> dict:
        """Everything `load_state` needs to continue the selection (for checkpoints)."""
        return {"best_epoch": self.best_epoch, "best_value": self.best_value, "history": self.history,
                "weights": self._state}

    def load_state(self, state: dict) -> None:
        """Continue a selection saved by `state`."""
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


class Callback:
    """A hook into `fit_epochs`: each method gets the loop's `LoopState` (see `Checkpointing`, `EveryEpoch`)."""

    def on_train_begin(self, state: LoopState) -> None:
        """Before the first epoch; may restore the state of an interrupted run (then `state.epoch` > 0)."""

    def on_epoch_end(self, state: LoopState) -> None:
        """After each epoch's update steps, schedulers and model selection."""

    def on_train_end(self, state: LoopState) -> None:
        """After the last epoch, before the selected weights are restored."""


@dataclass
class Run:
    """How training runs, apart from what it trains: the device, the autocast dtype, the callbacks, what a checkpoint
    must match (`identity`, the hyper-parameters), a `name` for progress bars, and whether each update step is
    wrapped in `torch.compile` (slower than eager for the methods here, measured by `make bench-speed`)."""

    device: torch.device
    dtype: torch.dtype = torch.float32
    callbacks: tuple[Callback, ...] = ()
    identity: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    compile: bool = False


@dataclass
class LoopState:
    """What the loop holds, as callbacks see it: `epoch` is the last finished one (0 before any), `history` the mean
    losses so far, `stateful` the optimisers and schedulers a checkpoint must save (None: the method cannot resume),
    `tracked` whether the caller's per-epoch tracking applies to this loop (not to pre-training), `stopping` whether
    the method stopped training early at this epoch."""

    desc: str
    key: dict[str, Any]
    module: torch.nn.Module
    generator: torch.Generator
    best: BestEpoch
    epochs: int
    stateful: dict[str, Any] | None
    tracked: bool
    epoch: int = 0
    history: list[float] | dict[str, list[float]] | None = None
    stopping: bool = False


def fit_epochs(run: Run, step: Callable[[Batch], float | dict[str, float]], images: torch.Tensor, *,
               module: torch.nn.Module, epochs: int, batch_size: int, generator: torch.Generator,
               targets: torch.Tensor | None = None, validation: Validation | None = None,
               end_epoch: Callable[[int, list | dict], bool | None] | None = None, track: bool = True,
               stateful: dict[str, Any] | None = None, desc: str | None = None) -> dict:
    """Train `module` for `epochs` epochs; returns the record that goes into `fit_info_`.

    Each epoch puts `module` in training mode and calls `step` once per batch of a fresh shuffle of `images`
    (indices drawn from `generator`), under bf16 autocast when `run.dtype` is bf16; `step` makes the method's update
    (the order of a GAN's updates stays visible in the method) and returns the batch's loss, or a dict of named
    losses. Then, in this order: `end_epoch(epoch, the losses so far)` (schedulers, statistics; True stops training
    early), model selection on `validation`, and the callbacks' `on_epoch_end` (with `track`, the caller's tracking
    among them). At the end the selected epoch's weights are restored and `module` is left in eval mode.

    `stateful` names the optimisers and schedulers `step` uses, for a `Checkpointing` callback to save and restore
    (methods whose `step` keeps other state between epochs, G2D's GAN phase, pass None and restart instead).

    The record: `epochs` run, the `precision` trained in, `train_loss` (per epoch, the mean over images: a list,
    or a dict of lists), `selection`, `best_epoch`, `val_history`, and `stopped_at` when `end_epoch` stopped it.
    """
    desc = desc or f"{run.name} epochs"
    state = LoopState(desc, {"params": run.identity, "images": list(images.shape), "epochs": epochs,
                             "batch_size": batch_size}, module, generator,
                      BestEpoch("none" if validation is None else validation.rule), epochs, stateful, track)
    step = torch.compile(step) if run.compile else step
    for callback in run.callbacks:
        callback.on_train_begin(state)
    for epoch in progress(range(state.epoch + 1, epochs + 1), desc, total=epochs, initial=state.epoch):
        module.train()
        totals = _train_epoch(run, step, images, targets, batch_size, generator, epoch)
        state.epoch, state.history = epoch, _appended(state.history, {k: v / len(images) for k, v in totals.items()})
        state.stopping = bool(end_epoch(epoch, state.history)) if end_epoch is not None else False
        state.best.update(epoch, module, *((None, None) if validation is None else (validation.values(), validation.labels)))
        for callback in run.callbacks:
            callback.on_epoch_end(state)
        if state.stopping:
            break
    for callback in run.callbacks:
        callback.on_train_end(state)
    state.best.restore(module)
    module.eval()
    return {"epochs": state.epoch, "precision": "bf16" if run.dtype == torch.bfloat16 else "fp32",
            "train_loss": _rounded(state.history if state.history is not None else []), **state.best.summary(),
            **({"stopped_at": state.epoch} if state.stopping else {})}


def _train_epoch(run: Run, step: Callable[[Batch], float | dict[str, float]], images: torch.Tensor,
                 targets: torch.Tensor | None, batch_size: int, generator: torch.Generator, epoch: int) -> dict[str, float]:
    """One epoch of update steps; the losses summed over images, by name ("" for a single loss)."""
    totals: dict[str, float] = {}
    for idx in batches(len(images), batch_size, generator):
        batch = Batch(to_device(images[idx], run.device), None if targets is None else targets[idx].to(run.device), epoch)
        with autocast(run.device, run.dtype):
            losses = step(batch)
        for k, v in (losses.items() if isinstance(losses, dict) else [("", losses)]):
            totals[k] = totals.get(k, 0.0) + v * len(idx)
    return totals


class EveryEpoch(Callback):
    """Calls `fn(epoch)` after each epoch of the loops a caller tracks (not pre-training), without gradients: e.g.
    to score the test set after every epoch (`Detector.score` puts the networks in eval mode; the next epoch puts
    the trained module back in training mode). It must not change training.

    Examples
    --------
    >>> import numpy as np, oneclass
    >>> seen = []
    >>> det = oneclass.create("ae", epochs=2, widths=(4, 8), latent_dim=4)
    >>> _ = det.fit(np.zeros((40, 8, 8), np.uint8), callbacks=[EveryEpoch(seen.append)])
    >>> seen
    [1, 2]
    """

    def __init__(self, fn: Callable[[int], Any]):
        self.fn = fn

    def on_epoch_end(self, state: LoopState) -> None:
        """Call `fn` after a tracked loop's epoch."""
        if state.tracked:
            with torch.no_grad():
                self.fn(state.epoch)


class EpochLines(Callback):
    """Prints one line per finished epoch (`desc`, the epoch, its mean losses) to `stream` (default stdout, beside
    the command's other output; stderr stays for errors): the progress that logs keep where no progress bar is
    drawn (the commands pass it when stderr is not a terminal)."""

    def __init__(self, stream: Any = None):
        self.stream = stream

    def on_epoch_end(self, state: LoopState) -> None:
        history = state.history if isinstance(state.history, dict) else {"loss": state.history or []}
        losses = ", ".join(f"{k or 'loss'} {v[-1]:.4g}" for k, v in history.items() if v)
        print(f"{state.desc}: epoch {state.epoch}/{state.epochs}" + (f", {losses}" if losses else ""),
              file=self.stream or sys.stdout, flush=True)


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


def _rounded(history: list[float] | dict[str, list[float]]) -> list[float] | dict[str, list[float]]:
    if isinstance(history, dict):
        return {k: _rounded(v) for k, v in history.items()}
    return [round(v, 6) for v in history]
