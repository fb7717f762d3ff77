"""Parameter constraints as data, and the one message template for violations.

Every public entry point declares what each parameter may be in a table of
:class:`Constraint` objects (scikit-learn's ``_param_validation`` habit):
:class:`~lrsweep.SweepConfig` in :data:`lrsweep.config.AXES` /
:data:`~lrsweep.config.SETTINGS`, every public function through the
:func:`validate_params` decorator. A violation raises :class:`ParameterError`
(a ``ValueError``) or :class:`ParameterTypeError` (also a ``TypeError``) with
the message::

    The 'lr' parameter of SweepConfig must be a float in the range [0, inf). Got -0.1 instead.

Each constraint also makes a value that violates it
(:meth:`Constraint.invalid_example`), so the tests generate one failing call
per parameter of every public signature from the same tables.

Written by hand rather than taken from scikit-learn because lrsweep must not
depend on scikit-learn for a few dozen lines, and its axes (scalar or
sequence) and theory arguments (arrays of datasets) need element-wise checks
that sklearn's validator does not do. NumPy is imported lazily: importing
this module (and ``lrsweep``) stays cheap.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "VALIDATED",
    "Array",
    "Boolean",
    "Constraint",
    "Described",
    "InstanceOf",
    "Interval",
    "ListOf",
    "NoneOr",
    "OneOf",
    "ParameterError",
    "ParameterTypeError",
    "PathLike",
    "RandomSource",
    "StrList",
    "message",
    "validate",
    "validate_params",
]


class ParameterError(ValueError):
    """A parameter has a value outside what is allowed."""


class ParameterTypeError(ParameterError, TypeError):
    """A parameter has a type that is not allowed."""


class Described(str):
    """A description standing in for a value in a message (shown without quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _fmt(value: object) -> str:
    if isinstance(value, Described):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # NumPy scalars print as Python numbers
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float | numbers.Real) and not isinstance(value, bool | numbers.Integral):
        return repr(float(value))
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def message(name: str, owner: str, allowed: str, value: object) -> str:
    """The one message template for a violated constraint."""
    return f"The {name!r} parameter of {owner} must be {allowed}. Got {_fmt(value)} instead."


class Constraint:
    """What one parameter (or each element of one axis) may be."""

    description: str

    def check(self, name: str, owner: str, value: object) -> Any:
        """Return the normalised value or raise a ``ParameterError``."""
        raise NotImplementedError

    def invalid_example(self) -> object:
        """A value violating this constraint (used by the constraint tests)."""
        raise NotImplementedError


