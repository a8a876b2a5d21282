"""The core a method builds on and a user calls: `Detector` (fit, score, decide), its scores and decision, one
result per image, input validation, parameters, and persistence.

Import layers, each importing only those before it (`tests/test_layers.py` keeps them): `errors`, `params`,
`files` → `runtime`, `metrics`, `checkpoint`, `training` → `core` → `methods` → `data`, `export`, `serve`,
`evaluation`, `report`, `bench`, `demo` → `cli`. Importing this package loads no torch until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module of this package that defines it
_NAMES = {"MAP": "detector", "Detector": "detector", "TorchDetector": "torch_detector", "as_images": "inputs",
          "as_labels": "inputs", "check_shape": "inputs", "clone": "parameters", "load": "persistence",
          "save": "persistence", "Decision": "scores", "Scores": "scores", "minmax": "scores",
          "ImageResult": "results", "image_results": "results",
          "Capabilities": "capabilities", "create": "factory", "detector_class": "factory"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"oneclass.core.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'oneclass.core' has no attribute {name!r}")
