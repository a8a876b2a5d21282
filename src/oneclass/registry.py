"""The methods by name. Listing them imports nothing; a method's module (and torch) is imported on first use.

Built-in methods and those of other packages are found the same way: through the `oneclass.methods` entry-point
group, each entry naming the class, e.g. `knn_geom = "oneclass.methods.knn_geom:KnnGeom"` in pyproject.toml.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from oneclass.errors import OneClassError

if TYPE_CHECKING:
    from oneclass.core import Detector

GROUP = "oneclass.methods"


@functools.lru_cache(maxsize=1)
def _entries() -> dict[str, str]:
    """Method name -> "module:Class", from the installed packages' metadata (nothing is imported)."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of all methods, built in or from plugins."""
    return sorted(_entries())


def is_method(name: str) -> bool:
    """Whether `name` is an installed method."""
    return name in _entries()


def detector_class(name: str) -> type[Detector]:
    """The Detector subclass of method `name`, importing its module if needed."""
    if not _entries():
        raise OneClassError("no methods are registered: oneclass is not installed (its entry points are read from the "
                            "installed metadata); run `pip install -e .` in the checkout, or `make`")
    if name not in _entries():
        raise OneClassError(f"unknown method {name!r}; available: {', '.join(available())}")
    module, _, attr = _entries()[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if getattr(cls, "name", None) != name:
        raise OneClassError(f"method {name!r}: its entry point {_entries()[name]} names a class called {cls.name!r}")
    return cls