def _fmt_bound(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if isinstance(x, int) and abs(x) >= 2**32:  # 2**63 - 1 reads better than 9223372036854775807
        for k in range(32, 1100):
            for off, text in ((0, f"2**{k}"), (-1, f"2**{k} - 1")):
                if abs(x) == 2**k + off:
                    return text if x > 0 else f"-({text})"
    if isinstance(x, float) and abs(x) >= 1e16:
        return repr(x)  # 1e+30, not 1000000000000000019884624838656
    return repr(int(x)) if float(x).is_integer() else repr(x)


def _range(lo: float, hi: float, closed: str) -> str:
    left = "[" if closed in ("both", "left") and math.isfinite(lo) else "("
    right = "]" if closed in ("both", "right") and math.isfinite(hi) else ")"
    return f"{left}{_fmt_bound(lo)}, {_fmt_bound(hi)}{right}"


@dataclass(frozen=True)
class Interval(Constraint):
    """A real (``kind="float"``) or integer (``kind="int"``) number in a range."""

    kind: str
    lo: float
    hi: float
    closed: str = "both"  # "both", "left", "right", "neither"

    @property
    def description(self) -> str:  # type: ignore[override]
        article = "an" if self.kind == "int" else "a"
        return f"{article} {self.kind} in the range {_range(self.lo, self.hi, self.closed)}"

    def _contains(self, v: float) -> bool:
        if math.isnan(v):
            return False
        lo_ok = v >= self.lo if self.closed in ("both", "left") else v > self.lo
        hi_ok = v <= self.hi if self.closed in ("both", "right") else v < self.hi
        return lo_ok and hi_ok

    def check(self, name: str, owner: str, value: object) -> Any:
        if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
            value = value.item()  # type: ignore[attr-defined]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterTypeError(message(name, owner, self.description, value))
        if self.kind == "int":
            if not isinstance(value, numbers.Integral):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise ParameterTypeError(message(name, owner, self.description, value))
            v: float | int = int(value)
            # float() of an int beyond float64's range raises: compare it as +-inf.
            inside = self._contains(float(v) if abs(v) < 2**1000 else (math.inf if v > 0 else -math.inf))
        else:
            v = float(value)
            inside = self._contains(v)
        if not inside:
            raise ParameterError(message(name, owner, self.description, value))
        return v

    def invalid_example(self) -> object:
        # A step of at least the bound's own size, so that it is not absorbed by rounding (1e300 - 0.5).
        if math.isfinite(self.lo):
            return self.lo - 1 if self.kind == "int" else self.lo - max(0.5, abs(self.lo))
        if math.isfinite(self.hi):
            return self.hi + 1 if self.kind == "int" else self.hi + max(0.5, abs(self.hi))
        return float("nan")


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    @property
    def description(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(repr(o) for o in self.options)

    def check(self, name: str, owner: str, value: object) -> Any:
        if not isinstance(value, str):
            raise ParameterTypeError(message(name, owner, self.description, value))
        if value not in self.options:
            raise ParameterError(message(name, owner, self.description, value))
        return value

    def invalid_example(self) -> object:
        return "no-such-" + self.options[0]


@dataclass(frozen=True)
class Boolean(Constraint):
    """``True`` or ``False`` (also NumPy's ``bool_``)."""

    description: str = "True or False"

    def check(self, name: str, owner: str, value: object) -> Any:
        if type(value).__name__ == "bool_":
            value = bool(value)
        if not isinstance(value, bool):
            raise ParameterTypeError(message(name, owner, self.description, value))
        return value

    def invalid_example(self) -> object:
        return "yes"


@dataclass(frozen=True)
class NoneOr(Constraint):
    """``None`` or a value allowed by ``inner``."""

    inner: Constraint

    @property
    def description(self) -> str:  # type: ignore[override]
        if isinstance(self.inner, Boolean):
            return "True, False or None"
        return f"None or {self.inner.description}"

    def check(self, name: str, owner: str, value: object) -> Any:
        if value is None:
            return None
        try:
            return self.inner.check(name, owner, value)
        except ParameterError as exc:
            kind = ParameterTypeError if isinstance(exc, ParameterTypeError) else ParameterError
            raise kind(message(name, owner, self.description, value)) from None

    def invalid_example(self) -> object:
        return self.inner.invalid_example()


@dataclass(frozen=True)
class InstanceOf(Constraint):
    """An instance of a class named by its import path (resolved when checked).

    ``InstanceOf("pandas.DataFrame", "a pandas.DataFrame")``: naming the class
    by a string keeps pandas (or dask) from being imported with this module.
    """

    path: str
    description: str

    def check(self, name: str, owner: str, value: object) -> Any:
        module, _, cls = self.path.rpartition(".")
        try:
            kind = getattr(importlib.import_module(module), cls)
        except ImportError:  # the library is not installed: nothing can be an instance of it
            kind = ()
        if not isinstance(value, kind):
            raise ParameterTypeError(message(name, owner, self.description, _type_name(value)))
        return value

    def invalid_example(self) -> object:
        return object()


def _type_name(value: object) -> object:
    """Values of the wrong class are shown by their type name (a repr may be huge)."""
    if isinstance(value, str | numbers.Number) or value is None:
        return value
    return Described(f"an object of type {type(value).__name__}")


@dataclass(frozen=True)
class PathLike(Constraint):
    """A non-empty file system path (``str`` or ``os.PathLike``); returned as ``pathlib.Path``."""

    description: str = "a non-empty path (str or os.PathLike)"

    def check(self, name: str, owner: str, value: object) -> Any:
        from pathlib import Path

        if not isinstance(value, str | os.PathLike):
            raise ParameterTypeError(message(name, owner, self.description, _type_name(value)))
        text = os.fspath(value)
        if not isinstance(text, str) or not text or "\x00" in text:
            raise ParameterError(message(name, owner, self.description, value))
        return Path(text)

    def invalid_example(self) -> object:
        return ""


@dataclass(frozen=True)
class RandomSource(Constraint):
    """An int seed ``>= 0`` or a ``numpy.random.Generator``; returned as a Generator.

    No ``None``: a silent fallback to fresh OS entropy would make a result
    irreproducible without saying so.
    """

    description: str = "an int seed >= 0 or a numpy.random.Generator"

    def check(self, name: str, owner: str, value: object) -> Any:
        import numpy as np

        if isinstance(value, np.random.Generator):
            return value
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0:
            return np.random.default_rng(int(value))
        kind = ParameterError if isinstance(value, numbers.Integral) and not isinstance(value, bool) else (
            ParameterTypeError)
        raise kind(message(name, owner, self.description, _type_name(value)))

    def invalid_example(self) -> object:
        return -1


@dataclass(frozen=True)
class StrList(Constraint):
    """A string or a sequence of strings (optionally from ``options``); returned as a list."""

    options: tuple[str, ...] | None = None

    @property
    def description(self) -> str:  # type: ignore[override]
        if self.options is None:
            return "a str or a list of str"
        return "a str or a list of str from " + ", ".join(repr(o) for o in self.options)

    def check(self, name: str, owner: str, value: object) -> Any:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, Sequence) or isinstance(items, bytes):
            raise ParameterTypeError(message(name, owner, self.description, _type_name(value)))
        out = list(items)
        for item in out:
            if not isinstance(item, str):
                raise ParameterTypeError(message(name, owner, self.description, _type_name(item)))
            if self.options is not None and item not in self.options:
                raise ParameterError(message(name, owner, self.description, item))
        return out

    def invalid_example(self) -> object:
        return [3] if self.options is None else ["no-such-column"]


@dataclass(frozen=True)
class ListOf(Constraint):
    """A non-empty list or tuple whose every element ``inner`` allows; returned as a list."""

    inner: Constraint
    what: str = "a non-empty list"

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.what} of which each is {self.inner.description}"

    def check(self, name: str, owner: str, value: object) -> Any:
        if not isinstance(value, list | tuple):
            raise ParameterTypeError(message(name, owner, self.description, _type_name(value)))
        if not value:
            raise ParameterError(message(name, owner, self.description, value))
        out = []
        for item in value:
            try:
                out.append(self.inner.check(name, owner, item))
            except ParameterError as exc:
                kind = ParameterTypeError if isinstance(exc, ParameterTypeError) else ParameterError
                raise kind(message(name, owner, self.description, item)) from None
        return out

    def invalid_example(self) -> object:
        return [self.inner.invalid_example()]


