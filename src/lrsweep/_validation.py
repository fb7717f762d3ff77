"""Parameter constraints as data, and the one message template for violations.

Every public entry point declares what each parameter may be in a table of
:class:`Constraint` objects (scikit-learn's ``_param_validation`` habit); a
violation raises :class:`ParameterError` (a ``ValueError``) or
:class:`ParameterTypeError` (a ``TypeError``) with the message::

    The 'lr' parameter of SweepConfig must be a float in the range [0, inf). Got -0.1 instead.

Written by hand rather than taken from scikit-learn because lrsweep must not
depend on scikit-learn for a few dozen lines, and its axes (scalar or
sequence) need element-wise checks that sklearn's validator does not do.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Constraint",
    "Interval",
    "OneOf",
    "ParameterError",
    "ParameterTypeError",
    "message",
]


class ParameterError(ValueError):
    """A parameter has a value outside what is allowed."""


class ParameterTypeError(ParameterError, TypeError):
    """A parameter has a type that is not allowed."""


def _fmt(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float | numbers.Real) and not isinstance(value, bool | numbers.Integral):
        return repr(float(value))
    return repr(value)


def message(name: str, owner: str, allowed: str, value: object) -> str:
    """The one message template for a violated constraint."""
    return f"The {name!r} parameter of {owner} must be {allowed}. Got {_fmt(value)} instead."


class Constraint:
    """What one parameter (or each element of one axis) may be."""

    description: str

    def check(self, name: str, owner: str, value: object) -> object:
        """Return the normalised value or raise a ``ParameterError``."""
        raise NotImplementedError

    def invalid_example(self) -> object:
        """A value violating this constraint (used by the constraint tests)."""
        raise NotImplementedError


def _fmt_bound(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class Interval(Constraint):
    """A real (``kind="float"``) or integer (``kind="int"``) number in a range."""

    kind: str
    lo: float
    hi: float
    closed: str = "both"  # "both", "left", "right", "neither"

    @property
    def description(self) -> str:  # type: ignore[override]
        left = "[" if self.closed in ("both", "left") and math.isfinite(self.lo) else "("
        right = "]" if self.closed in ("both", "right") and math.isfinite(self.hi) else ")"
        rng = f"{left}{_fmt_bound(self.lo)}, {_fmt_bound(self.hi)}{right}"
        article = "an" if self.kind == "int" else "a"
        return f"{article} {self.kind} in the range {rng}"

    def _contains(self, v: float) -> bool:
        if math.isnan(v):
            return False
        lo_ok = v >= self.lo if self.closed in ("both", "left") else v > self.lo
        hi_ok = v <= self.hi if self.closed in ("both", "right") else v < self.hi
        return lo_ok and hi_ok

    def check(self, name: str, owner: str, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterTypeError(message(name, owner, self.description, value))
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ParameterTypeError(message(name, owner, self.description, value))
            v: float | int = int(value)
        else:
            v = float(value)
        if not self._contains(float(v)):
            raise ParameterError(message(name, owner, self.description, value))
        return v

    def invalid_example(self) -> object:
        if math.isfinite(self.lo):
            return self.lo - 1 if self.kind == "int" else self.lo - 0.5
        if math.isfinite(self.hi):
            return self.hi + 1 if self.kind == "int" else self.hi + 0.5
        return float("nan")


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    @property
    def description(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, name: str, owner: str, value: object) -> object:
        if not isinstance(value, str):
            raise ParameterTypeError(message(name, owner, self.description, value))
        if value not in self.options:
            raise ParameterError(message(name, owner, self.description, value))
        return value

    def invalid_example(self) -> object:
        return "no-such-" + self.options[0]


def as_axis(name: str, owner: str, value: object, constraint: Constraint) -> tuple:
    """Normalise a scalar-or-sequence axis value to a validated tuple.

    A scalar becomes a one-element tuple; a sequence (list, tuple, range,
    1-D NumPy array) is checked element by element. Empty sequences and
    duplicate values are rejected: each value of an axis names one slice of
    the grid.
    """
    import numpy as np

    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray | range):
        if isinstance(value, np.generic):
            value = value.item()
        items = [value]
    else:
        arr = value
        if isinstance(arr, np.ndarray):
            if arr.ndim != 1:
                raise ParameterError(
                    message(name, owner, "a scalar or a 1-D sequence", f"an array of shape {arr.shape}")
                )
            items = arr.tolist()
        else:
            items = [v.item() if isinstance(v, np.generic) else v for v in arr]
        if not items:
            raise ParameterError(message(name, owner, "a scalar or a non-empty sequence", value))
    out = tuple(constraint.check(name, owner, v) for v in items)
    if len(set(out)) != len(out):
        dup = next(v for v in out if out.count(v) > 1)
        raise ParameterError(
            message(name, owner, "a sequence without repeated values", dup)
        )
    return out
