"""The research harness's settings of each method, kept apart from the estimators: the benchmark presets, the
paper's model-selection set and what a benchmark cell sets to follow the paper's protocol. They are data
(`harness.json`, one record per method); a method without a record (a plugin's, say) has no presets, no paper
validation set and the common benchmark settings.

- `presets`: hyper-parameters over the defaults by preset name. "fast" is the defaults themselves (the library's
  defaults are our CPU budget); "paper" sets the paper's network and schedule where they differ from them.
- `paper_validation`: e.g. {"val_normal": 150, "val_outliers": 150}, drawn by `bench`, `train` and `demo` where
  the protocol has outliers and the command sets neither count (`settings.resolve`).
- `benchmark_settings`: set on top of the preset by every benchmark cell (`bench.grid.Cell.settings`): every method
  trains on the whole training split (`calibration` 0); OLED also scales its scores over the test set, as its paper
  evaluates.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

#: what every benchmark cell sets, whatever the method
COMMON_BENCHMARK_SETTINGS = {"calibration": 0.0}


@dataclass(frozen=True)
class Harness:
    """One method's research settings (see the module's docstring)."""

    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    paper_validation: dict[str, int] = field(default_factory=dict)
    benchmark_settings: dict[str, Any] = field(default_factory=lambda: dict(COMMON_BENCHMARK_SETTINGS))


@functools.lru_cache(maxsize=1)
def _records() -> dict[str, dict[str, Any]]:
    return json.loads(resources.files("oneclass.bench").joinpath("harness.json").read_text(encoding="utf-8"))


def harness(method: str) -> Harness:
    """The research settings of `method` (JSON lists as tuples, as the hyper-parameters' defaults are).

    Examples
    --------
    >>> harness("oled").presets["paper"]["widths"]
    (64, 96, 128)
    >>> harness("ae").benchmark_settings
    {'calibration': 0.0}
    """
    record = _records().get(method, {})
    presets = {name: {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
               for name, values in record.get("presets", {}).items()}
    return Harness(presets, dict(record.get("paper_validation", {})),
                   {**COMMON_BENCHMARK_SETTINGS, **record.get("benchmark_settings", {})})
