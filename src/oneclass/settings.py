"""How a command's settings become a detector's hyper-parameters and a protocol's options: presets, `--set`
KEY=VALUE, `--epochs`, `--seed`, `--device`, `--precision`. Every command that trains goes through `resolve`, so the same flag
means the same thing everywhere."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oneclass.bench.harness import harness
from oneclass.data.protocols import PROTOCOLS_WITHOUT_OUTLIERS, protocol_options
from oneclass.errors import InputError, OneClassError
from oneclass.registry import detector_class

if TYPE_CHECKING:
    from oneclass.core import Detector

PRESETS = ("paper", "fast")
#: the defaults of `oneclass serve`'s limits (here, so that the CLI can show them without importing FastAPI)
MAX_UPLOAD_MB = 20.0
MAX_IMAGES = 64
#: `--set` keys that configure the protocol (the split of the data) rather than the method: every protocol's options,
#: read from their signatures
SPLIT_OPTIONS = protocol_options()

def create(name: str, preset: str = "fast", **params: Any) -> Detector:
    """Create a detector by name under a preset, with `params` on top.

    Parameters
    ----------
    name : str
        A method (`oneclass.available()`).
    preset : {"fast", "paper"}
        "fast" (default): the method's defaults, our CPU budget; "paper": the paper's network and schedule
        (`oneclass.bench.harness`), which can take hours on a CPU.
    **params
        Hyper-parameters over the preset.

    Examples
    --------
    >>> import oneclass
    >>> oneclass.create("oled").epochs, oneclass.create("oled", preset="paper").epochs
    (30, 300)
    >>> oneclass.create("oled", preset="paper", epochs=5).get_params()["widths"]
    (64, 96, 128)
    """
    from oneclass.core.factory import create as create_detector

    if preset not in PRESETS:
        raise InputError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    return create_detector(name, **{**harness(name).presets.get(preset, {}), **params})


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items as a dict; values are parsed as JSON when they can be (3, 0.5, [1, 2], null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OneClassError(f"--set {item[:60]!r}: expected KEY=VALUE, e.g. --set lr=0.001")
        if len(key) > 64 or not key.isidentifier():
            raise OneClassError(f"--set {key[:40]!r}{'...' if len(key) > 40 else ''}: not a hyper-parameter name "
                                "(letters, digits and _); `oneclass train --help` lists where to find them")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def overrides_from(sets: list[str], epochs: int | None = None, device: str | None = None,
                   precision: str | None = None) -> dict[str, Any]:
    """What a command line sets on top of the preset: `--set` items, then `--epochs`, `--device` and `--precision`
    where given."""
    overrides = parse_sets(sets)
    for key, value in (("epochs", epochs), ("device", device), ("precision", precision)):
        if value is not None:
            overrides[key] = value
    return overrides


def resolve(method: str, preset: str, overrides: dict[str, Any], seed: int,
            protocol: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hyper-parameters, protocol options) of `method` under `preset` with `overrides` on top, checked before any
    work starts: an unknown key names the valid ones, a bad value the rule it breaks. Given the `protocol`, the
    method's paper validation set (`bench.harness`) is added where the protocol has outliers and neither count is set."""
    if preset not in PRESETS:
        raise OneClassError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    cls = detector_class(method)
    settings = harness(method)
    merged = {**settings.presets.get(preset, {}), **overrides}
    if "epochs" in overrides and "epochs" not in cls.param_names():
        raise OneClassError(f"--epochs: method {method!r} has no epochs")
    if isinstance(overrides.get("epochs"), int):  # every training phase, not the main one only
        defaults = cls.param_defaults()
        for phase in (p for p in cls.param_names() if p.endswith("_epochs") and p not in overrides):
            value = merged.get(phase, defaults[phase])
            if isinstance(value, int):
                merged[phase] = min(value, overrides["epochs"])
    split = {k: merged.pop(k) for k in SPLIT_OPTIONS if k in merged}
    if protocol is not None and protocol not in PROTOCOLS_WITHOUT_OUTLIERS and not {"val_normal", "val_outliers"} & set(split):
        split = {**settings.paper_validation, **split}
    unknown = sorted(set(merged) - set(cls.param_names()))
    if unknown:
        raise OneClassError(f"{method} has no hyper-parameter {unknown[0]!r}; it has {', '.join(cls.param_names())} "
                            f"(and the protocols' options {', '.join(SPLIT_OPTIONS)})")
    params = {**merged, "seed": seed}
    cls.check_params(params)
    return params, split
