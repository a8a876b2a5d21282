"""Benchmark grids: cells, executors, the results file, reports beside the papers' numbers, and the research
harness's settings of each method (`harness`). Importing the package loads no torch until a name that needs it is
used."""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"Cell": "grid", "changed_settings": "grid", "make_cells": "grid", "parse_classes": "grid", "run_cell": "grid",
          "run_grid": "grid", "resume_plan": "grid", "ResultsFile": "results", "read_results": "results", "harness": "harness",
          "prepare": "grid"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"oneclass.bench.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'oneclass.bench' has no attribute {name!r}")