@dataclass(frozen=True)
class Array(Constraint):
    """An array (or scalar) of real numbers in a range; returned as a float64 ndarray.

    Parameters
    ----------
    lo, hi, closed
        The range every element must lie in (as :class:`Interval`; NaN never
        does, so ``Array(-inf, inf)`` means "finite").
    ndim : tuple of int or None
        Allowed numbers of dimensions (``0`` admits a scalar; ``None``: any).
    what : str
        How the array is named in messages (``"an array"``, ``"a 1-D array"``).
    nonempty : bool
        Refuse arrays with no elements along their last axis (a stack of
        zero rows, shape ``(0, n)``, is allowed).

    Complex numbers, booleans, strings and objects are refused (a complex
    value would otherwise lose its imaginary part, a string of digits be
    read as a number).
    """

    lo: float = -math.inf
    hi: float = math.inf
    closed: str = "neither"
    ndim: tuple[int, ...] | None = (0, 1, 2)
    what: str = "a scalar or an array"
    nonempty: bool = True

    @property
    def description(self) -> str:  # type: ignore[override]
        if math.isinf(self.lo) and math.isinf(self.hi):
            return f"{self.what} of finite floats"
        return f"{self.what} of floats in the range {_range(self.lo, self.hi, self.closed)}"

    def check(self, name: str, owner: str, value: object) -> Any:
        import numpy as np

        if isinstance(value, str | bytes):
            raise ParameterTypeError(message(name, owner, self.description, value))
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested sequences
            raise ParameterTypeError(message(name, owner, self.description, _type_name(value))) from None
        if raw.dtype.kind not in "iuf":
            shown = value if raw.ndim == 0 else Described(f"an array of dtype {raw.dtype}")
            raise ParameterTypeError(message(name, owner, self.description, shown))
        arr = raw.astype(np.float64, copy=False)
        if raw.dtype.kind in "iu" and raw.size and np.any(arr.astype(raw.dtype) != raw):
            too_big = Described("integers too large for float64")
            raise ParameterError(message(name, owner, self.description, too_big))
        if self.ndim is not None and arr.ndim not in self.ndim:
            raise ParameterError(message(name, owner, self.description, _shape(arr)))
        if self.nonempty and arr.ndim and arr.shape[-1] == 0:
            raise ParameterError(message(name, owner, self.description, _shape(arr)))
        with np.errstate(invalid="ignore"):
            lo_ok = arr >= self.lo if self.closed in ("both", "left") else arr > self.lo
            hi_ok = arr <= self.hi if self.closed in ("both", "right") else arr < self.hi
        bad = ~(lo_ok & hi_ok)
        if bad.any():
            raise ParameterError(message(name, owner, self.description, arr[bad].flat[0]))
        return arr

    def invalid_example(self) -> object:
        vector = self.ndim is None or 1 in self.ndim
        if math.isfinite(self.lo):
            return [self.lo + 1.0, self.lo - 1.0] if vector else self.lo - 1.0
        if math.isfinite(self.hi):
            return [self.hi - 1.0, self.hi + 1.0] if vector else self.hi + 1.0
        return [1.0, float("nan")] if vector else float("nan")


