"""Hyper-parameters as scikit-learn keeps them: keyword arguments of `__init__`, stored unchanged under the same
names, read with `get_params`, changed with `set_params`, copied unfitted with `clone`; each checked against its
declared rule (`oneclass.params`) when the detector is built or changed, so a bad value fails before any work."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from oneclass import params as rules
from oneclass.errors import InputError

T = TypeVar("T", bound="Parameterised")


class Parameterised:
    """Base of the detectors' parameter handling (see the module's docstring).

    Subclasses take every hyper-parameter as a keyword argument of `__init__` with its default, store them with
    `self._set_params(locals())`, and declare a rule for each in `param_rules` (the base's in `common_rules`);
    combinations go in `_check_combinations`.
    """

    param_rules: ClassVar[dict[str, rules.Rule]] = {}
    common_rules: ClassVar[dict[str, rules.Rule]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap each `__init__` so that, once the outermost one has stored every hyper-parameter, they are checked."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__init__

        @functools.wraps(init)
        def checked_init(self: Parameterised, *args: Any, **params: Any) -> None:
            init(self, *args, **params)
            if type(self).__init__ is checked_init:
                self.check_params(self.get_params())

        cls.__init__ = checked_init

    def _set_params(self, values: Mapping[str, Any]) -> None:
        """Store every hyper-parameter of `__init__` under its own name, unchanged: a method's `__init__` body is
        `self._set_params(locals())`."""
        for name in self.param_names():
            setattr(self, name, values[name])

    @classmethod
    def param_names(cls) -> list[str]:
        """The hyper-parameters' names, in the order of `__init__`."""
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """Each hyper-parameter's default."""
        return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"}

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as set (not as `fit` resolved them)."""
        return {p: getattr(self, p) for p in self.param_names()}

    def set_params(self: T, **params: Any) -> T:
        """Change hyper-parameters, checked as at construction; returns the detector (scikit-learn's contract)."""
        unknown = sorted(set(params) - set(self.param_names()))
        if unknown:
            raise InputError(f"{type(self).__name__}: unknown hyper-parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(self.param_names())}")
        self.check_params({**self.get_params(), **params})
        for name, value in params.items():
            setattr(self, name, value)
        return self

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> None:
        """Refuse, with one InputError naming the parameter, any value that breaks its declared rule or a
        combination rule."""
        declared = {**cls.common_rules, **cls.param_rules}
        for name, value in params.items():
            declared[name].check(name, value)
        cls._check_combinations({**cls.param_defaults(), **params})

    @classmethod
    def _check_combinations(cls, params: dict[str, Any]) -> None:
        """Checks that involve several hyper-parameters (e.g. x_l < x_h); a method overrides it when it has any."""

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


def clone(estimator: T) -> T:
    """A new, unfitted detector with the same hyper-parameters (scikit-learn's `clone`).

    Examples
    --------
    >>> import oneclass
    >>> det = oneclass.create("ae", latent_dim=8)
    >>> copy = clone(det)
    >>> copy.latent_dim, copy is det
    (8, False)
    """
    return type(estimator)(**estimator.get_params())
