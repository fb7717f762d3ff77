"""Learning-rate schedules: per-step multipliers of the base learning rate, each with its formula.

A schedule multiplies the base (peak) learning rate ``lr`` of step ``t``
(``t = 0 .. T - 1``, ``T`` steps in the run, ``E`` steps per epoch) by
``m(t)``; the step uses ``lr_t = lr * m(t)`` (one float64 product, then the
update ``theta - lr_t * g``). Every schedule is a short string (the
command line's ``--set schedule=cosine,warmup:50+cosine``) and an object
(``lrsweep.schedules.Cosine(floor=0.0)``); :func:`parse` turns either into
the canonical string a config stores, :func:`multipliers` into the array.

================================  ===================================================================
spelling                          multiplier ``m(t)``
================================  ===================================================================
``constant``                      ``1`` (the default: today's per-sample SGD, bit for bit)
``step:F:K``                      ``F ** floor(t / (K E))``: times ``F`` every ``K`` epochs
``exp:G``                         ``G ** (t / E)``: a factor ``G`` per epoch, applied smoothly
``cosine`` / ``cosine:F``         ``F + (1 - F) (1 + cos(pi t / T)) / 2``: from 1 down to ``F``
``invtime:T0`` / ``invtime:T0:C`` ``C / (T0 + t)`` (``C = T0`` by default: 1 at the start)
``range:R``                       ``R ** (t / (T - 1))``: the lr range test's exponential ramp from
                                  ``lr`` to ``R lr`` (1 for a one-step run)
``warmup:W+S``                    ``(t + 1) / W`` for ``t < W``, then ``S`` over the remaining
                                  ``T - W`` steps (``S`` any of the above but warmup)
``custom``                        the config's ``lr_multipliers`` array: ``m(t)`` is its entry ``t``
================================  ===================================================================

Powers and cosines are evaluated in float64 by NumPy, once per step for a
whole block of lanes (the kernel multiplies each lane's ``lr`` by it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Constant",
    "Cosine",
    "Custom",
    "Exponential",
    "InverseTime",
    "RangeTest",
    "Schedule",
    "ScheduleConstraint",
    "StepDecay",
    "Warmup",
    "from_spec",
    "multipliers",
    "parse",
]


class Schedule:
    """A learning-rate schedule; :attr:`spec` is its canonical string."""

    spec: str

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        """``m(t)`` for ``t = 0 .. steps - 1`` (float64)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.spec


def _num(v: float) -> str:
    return repr(float(v)).removesuffix(".0") if float(v).is_integer() and abs(v) < 1e16 else repr(float(v))


@dataclass(frozen=True)
class Constant(Schedule):
    """``m(t) = 1``."""

    @property
    def spec(self) -> str:  # type: ignore[override]
        return "constant"

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        return np.ones(steps)


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``m(t) = factor ** floor(t / (every * E))``: multiplied by ``factor`` every ``every`` epochs."""

    factor: float
    every: int = 1

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"step:{_num(self.factor)}:{self.every}"

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        return np.float64(self.factor) ** (np.arange(steps) // (self.every * per_epoch)).astype(np.float64)


@dataclass(frozen=True)
class Exponential(Schedule):
    """``m(t) = gamma ** (t / E)``: a factor ``gamma`` per epoch, applied at every step."""

    gamma: float

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"exp:{_num(self.gamma)}"

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        return np.float64(self.gamma) ** (np.arange(steps) / per_epoch)


@dataclass(frozen=True)
class Cosine(Schedule):
    """``m(t) = floor + (1 - floor) (1 + cos(pi t / T)) / 2``: cosine decay from 1 to ``floor``."""

    floor: float = 0.0

    @property
    def spec(self) -> str:  # type: ignore[override]
        return "cosine" if self.floor == 0 else f"cosine:{_num(self.floor)}"

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        t = np.arange(steps, dtype=np.float64)
        return self.floor + (1.0 - self.floor) * (1.0 + np.cos(np.pi * t / steps)) / 2.0


@dataclass(frozen=True)
class InverseTime(Schedule):
    """``m(t) = c / (t0 + t)`` with ``c = t0`` by default (1 at the first step)."""

    t0: float
    c: float | None = None

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"invtime:{_num(self.t0)}" + ("" if self.c is None else f":{_num(self.c)}")

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        c = self.t0 if self.c is None else self.c
        return c / (self.t0 + np.arange(steps, dtype=np.float64))


@dataclass(frozen=True)
class RangeTest(Schedule):
    """``m(t) = ratio ** (t / (T - 1))``: the lr range test's ramp from ``lr`` to ``ratio * lr``."""

    ratio: float

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"range:{_num(self.ratio)}"

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        if steps == 1:
            return np.ones(1)
        return np.float64(self.ratio) ** (np.arange(steps) / (steps - 1))


@dataclass(frozen=True)
class Warmup(Schedule):
    """``m(t) = (t + 1) / steps`` for the first ``steps`` steps, then ``then`` over the rest."""

    steps: int
    then: Schedule = Constant()

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"warmup:{self.steps}+{self.then.spec}"

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:
        w = min(self.steps, steps)
        ramp = np.arange(1, w + 1, dtype=np.float64) / self.steps
        if w == steps:
            return ramp
        return np.concatenate([ramp, self.then.multipliers(steps - w, per_epoch)])


