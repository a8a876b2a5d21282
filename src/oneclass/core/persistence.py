"""Saving and loading detectors: a directory with `config.json` (method, hyper-parameters, input shape,
normalisation, learned JSON state, decision, fit summary, the weights' SHA-256) and `weights.safetensors`; nothing
is ever unpickled. A save builds the new folder beside the old and switches it in with one rename
(`files.written_whole`), so a crash leaves the old model or the new one, and `load` refuses weights whose digest
is not the one their config recorded.

Each change of the config's layout bumps `FORMAT_VERSION` and adds one numbered step to `MIGRATIONS` that turns a
config of the version before into the next, so every older model loads through the same steps.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from oneclass import params as rules
from oneclass.core.detector import Detector
from oneclass.core.scores import Decision
from oneclass.errors import InputError, ModelFileError, OneClassError
from oneclass.files import MODEL_FILES, put_back, write_atomic, written_whole
from oneclass.registry import available, detector_class, is_method
from oneclass.runtime import PRECISIONS

FORMAT = "oneclass-detector"
FORMAT_VERSION = 3
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
MAX_CONFIG_BYTES = 10_000_000


def _to_version_1(config: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (no version field) had version 1's layout."""
    return config


def _to_version_2(config: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the fitted input shape in params["input_shape"]; version 2 keeps it in "input_shape". Early
    version-1 files lack "fit_info", "state" (then in fit_info) and "decision" (they score but do not decide)."""
    params = config.get("params")
    shape = params.get("input_shape") if isinstance(params, dict) else None
    return {"fit_info": {}, "state": {}, "decision": None, **config, "input_shape": shape}


def _to_version_3(config: dict[str, Any]) -> dict[str, Any]:
    """Version 3 records the weights' SHA-256 ("weights_sha256"); older files have none to check."""
    return {"weights_sha256": None, **config}


#: MIGRATIONS[v] turns a config of format version v into version v + 1
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _to_version_1, 1: _to_version_2,
                                                                      2: _to_version_3}


def save(det: Detector, path: str | Path) -> Path:
    """Write `det`'s `config.json` and `weights.safetensors` as directory `path`, replacing a model saved there
    before as a whole (never a folder holding other files); returns the path."""
    det._require_fitted()
    out = Path(path)
    check_model_folder(out)
    tensors = {k: v.detach().cpu().contiguous() for k, v in det._state_tensors().items()}
    weights = save_tensors(tensors, metadata={"format": FORMAT, "method": det.name})
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "oneclass_version": _version(),
        "method": det.name,
        "params": jsonable(det.get_params()),
        "input_shape": list(det.input_shape_),
        "normalisation": det.normalisation_,
        "state": jsonable({k: getattr(det, k) for k in det.state_attributes}),
        "decision": None if det.decision_ is None else det.decision_.to_json(),
        "fit_info": jsonable(det.fit_info_),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    with written_whole(out, "save:") as new:
        write_atomic(new / WEIGHTS_FILE, weights)
        write_atomic(new / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return out


def check_model_folder(path: Path, option: str = "save:") -> None:
    """Refuse, before any work, a `path` that is a file or a folder holding anything but a oneclass model."""
    if path.exists() and not path.is_dir():
        raise OneClassError(f"{option} {path} is a file; give a folder (new, empty or a model's)")
    if not path.is_dir():
        return
    foreign = [p.name for p in sorted(path.iterdir()) if not _is_model_file(p)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OneClassError(f"{option} {path} holds files that are not a oneclass model's ({shown}); choose a new or "
                            "empty folder")


def _is_model_file(p: Path) -> bool:
    """Whether `p`, in a model folder, is one of `files.MODEL_FILES`: a config.json of ours, a detector/ folder
    holding only model files."""
    from fnmatch import fnmatch

    if not any(fnmatch(p.name, pattern) for pattern in MODEL_FILES) or p.is_symlink():
        return False
    if p.is_dir():
        return p.name == "detector" and all(_is_model_file(q) for q in p.iterdir())
    if p.name == CONFIG_FILE:
        try:
            return str(json.loads(p.read_text()).get("format", "")).startswith("oneclass")
        except (OSError, ValueError, AttributeError):
            return False
    return p.is_file()


def load(path: str | Path, device: str | None = None, precision: str | None = None) -> Detector:
    """Load a detector saved with `Detector.save`.

    Parameters
    ----------
    path : str or Path
        The model directory.
    device : str, optional
        Where to score (default: as saved, falling back to "auto" where this machine lacks that device).
    precision : {"fp32", "bf16", "auto"}, optional
        What `score` computes in (default fp32).

    Raises
    ------
    ModelFileError
        One line naming the file: not a oneclass model, from a newer oneclass, damaged or edited into something
        that cannot be used.
    """
    if precision is not None:
        rules.one_of(*PRECISIONS).check("precision", precision)
    root = Path(path)
    put_back(root)  # a save that died half-way through its fallback switch left the old model aside
    config_path, weights_path = root / CONFIG_FILE, root / WEIGHTS_FILE
    if not root.is_dir():
        raise ModelFileError(f"{root}: no such model directory")
    for p in (config_path, weights_path):
        if not p.is_file():
            raise ModelFileError(f"{root}: missing {p.name}; is this a directory written by `oneclass train` or Detector.save?")
    config = read_config(config_path)
    det = _unfitted(config, config_path, device)
    tensors = _read_tensors(weights_path, config["weights_sha256"])
    det.normalisation_ = config["normalisation"]
    det.fit_info_ = config["fit_info"]
    det.input_shape_ = config["input_shape"]
    try:
        decision = config.get("decision")
        det.decision_ = None if decision is None else Decision.from_json(decision, str(config_path))
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    for name in det.state_attributes:  # models saved before "state" existed kept these in fit_info
        value = config["state"].get(name, config["fit_info"].get(name.rstrip("_")))
        if value is None:
            raise ModelFileError(f"{config_path}: no {name!r} in \"state\"; the file was edited or is damaged")
        setattr(det, name, value)
    try:
        probe = det._normalise(torch.zeros(1, *det.input_shape_))
        det._load_state_tensors(tensors)
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{weights_path}: weights do not match method {det.name!r} with the settings in "
                             f"{CONFIG_FILE} ({detail})") from None
    if not torch.isfinite(probe).all():
        raise ModelFileError(f"{config_path}: the normalisation {config['normalisation']} is not usable")
    if precision is not None:
        det.scoring_precision = precision
    return det


def _unfitted(config: dict[str, Any], config_path: Path, device: str | None) -> Detector:
    """The detector the config describes, before its learned state is set."""
    if not is_method(config["method"]):
        raise ModelFileError(f"{config_path}: unknown method {config['method']!r}; available: {', '.join(available())}")
    cls = detector_class(config["method"])
    params = dict(config["params"])
    unknown = set(params) - set(cls.param_names())
    if unknown:
        raise ModelFileError(f"{config_path}: parameters {sorted(unknown)} unknown to method {cls.name!r}")
    if device is not None:
        params["device"] = device
    try:
        det = cls(**_restore_tuples(cls, params))
        _check_device(det, fall_back=device is None)
    except InputError as exc:
        raise ModelFileError(f"{config_path}: {exc}") from None
    return det


def _read_tensors(weights_path: Path, sha256: str | None) -> dict[str, torch.Tensor]:
    """The weights, refused where their digest is not the one config.json recorded (a folder mixing two saves, or
    edited) or where they are not finite."""
    try:
        data = weights_path.read_bytes()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ModelFileError(f"{weights_path}: not the weights {CONFIG_FILE} was saved with (their SHA-256 "
                                 "differs); the folder was changed after saving: train or save the model again")
        tensors = load_tensors(data)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights_path}: unreadable safetensors file ({exc})") from None
    damaged = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if damaged:
        raise ModelFileError(f"{weights_path}: {len(damaged)} tensor(s) hold NaN or infinite values ({', '.join(damaged[:3])}); "
                             "the file is damaged: restore it or train again")
    return tensors