def _shape(arr: Any) -> Described:
    return Described(f"an array of shape {arr.shape}")


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
                    message(name, owner, "a scalar or a 1-D sequence", _shape(arr))
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


def validate(owner: str, constraints: dict[str, Constraint], values: dict[str, Any]) -> dict[str, Any]:
    """Check ``values`` against ``constraints``; return them normalised.

    Parameters not in ``constraints`` are passed through unchanged.
    """
    return {k: constraints[k].check(k, owner, v) if k in constraints else v for k, v in values.items()}


#: Every function wrapped by :func:`validate_params`, in order of definition
#: (the tests generate their invalid calls from this list).
VALIDATED: list[Callable[..., Any]] = []

F = TypeVar("F", bound=Callable[..., Any])


def validate_params(constraints: dict[str, Constraint], *, owner: str | None = None) -> Callable[[F], F]:
    """Decorate a public function: check and normalise its arguments first.

    Each argument named in ``constraints`` and given by the caller is passed
    to the function as returned by its constraint's ``check`` (defaults are
    trusted, they are the function's own); others are passed unchanged.
    Cross-parameter conditions stay in the function, raised with
    :func:`message`. The table is kept as ``__lrsweep_constraints__``, the
    owner name (the function's qualified name by default) as
    ``__lrsweep_owner__``.
    """

    def decorate(func: F) -> F:
        sig = inspect.signature(func)
        name = owner or func.__qualname__
        unknown = set(constraints) - set(sig.parameters)
        if unknown:  # a typo in a table would silently validate nothing
            raise TypeError(f"constraints for unknown parameters of {name}: {sorted(unknown)}")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            given = bound.arguments
            for key, constraint in constraints.items():
                if key in given:
                    given[key] = constraint.check(key, name, given[key])
            return func(*bound.args, **bound.kwargs)

        wrapper.__lrsweep_constraints__ = dict(constraints)  # type: ignore[attr-defined]
        wrapper.__lrsweep_owner__ = name  # type: ignore[attr-defined]
        VALIDATED.append(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate
