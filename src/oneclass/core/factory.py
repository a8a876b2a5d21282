"""Detectors by name: `create` builds one with hyper-parameters, `detector_class` gives the class."""

from __future__ import annotations

from typing import Any

from oneclass.core.detector import Detector
from oneclass.errors import InputError
from oneclass.registry import detector_class

__all__ = ["create", "detector_class"]


def create(name: str, **params: Any) -> Detector:
    """Create a detector by name.

    Parameters
    ----------
    name : str
        A method (`oneclass.available()`).
    **params
        Its hyper-parameters; any left out take the method's defaults.

    Examples
    --------
    >>> import oneclass
    >>> oneclass.create("ae", latent_dim=8, seed=1)
    AE(latent_dim=8, seed=1)
    """
    cls = detector_class(name)
    unknown = sorted(set(params) - set(cls.param_names()))
    if unknown:
        raise InputError(f"{name}: unknown hyper-parameter(s) {', '.join(unknown)}; known: {', '.join(cls.param_names())}")
    return cls(**params)