def read_config(path: Path) -> dict[str, Any]:
    """config.json, brought to the current format by `MIGRATIONS` and checked for the fields `load` reads."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{path}: {path.stat().st_size} bytes is too large for a model's config")
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a oneclass model file (no \"format\": \"{FORMAT}\")")
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= FORMAT_VERSION:
        raise ModelFileError(f"{path}: written by a newer oneclass (format {version!r}); upgrade oneclass")
    for step in range(version, FORMAT_VERSION):
        config = MIGRATIONS[step](config)
    digest = config.get("weights_sha256")
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
        raise ModelFileError(f"{path}: field 'weights_sha256' must be 64 hexadecimal digits or null")
    for field, kind in (("method", str), ("params", dict), ("normalisation", dict), ("state", dict), ("fit_info", dict)):
        if not isinstance(config.get(field), kind):
            found = "missing" if field not in config else f"a {type(config[field]).__name__}"
            raise ModelFileError(f"{path}: field {field!r} must be a {kind.__name__}, found {found}")
    shape = config.get("input_shape")
    if shape is None:
        raise ModelFileError(f"{path}: no input_shape; the file was edited or is not a fitted model")
    try:
        rules.image_shape().check("input_shape", shape)
    except InputError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    config["input_shape"] = tuple(shape)
    return config


def _check_device(det: Detector, fall_back: bool) -> None:
    """Refuse a device this machine does not have, or, with `fall_back` (the device was saved, not asked for), let
    it give way to "auto": a model trained on a GPU loads on a machine without one."""
    try:
        det.torch_device  # noqa: B018  (the property checks the device)
    except InputError:
        if not fall_back:
            raise
        det.device = "auto"


def jsonable(value: Any) -> Any:
    """`value` with tuples as lists, NumPy scalars as Python numbers and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _restore_tuples(cls: type[Detector], params: dict[str, Any]) -> dict[str, Any]:
    """JSON turns tuples into lists; give tuple-valued parameters their tuples back."""
    sig = inspect.signature(cls.__init__).parameters
    tuple_valued = {k for k, p in sig.items() if isinstance(p.default, tuple) or k == "input_shape"}
    return {k: tuple(v) if isinstance(v, list) and k in tuple_valued else v for k, v in params.items()}


def _version() -> str:
    from oneclass import __version__

    return __version__