@dataclass(frozen=True)
class Custom(Schedule):
    """The config's ``lr_multipliers``: one multiplier per step, given by the user."""

    @property
    def spec(self) -> str:  # type: ignore[override]
        return "custom"

    def multipliers(self, steps: int, per_epoch: int) -> np.ndarray:  # pragma: no cover - see below
        raise TypeError("a custom schedule's multipliers are the config's lr_multipliers")


#: The spellings and what each needs: name -> (class, number of parameters: (min, max), ints).
_KINDS: dict[str, tuple[type, tuple[int, int], tuple[bool, ...]]] = {
    "constant": (Constant, (0, 0), ()),
    "step": (StepDecay, (1, 2), (False, True)),
    "exp": (Exponential, (1, 1), (False,)),
    "cosine": (Cosine, (0, 1), (False,)),
    "invtime": (InverseTime, (1, 2), (False, False)),
    "range": (RangeTest, (1, 1), (False,)),
    "custom": (Custom, (0, 0), ()),
}
ALLOWED = ("a schedule: constant, step:F:K, exp:G, cosine[:F], invtime:T0[:C], range:R, custom, or "
           "warmup:W+<one of these> (lrsweep.schedules), or a Schedule object")


def _check(schedule: Schedule) -> str | None:
    """Why ``schedule``'s parameters are out of range (None if they are fine)."""
    if isinstance(schedule, StepDecay) and not (0 < schedule.factor <= 1e6 and 1 <= schedule.every <= 2**40):
        return "step:F:K needs 0 < F and an integer K >= 1"
    if isinstance(schedule, Exponential) and not 0 < schedule.gamma <= 1e6:
        return "exp:G needs G > 0"
    if isinstance(schedule, Cosine) and not 0 <= schedule.floor <= 1:
        return "cosine:F needs 0 <= F <= 1"
    if isinstance(schedule, InverseTime) and not (0 < schedule.t0 <= 1e15 and (schedule.c is None or
                                                                               0 < schedule.c <= 1e15)):
        return "invtime:T0[:C] needs T0 > 0 and C > 0"
    if isinstance(schedule, RangeTest) and not 0 < schedule.ratio <= 1e15:
        return "range:R needs R > 0"
    if isinstance(schedule, Warmup):
        if not 1 <= schedule.steps <= 2**40:
            return "warmup:W needs an integer W >= 1"
        if isinstance(schedule.then, Warmup | Custom):
            return "warmup takes one formula schedule after it (not warmup or custom: put a custom warmup "\
                   "into lr_multipliers)"
        return _check(schedule.then)
    return None


def _floats(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _parse_one(text: str) -> Schedule:
    name, *args = text.split(":")
    if name not in _KINDS:
        raise ValueError(f"unknown schedule {name!r}")
    cls, (lo, hi), ints = _KINDS[name]
    if not lo <= len(args) <= hi:
        raise ValueError(f"{name} takes {lo} to {hi} parameters")
    values: list[Any] = [int(a) if is_int else _floats(a) for a, is_int in zip(args, ints, strict=False)]
    return cls(*values)


def parse(value: object) -> str:
    """The canonical string of a schedule given as a string or a :class:`Schedule`.

    Raises ``ValueError`` (with the reason) or ``TypeError``; the config's
    constraint turns them into a ``ParameterError`` naming ``schedule``.
    """
    if isinstance(value, Schedule):
        schedule = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 200:
            raise ValueError("a schedule spelling of at most 200 characters")
        if text.startswith("warmup:"):
            head, plus, rest = text.partition("+")
            if not plus:
                raise ValueError("warmup:W+<schedule> needs a schedule after '+'")
            w = int(head.removeprefix("warmup:"))
            schedule = Warmup(w, _parse_one(rest))
        else:
            schedule = _parse_one(text)
    else:
        raise TypeError(type(value).__name__)
    why = _check(schedule)
    if why is not None:
        raise ValueError(why)
    return schedule.spec


def from_spec(spec: str) -> Schedule:
    """The :class:`Schedule` of a canonical string."""
    if spec.startswith("warmup:"):
        head, _, rest = spec.partition("+")
        return Warmup(int(head.removeprefix("warmup:")), _parse_one(rest))
    return _parse_one(spec)


def multipliers(spec: str, steps: int, per_epoch: int, custom: np.ndarray | None = None) -> np.ndarray:
    """``m(t)``, ``t = 0 .. steps - 1``, of the schedule ``spec`` (``custom``: the config's array)."""
    schedule = from_spec(spec)
    if isinstance(schedule, Custom):
        if custom is None or len(custom) < steps:
            raise ValueError("the custom schedule needs the config's lr_multipliers, one per step")
        return np.asarray(custom[:steps], dtype=np.float64)
    return schedule.multipliers(steps, per_epoch)


class ScheduleConstraint:
    """The constraint of the ``schedule`` axis (:mod:`lrsweep._validation` protocol): a canonical string."""

    description = ALLOWED

    def check(self, name: str, owner: str, value: object) -> str:
        from ._validation import ParameterError, ParameterTypeError, message

        try:
            return parse(value)
        except TypeError:
            raise ParameterTypeError(message(name, owner, self.description, value)) from None
        except ValueError as exc:
            raise ParameterError(message(name, owner, f"{self.description} ({exc})", value)) from None

    def invalid_example(self) -> object:
        return "sawtooth"
