"""Epoch checkpoints of the training loop, so that a run killed between epochs resumes where it stopped and ends
with exactly the weights an uninterrupted run has. A checkpoint is one safetensors file (every tensor: network,
optimiser and scheduler state, the best epoch's weights, random-number-generator states) and one JSON file
(everything else); nothing is pickled. Each file is written whole (`files.write_atomic`), JSON last."""

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


class Checkpoint:
    """The checkpoint at `<directory>/<name>.json` + `.safetensors`. `fingerprint` (JSON) says what run it belongs
    to; a checkpoint with another fingerprint, or a damaged one, is ignored."""

    def __init__(self, directory: str | Path, name: str, fingerprint: Any):
        stem = "".join(c if c.isalnum() else "-" for c in name)
        self.json_path = Path(directory) / f"{stem}.json"
        self.tensors_path = Path(directory) / f"{stem}.safetensors"
        self.fingerprint = json.loads(json.dumps(fingerprint, default=str))

    def save(self, state: dict[str, Any]) -> None:
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
        self.json_path.unlink(missing_ok=True)
        self.tensors_path.unlink(missing_ok=True)


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
