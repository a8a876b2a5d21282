"""The methods by name. Listing them imports nothing; a method's module (and torch) is imported on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from oneclass.errors import OneClassError

if TYPE_CHECKING:
    from oneclass.detector import Detector

#: method name -> the module that defines it (one file per method)
METHODS = {name: f"oneclass.methods.{name}"
           for name in ("ada", "adacl", "ae", "alocc", "cae", "dsvdd", "g2d", "knn_geom", "ocsvm", "oled", "vae")}

_CLASSES: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator of each method: the class that `detector_class(cls.name)` returns."""
    if cls.name not in METHODS or cls.name in _CLASSES:
        raise ValueError(f"detector name {cls.name!r} is not listed in registry.METHODS or is registered twice")
    _CLASSES[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of all methods."""
    return sorted(METHODS)


def detector_class(name: str) -> type[Detector]:
    """The Detector subclass of method `name`, importing its module if needed."""
    if name not in METHODS:
        raise OneClassError(f"unknown method {name!r}; available: {', '.join(available())}")
    if name not in _CLASSES:
        importlib.import_module(METHODS[name])
    return _CLASSES[name]
