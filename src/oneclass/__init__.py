"""oneclass: one-class novelty and anomaly detection on images and video.

    det = oneclass.create("ae", seed=0)
    det.fit(train_images)               # normal images only
    scores = det.score(test_images)     # Scores: name -> array, higher = more anomalous
    det.save("run/model"); det = oneclass.load("run/model")

`import oneclass` loads neither torch nor any method: they are imported when first used.
"""

from __future__ import annotations

from typing import Any

from oneclass.registry import available

__version__ = "0.1.0"
__all__ = ["Decision", "Detector", "Scores", "available", "clone", "create", "load", "__version__"]

_FROM_CORE = ("Decision", "Detector", "Scores", "clone", "load")


def __getattr__(name: str) -> Any:
    if name == "create":  # with presets: `oneclass.create("oled", preset="paper")`
        from oneclass.settings import create

        return create
    if name in _FROM_CORE:
        from oneclass import core

        return getattr(core, name)
    raise AttributeError(f"module 'oneclass' has no attribute {name!r}")
