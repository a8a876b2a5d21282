"""Declared checks of hyper-parameters. Each method lists one rule per parameter (`Detector.param_rules`); a value
that breaks its rule is refused with one message form: "NAME must be WHAT, got VALUE"."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from oneclass.errors import InputError

#: the largest input a detector is built for: each side at most this many pixels, so that a tampered config or a
#: careless `input_shape` cannot ask for gigabytes of weights
MAX_INPUT_SIDE = 1024


@dataclass(frozen=True)
class Rule:
    """What a value must be (`description`, for the message) and the test that says whether it is."""

    description: str
    test: Callable[[Any], bool]
    optional: bool = False  # None is allowed (the method then derives the value)

    def check(self, name: str, value: Any) -> None:
        """Refuse `value` with one InputError naming `name` where it breaks the rule."""
        if value is None and self.optional:
            return
        try:
            ok = bool(self.test(value))
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise InputError(f"{name} must be {self.description}{' (or null)' if self.optional else ''}, got {value!r}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) and math.isfinite(v)


def _is_sequence(v: Any) -> bool:
    return isinstance(v, list | tuple)


def _bounds_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def _within(v: float, low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> bool:
    return ((low is None or (v > low if low_open else v >= low)) and
            (high is None or (v < high if high_open else v <= high)))


def integer(low: int | None = None, high: int | None = None, *, optional: bool = False) -> Rule:
    """An integer (not a bool) in the given bounds."""
    return Rule("an integer" + _bounds_text(low, high, False, False),
                lambda v: _is_int(v) and _within(v, low, high), optional)


def odd_integer(low: int = 1) -> Rule:
    """An odd integer >= low: a convolution kernel, whose 'same' padding (kernel // 2) needs an odd size."""
    return Rule(f"an odd integer >= {low}", lambda v: _is_int(v) and v >= low and v % 2 == 1)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
           optional: bool = False) -> Rule:
    """A finite number in the given bounds."""
    return Rule("a finite number" + _bounds_text(low, high, low_open, high_open),
                lambda v: _is_number(v) and _within(v, low, high, low_open, high_open), optional)


def one_of(*values: Any) -> Rule:
    """One of the given values."""
    return Rule("one of " + ", ".join(map(repr, values)), lambda v: isinstance(v, str | bool) and v in values)


def either(first: Rule, second: Rule) -> Rule:
    """A value that passes either rule, e.g. a number or a named rule for deriving it."""
    return Rule(f"{first.description} or {second.description}", lambda v: first.test(v) or second.test(v),
                first.optional or second.optional)


def flag() -> Rule:
    """True or False."""
    return Rule("true or false", lambda v: isinstance(v, bool | np.bool_))


def integers(low: int = 1, *, min_length: int = 1, optional: bool = False) -> Rule:
    """A list of integers, each in the given bounds."""
    return Rule(f"a list of {min_length} or more integers >= {low}",
                lambda v: _is_sequence(v) and len(v) >= min_length and all(_is_int(x) and x >= low for x in v), optional)


def numbers(low: float, high: float, *, length: int, low_open: bool = False, high_open: bool = False) -> Rule:
    """A list of numbers, each in the given bounds."""
    return Rule(f"a list of {length} numbers{_bounds_text(low, high, low_open, high_open)}",
                lambda v: _is_sequence(v) and len(v) == length
                and all(_is_number(x) and _within(x, low, high, low_open, high_open) for x in v))


def subset_of(*values: str) -> Rule:
    """A non-empty list of distinct values drawn from `choices`."""
    return Rule(f"a non-empty list drawn from {', '.join(values)} (e.g. [{values[0]!r}])",
                lambda v: _is_sequence(v) and len(v) > 0 and all(isinstance(x, str) and x in values for x in v))


def image_shape() -> Rule:
    """(C, H, W) with C = 1 or 3 and sides of 1 to MAX_INPUT_SIDE pixels."""
    return Rule(f"(channels, height, width) with 1 or 3 channels and sides of 1 to {MAX_INPUT_SIDE} pixels",
                lambda v: _is_sequence(v) and len(v) == 3 and all(_is_int(x) for x in v) and v[0] in (1, 3)
                and all(1 <= x <= MAX_INPUT_SIDE for x in v[1:]), optional=True)


def device_name() -> Rule:
    """'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    return Rule("'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'",
                lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None)

