"""Epoch checkpoints of the training loop, so that a run killed between epochs resumes where it stopped and ends
with exactly the weights an uninterrupted run has. A checkpoint is one safetensors file (every tensor: network,
optimiser and scheduler state, the best epoch's weights, random-number-generator states) and one JSON file
(everything else); nothing is pickled. Each file is written whole (`files.write_atomic`), JSON last.
`Checkpointing` is the callback that writes them after every epoch and restores them when a run starts again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from oneclass.files import write_atomic
from oneclass.training import Callback, LoopState


class Checkpoint:
    """The checkpoint at `<directory>/<name>.json` + `.safetensors`. `fingerprint` (JSON) says what run it belongs
    to; a checkpoint with another fingerprint, or a damaged one, is ignored."""

    def __init__(self, directory: str | Path, name: str, fingerprint: Any):
        stem = "".join(c if c.isalnum() else "-" for c in name)
        self.json_path = Path(directory) / f"{stem}.json"
        self.tensors_path = Path(directory) / f"{stem}.safetensors"
        self.fingerprint = json.loads(json.dumps(fingerprint, default=str))

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` (tensors to safetensors, the rest to JSON), each file whole."""
        tensors: dict[str, torch.Tensor] = {}
        plain = _flatten(state, "", tensors)
        write_atomic(self.tensors_path, save_tensors(tensors))
        write_atomic(self.json_path, json.dumps({"fingerprint": self.fingerprint, "state": plain}))

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is no usable checkpoint of this run."""
        try:
            doc = json.loads(self.json_path.read_text())
            tensors = load_tensors(self.tensors_path.read_bytes())
        except (OSError, ValueError, SafetensorError):
            return None
        if not isinstance(doc, dict) or doc.get("fingerprint") != self.fingerprint:
            return None
        try:
            return _unflatten(doc["state"], tensors)
        except (KeyError, TypeError, ValueError):
            return None

    def remove(self) -> None:
        """Delete both files (when training ends)."""
        self.json_path.unlink(missing_ok=True)
        self.tensors_path.unlink(missing_ok=True)


class Checkpointing(Callback):
    """Give `fit(..., callbacks=[Checkpointing(folder)])` to write a checkpoint into `folder` after every epoch of
    every loop whose method names its optimisers (`stateful`) and, when a checkpoint of the same run is there, to
    continue after its epoch: the weights, optimisers, schedulers, generators' states, losses and the selection so
    far are restored, so the result equals an uninterrupted run's. Each loop's checkpoint is removed when it ends."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._open: dict[str, Checkpoint] = {}

    def on_train_begin(self, state: LoopState) -> None:
        """Continue from this run's checkpoint, if there is one."""
        if state.stateful is None:
            return
        checkpoint = self._open[state.desc] = Checkpoint(self.directory, state.desc, state.key)
        saved = checkpoint.load()
        if saved is None:
            return
        state.epoch, state.history = saved["epoch"], saved["history"]
        state.module.load_state_dict(saved["module"])
        for name, obj in state.stateful.items():
            obj.load_state_dict(saved["objects"][name])
        state.generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        state.best.load_state(saved["best"])

    def on_epoch_end(self, state: LoopState) -> None:
        """Save the loop's state after every epoch but the last."""
        checkpoint = self._open.get(state.desc)
        if checkpoint is None or state.stopping or state.epoch >= state.epochs:
            return
        checkpoint.save({"epoch": state.epoch, "history": state.history, "module": state.module.state_dict(),
                         "objects": {name: obj.state_dict() for name, obj in state.stateful.items()},
                         "generator": state.generator.get_state(), "torch_rng": torch.get_rng_state(),
                         "best": state.best.state()})

    def on_train_end(self, state: LoopState) -> None:
        """Remove the loop's checkpoint."""
        checkpoint = self._open.pop(state.desc, None)
        if checkpoint is not None:
            checkpoint.remove()


def _flatten(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON for `obj`, with every tensor moved into `tensors` under a path-like key. Dicts keep their key types
    (optimiser states are keyed by int) and Counters stay Counters (MultiStepLR's milestones)."""
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"tensor": key}
    if isinstance(obj, dict):
        return {"dict": [[k, _flatten(v, f"{key}/{k}", tensors)] for k, v in obj.items()],
                "counter": isinstance(obj, Counter)}
    if isinstance(obj, list | tuple):
        return {"list": [_flatten(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, bool | int | float | str):
        return {"value": obj}
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} at {key!r}")


def _unflatten(obj: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any:
    if "tensor" in obj:
        return tensors[obj["tensor"]]
    if "dict" in obj:
        items = {k: _unflatten(v, tensors) for k, v in obj["dict"]}
        return Counter(items) if obj["counter"] else items
    if "list" in obj:
        values = [_unflatten(v, tensors) for v in obj["list"]]
        return tuple(values) if obj["tuple"] else values
    return obj["value"]
