"""The plot functions' argument checks: constraints for samples, label maps, colormaps; columns."""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import (
    Array,
    Constraint,
    Described,
    InstanceOf,
    NoneOr,
    ParameterError,
    ParameterTypeError,
    message,
)

if TYPE_CHECKING:
    import pandas as pd

@dataclass(frozen=True)
class _Real(Constraint):
    """Any real number, NaN and infinities included; returned as a float."""

    description: str = "a real number"

    def check(self, name: str, owner: str, value: object) -> Any:
        if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
            value = value.item()  # type: ignore[attr-defined]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterTypeError(message(name, owner, self.description, value))
        return float(value)

    def invalid_example(self) -> object:
        return "1.5"


@dataclass(frozen=True)
class _Samples(Constraint):
    """A 1-D array of real numbers, NaN and infinities included; returned as a float64 ndarray."""

    description: str = "a 1-D array of real numbers"

    def check(self, name: str, owner: str, value: object) -> Any:
        if isinstance(value, str | bytes):
            raise ParameterTypeError(message(name, owner, self.description, value))
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested sequences
            raise ParameterTypeError(
                message(name, owner, self.description, Described(f"an object of type {type(value).__name__}"))
            ) from None
        if arr.dtype.kind not in "iuf":
            raise ParameterTypeError(message(name, owner, self.description,
                                             Described(f"an array of dtype {arr.dtype}")))
        if arr.ndim != 1:
            raise ParameterError(message(name, owner, self.description,
                                         Described(f"an array of shape {arr.shape}")))
        return arr.astype(np.float64, copy=False)

    def invalid_example(self) -> object:
        return [[1.0, 2.0]]


@dataclass(frozen=True)
class _LabelMap(Constraint):
    """A mapping of str labels to values each allowed by ``value``; returned as a dict.

    ``what`` names the values in the plural, for the message.
    """

    value: Constraint
    what: str

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"a mapping of str labels to {self.what}"

    def check(self, name: str, owner: str, value: object) -> Any:
        if not isinstance(value, Mapping):
            raise ParameterTypeError(message(name, owner, self.description,
                                             Described(f"an object of type {type(value).__name__}")))
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                bad = Described(f"the key {key!r}")
                raise ParameterTypeError(message(name, owner, self.description, bad))
            try:
                out[key] = self.value.check(name, owner, item)
            except ParameterError as exc:
                kind = ParameterTypeError if isinstance(exc, ParameterTypeError) else ParameterError
                entry = Described(f"{{{key!r}: {reprlib.repr(item)}}}")
                raise kind(message(name, owner, self.description, entry)) from None
        return out

    def invalid_example(self) -> object:
        return {"label": self.value.invalid_example()}


@dataclass(frozen=True)
class _Colormap(Constraint):
    """A matplotlib Colormap or the name of a registered one (seaborn's included)."""

    description: str = "a matplotlib Colormap or the name of a registered one"

    def check(self, name: str, owner: str, value: object) -> Any:
        import matplotlib
        import seaborn  # noqa: F401  (registers seaborn's colormaps: rocket, mako, vlag, ...)

        if isinstance(value, matplotlib.colors.Colormap):
            return value
        if not isinstance(value, str):
            raise ParameterTypeError(message(name, owner, self.description,
                                             Described(f"an object of type {type(value).__name__}")))
        if value not in matplotlib.colormaps:
            raise ParameterError(message(name, owner, self.description, value))
        return value

    def invalid_example(self) -> object:
        return "no-such-colormap"


_FRAME = InstanceOf("pandas.DataFrame", "a pandas.DataFrame")
_STR = InstanceOf("builtins.str", "a str")
_COLUMN = InstanceOf("builtins.str", "a column name (str)")
_TITLE = NoneOr(_STR)
_AX = NoneOr(InstanceOf("matplotlib.axes.Axes", "a matplotlib Axes"))
_FINITE_1D = Array(ndim=(1,), what="a 1-D array")


def _need_columns(name: str, owner: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise a ParameterError naming ``name`` if ``frame`` lacks any of ``columns``."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if not missing:
        return
    what = (f"the column {missing[0]!r}" if len(missing) == 1
            else "the columns " + ", ".join(repr(c) for c in missing))
    has = ", ".join(repr(c) for c in frame.columns)
    if len(has) > 150:
        has = has[:147] + "..."
    got = Described(f"a DataFrame with the columns {has}" if has else "a DataFrame without columns")
    raise ParameterError(message(name, owner, f"a DataFrame with {what}", got))


# -------------------------------------------------------------------- figures
