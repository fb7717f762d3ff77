r"""Learning-rate finders as the popular tools run them: ramp, smoothed loss, stop rule, suggestions.

Pure NumPy post-processing for the ``lr-finder`` study. A range test trains
with a learning rate that grows every step, records a smoothed training loss
until it blows up, and reads a "good" learning rate off the curve. This module
reproduces, on plain arrays and vectorised over many runs, exactly what three
tools do, read from their source code:

* **fastai** 2.8.12 (the PyPI wheel; the same code is in ``fastai/fastai`` at
  commit ``0a049e8a90b86d70860f68072698245a1ee787ca``): ``fastai/callback/schedule.py``
  (``LRFinder``, ``Learner.lr_find``, ``valley``, ``slide``, ``minimum``, ``steep``),
  ``fastai/learner.py`` (``Recorder``, ``AvgSmoothLoss``), ``fastai/callback/core.py``
  (``TrainEvalCallback``: ``train_iter``).
* **Lightning**: ``Lightning-AI/pytorch-lightning`` at commit
  ``7f0c3436cd3f6ad3753125672024fc415cbcb414`` (2.6.0-169; PyPI ``lightning`` 2.6.6
  has the same algorithm), ``src/lightning/pytorch/tuner/lr_finder.py``
  (``_LRFinder.suggestion``, ``_LRCallback``, ``_ExponentialLR``),
  ``src/lightning/pytorch/loops/training_epoch_loop.py`` (``global_step``), and
  torch 2.14.1 ``torch/optim/lr_scheduler.py`` (``LRScheduler`` steps once when built).
* **torch-lr-finder**: ``davidtvs/pytorch-lr-finder`` at commit
  ``76df3050c5554d698cb618e792957873bc878b30`` (v0.2.2-3; PyPI 0.2.2 is the same),
  ``torch_lr_finder/lr_finder.py`` (``LRFinder.range_test``, ``LRFinder.plot``,
  ``ExponentialLR``; this version has no separate ``_suggest``: ``plot`` suggests).

In every tool the loss recorded at step ``k`` is the training loss of step
``k``'s batch, computed before the update of step ``k`` that uses ``lr_k``:
lrsweep's recorded per-step loss. With ``s = end_lr / start_lr`` and ``n`` steps:

* fastai: ``lr_k = start * s**(k/n)`` with ``n = max(num_it, 6)`` (it never
  reaches ``end_lr``); ``AvgSmoothLoss``: ``v = torch.lerp(l_k, v, 0.98)``, recorded
  ``v / (1 - 0.98**(k+1))``; stop after step ``k`` if it exceeds 4 times the
  best recorded value including itself (``stop_div``), or after ``n`` steps.
* Lightning: ``lr_0 = start``, then ``lr_k = start * s**((k+1)/n)`` (the scheduler
  steps once when built, so exponent ``1/n`` is skipped); ``v = 0.98 v + 0.02 l_k``,
  recorded ``v / (1 - 0.98**(k+2))``; stop after step ``k >= 1`` if it exceeds 4
  times the best before it (``early_stop_threshold``), or after ``n`` steps.
* torch-lr-finder: ``lr_k = start * s**(k/(n-1))``; recorded ``v_0 = l_0``, then
  ``v_k = 0.05 l_k + 0.95 v_{k-1}`` (``smooth_f``, no debiasing); stop after step
  ``k`` if it exceeds 5 times the best including itself (``diverge_th``), or after ``n``.

The stopping step is recorded by all three. "Best" is the least recorded
value so far; a NaN never replaces it, but Lightning and torch-lr-finder start
from the first value, so a NaN there disables the stop. Lightning's debiasing
is one step off: ``global_step`` is already ``k + 1`` when
``_LRCallback.on_train_batch_end`` runs, so the first value is ``l_0 / (1 + beta)``
(the "too strong smoothing" of Lightning issue #14167).

lrsweep's ``range:R`` schedule, ``lr_t = lr * R**(t/(T-1))``, is torch-lr-finder's
ramp with ``lr = start_lr``, ``R = end_lr / start_lr``, ``T = num_iter``; fastai's is
``range:R'`` with ``R' = R**((n-1)/n)`` (its exponent is ``k/n``, one step short of
``end_lr``); Lightning's jumps from exponent 0 to ``2/n`` and needs per-step
multipliers ``ramp(...) / start_lr``.

Suggestions (:func:`suggest`), ``m`` points after each tool's trimming:

* fastai ``lr_find`` keeps ``[num_it//10 : -5]``, converts to float32 (fastai's
  ``tensor`` does) and cuts at the first NaN; then ``valley`` (the longest strictly
  decreasing run found by fastai's O(m^2) loop, a point 1/2 of the way into it,
  with its off-by-one and its wrap to the last point when the valley starts at 0),
  ``steep`` (the left point of the steepest slope of loss versus log lr),
  ``minimum`` (the lr at the least loss, divided by 10) and ``slide`` (the interval
  slide rule: ``lr_diff=15``, ``thresh=0.005``); they fail for ``m`` below 1, 2, 1, 16.
* Lightning ``suggestion(skip_begin=10, skip_end=1)`` keeps ``[10:-1]`` in float32,
  drops non-finite losses, takes ``torch.gradient`` against the lr (linear, not
  log) and returns the original lr at the most negative gradient; ``None`` if
  fewer than 2 points remain.
* torch-lr-finder ``plot(skip_start=10, skip_end=5)`` refuses fewer than 17
  recorded steps, keeps ``[10:-5]`` and takes the index of the least
  ``np.gradient`` (unit spacing: slope per step, i.e. versus log lr).

Arithmetic is float64 as lrsweep's losses (the tools smooth in the loss's
dtype, float32 for most models) except where a tool converts to float32
itself; argmins return the first NaN if there is one, as NumPy and torch do.
torch's CPU ``lerp`` fuses fastai's multiply-add (``fma(beta - 1, v - l, v)``;
torch 2.14.1 in float64 differs from the unfused formula used here in the last
bit about once in ten steps; fastai cannot run it in float64 anyway, its
average starts as a float32 tensor). A NaN loss makes every later smoothed
value NaN, so a smoothing tool never stops after one: feed :func:`record` the losses the
training really had past the kernel's divergence bound (or stop before it).
Only the exponential ramps are here (Lightning's and torch-lr-finder's linear
modes are not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

import numpy as np

from ._validation import (
    Array,
    Boolean,
    Described,
    Interval,
    NoneOr,
    OneOf,
    ParameterError,
    message,
    validate_params,
)

__all__ = ["DEFAULTS", "RULES", "TOOLS", "Reason", "Record", "Suggestion", "ramp", "record", "suggest"]

TOOLS = ("fastai", "lightning", "torch-lr-finder")
RULES = ("fastai-valley", "fastai-steep", "fastai-minimum", "fastai-slide", "lightning", "torch-lr-finder")

#: Each tool's defaults: ramp ends and length, smoothing constant (fastai and
#: Lightning: beta, the weight of the past; torch-lr-finder: smooth_f, the
#: weight of the new loss), stop threshold, and the suggestion's trimming.
DEFAULTS: dict[str, dict[str, Any]] = {
    "fastai": dict(start_lr=1e-7, end_lr=10.0, num_it=100, smoothing=0.98, threshold=4.0,
                   skip_begin="num_it // 10", skip_end=5),
    "lightning": dict(start_lr=1e-8, end_lr=1.0, num_it=100, smoothing=0.98, threshold=4.0,
                      skip_begin=10, skip_end=1),
    "torch-lr-finder": dict(start_lr=None, end_lr=10.0, num_it=100, smoothing=0.05, threshold=5.0,
                            skip_begin=10, skip_end=5),
}

#: Runs processed together by :func:`suggest` (bounds the (runs, steps) temporaries).
_BLOCK = 4096


class Reason(IntEnum):
    """Why a suggestion is NaN: ``OK`` (it is not) or too few points for the rule (the tool fails)."""

    OK = 0
    TOO_FEW_POINTS = 1


class Record(NamedTuple):
    """What a tool records: ``losses`` (runs, T), NaN after each run's stop; ``length`` (runs,) steps kept."""

    losses: np.ndarray
    length: np.ndarray


class Suggestion(NamedTuple):
    """One suggestion per run: ``lr`` (NaN on failure), ``index`` of the chosen point (-1), ``reason``."""

    lr: np.ndarray
    index: np.ndarray
    reason: np.ndarray


@dataclass(frozen=True)
class _Curves(Array):
    """Like :class:`Array`, but NaN and infinities are allowed (losses after divergence)."""

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.what} of floats (NaN and inf allowed)"

    def check(self, name: str, owner: str, value: object) -> Any:
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError):
            raw = None
        if raw is not None and raw.dtype.kind == "f":
            super().check(name, owner, np.where(np.isnan(raw), 0.0, raw))
            return raw.astype(np.float64, copy=False)
        return super().check(name, owner, value)

    def invalid_example(self) -> object:
        return [[[1.0]]]


_LOSSES = _Curves(closed="both", ndim=(1, 2), what="a 1-D (one run) or 2-D (runs, steps) array")
_LRS = Array(0.0, math.inf, "neither", ndim=(1, 2), what="a 1-D (steps) or 2-D (runs, steps) array")
_LENGTH = NoneOr(Array(1.0, math.inf, "left", ndim=(0, 1), what="a step count or a 1-D array"))
_POSITIVE = Interval("float", 0.0, math.inf, "neither")
_SKIP = NoneOr(Interval("int", 0, 2**31 - 1))


@validate_params({"tool": OneOf(TOOLS), "start_lr": _POSITIVE, "end_lr": _POSITIVE,
                  "num_it": Interval("int", 1, 2**31 - 1)})
def ramp(tool: str, start_lr: float, end_lr: float, num_it: int) -> np.ndarray:
    """The learning rate of every step of ``tool``'s exponential range test, as the tool computes it.

    Parameters
    ----------
    tool : {'fastai', 'lightning', 'torch-lr-finder'}
    start_lr, end_lr : float
        fastai's ``start_lr``/``end_lr``, Lightning's ``min_lr``/``max_lr``,
        torch-lr-finder's ``start_lr``/``end_lr``.
    num_it : int
        fastai's ``num_it`` (raised to 6 as ``LRFinder`` does), Lightning's
        ``num_training``, torch-lr-finder's ``num_iter`` (at least 2).

    Returns
    -------
    ndarray of float64, shape (steps,)
        ``lr_k`` used by the update of step ``k`` (and recorded with its loss),
        each computed as ``start * (end / start) ** r`` in Python floats:
        ``r = k / n`` (fastai), ``0`` then ``(k + 1) / n`` (Lightning),
        ``k / (n - 1)`` (torch-lr-finder).
    """
    if tool == "torch-lr-finder" and num_it < 2:  # ExponentialLR raises ValueError
        raise ParameterError(message("num_it", "ramp", "at least 2 for torch-lr-finder", num_it))
    ratio = end_lr / start_lr
    if tool == "fastai":
        n = max(num_it, 6)
        exps = [k / n for k in range(n)]
    elif tool == "lightning":
        exps = [0.0] + [(k + 1) / num_it for k in range(1, num_it)]
    else:
        exps = [k / (num_it - 1) for k in range(num_it)]
    return np.array([start_lr * ratio ** r for r in exps])


@validate_params({"tool": OneOf(TOOLS), "losses": _LOSSES,
                  "smoothing": NoneOr(Interval("float", 0.0, 1.0, "left")),
                  "threshold": NoneOr(_POSITIVE), "stop": Boolean()})
def record(tool: str, losses: np.ndarray, *, smoothing: float | None = None,
           threshold: float | None = None, stop: bool = True) -> Record:
    """Smooth per-step training losses and stop each run where ``tool`` would.

    Parameters
    ----------
    tool : {'fastai', 'lightning', 'torch-lr-finder'}
    losses : array_like, shape (runs, T) or (T,)
        Raw per-step losses of runs trained on :func:`ramp`'s learning rates
        (``T`` its length); NaN and inf allowed.
    smoothing : float in [0, 1), optional
        fastai's and Lightning's ``beta`` (default 0.98), torch-lr-finder's
        ``smooth_f`` (default 0.05; 0 records the raw loss).
    threshold : float, optional
        Stop when the recorded value exceeds ``threshold`` times the best one:
        4 (fastai, Lightning ``early_stop_threshold``), 5 (torch-lr-finder ``diverge_th``).
    stop : bool
        False runs all ``T`` steps (fastai ``stop_div=False``, Lightning
        ``early_stop_threshold=None``; torch-lr-finder always stops).

    Returns
    -------
    Record
        ``losses`` (runs, T) float64: the values the tool records (fastai
        ``recorder.losses``, Lightning ``results["loss"]``, torch-lr-finder
        ``history["loss"]``), NaN after the stop; ``length`` (runs,) int64:
        recorded steps, the stopping step included. The recorded learning
        rates are the first ``length`` of :func:`ramp`.
    """
    loss = np.ascontiguousarray(np.atleast_2d(losses).T)  # (steps, runs): each step reads a contiguous row
    steps, runs = loss.shape
    p = DEFAULTS[tool]["smoothing"] if smoothing is None else smoothing
    thr = DEFAULTS[tool]["threshold"] if threshold is None else threshold
    out = np.empty((steps, runs))
    with np.errstate(all="ignore"):
        if tool == "fastai":  # AvgSmoothLoss: val = torch.lerp(loss, val, beta), value = val/(1-beta**count)
            val = np.zeros(runs)
            for k in range(steps):
                lk = loss[k]
                val = lk + p * (val - lk) if abs(p) < 0.5 else val - (val - lk) * (1 - p)
                out[k] = val / (1 - p ** (k + 1))
        elif tool == "lightning":  # _LRCallback: current_step = trainer.global_step = k + 1
            avg = np.zeros(runs)
            for k in range(steps):
                avg = p * avg + (1 - p) * loss[k]
                out[k] = avg / (1 - p ** (k + 1 + 1))
        else:  # range_test: the first loss as is, then smooth_f * loss + (1 - smooth_f) * previous
            out[0] = loss[0]
            for k in range(1, steps):
                out[k] = p * loss[k] + (1 - p) * out[k - 1] if p > 0 else loss[k]
        out = np.ascontiguousarray(out.T)
        if tool == "fastai":  # best starts at inf; `smooth_loss < best_loss` never holds for NaN
            best = np.fmin.accumulate(np.where(np.isnan(out), np.inf, out), axis=1)
        else:  # best is the first value (even NaN, which then stays), then `loss < best` updates it
            best = np.fmin.accumulate(out, axis=1)
            best[np.isnan(out[:, 0])] = np.nan
        if tool == "lightning":  # checked for current_step > 1, against the best before this step
            over = np.zeros((runs, steps), dtype=bool)
            over[:, 1:] = out[:, 1:] > thr * best[:, :-1]
        else:  # against the best including this step
            over = out > thr * best
    if not stop:
        over[:] = False
    length = np.where(over.any(axis=1), np.argmax(over, axis=1) + 1, steps).astype(np.int64)
    out[np.arange(steps) >= length[:, None]] = np.nan
    return Record(out, length)


@validate_params({"rule": OneOf(RULES), "lrs": _LRS, "losses": _LOSSES, "length": _LENGTH,
                  "skip_begin": _SKIP, "skip_end": _SKIP})
def suggest(rule: str, lrs: np.ndarray, losses: np.ndarray, length: np.ndarray | int | None = None, *,
            skip_begin: int | None = None, skip_end: int | None = None) -> Suggestion:
    """Each run's suggested learning rate by one tool's rule, from what the tool recorded.

    Parameters
    ----------
    rule : {'fastai-valley', 'fastai-steep', 'fastai-minimum', 'fastai-slide', 'lightning', 'torch-lr-finder'}
        fastai's four ``suggest_funcs`` after ``lr_find``'s trimming,
        Lightning's ``_LRFinder.suggestion()``, torch-lr-finder's ``plot(suggest_lr=True)``.
    lrs : array_like, shape (T,) or (runs, T)
        Recorded learning rates (:func:`ramp`).
    losses : array_like, shape (runs, T) or (T,)
        Recorded losses (:attr:`Record.losses`); NaN and inf allowed.
    length : int or array_like of int, shape (runs,), optional
        Recorded steps per run (:attr:`Record.length`); default all ``T``.
        Trimming counts from each run's end, and entries past it are ignored.
    skip_begin, skip_end : int, optional
        Points trimmed at each end: fastai ``num_it // 10`` (taken as ``T // 10``)
        and 5, Lightning 10 and 1 (``skip_end=0`` keeps nothing, as ``[10:-0]``
        does), torch-lr-finder 10 and 5.

    Returns
    -------
    Suggestion
        ``lr`` (runs,) float64: the suggestion (fastai's are float32 values,
        as ``tensor(...).item()`` gives), NaN where the tool fails; ``index``
        (runs,) int64: the recorded step of the chosen point (fastai
        ``minimum``: of the least loss, the suggestion being a tenth of its lr),
        -1 on failure; ``reason`` (runs,) int8, :class:`Reason`.
    """
    loss = np.atleast_2d(losses)
    runs, steps = loss.shape
    if lrs.shape[-1] != steps or (lrs.ndim == 2 and lrs.shape[0] != runs):
        raise ParameterError(message("lrs", "suggest", f"of shape ({steps},) or {loss.shape} as 'losses'",
                                     Described(f"an array of shape {lrs.shape}")))
    n = np.full(runs, steps, dtype=np.int64)
    if length is not None:
        bad = (length != np.floor(length)) | (length > steps)
        if np.any(bad) or (length.ndim and length.shape != (runs,)):
            shown = np.asarray(length)[bad].flat[0] if np.any(bad) else Described(f"shape {length.shape}")
            raise ParameterError(message("length", "suggest", f"whole numbers of steps up to {steps}, one per"
                                         " run", shown))
        n[:] = length
    tool = "fastai" if rule.startswith("fastai") else rule
    begin = skip_begin if skip_begin is not None else (
        steps // 10 if tool == "fastai" else DEFAULTS[tool]["skip_begin"])
    end = DEFAULTS[tool]["skip_end"] if skip_end is None else skip_end
    out = Suggestion(np.full(runs, np.nan), np.full(runs, -1, dtype=np.int64),
                     np.full(runs, Reason.TOO_FEW_POINTS, dtype=np.int8))
    lr_all = np.broadcast_to(lrs, loss.shape)
    with np.errstate(all="ignore"):
        for lo in range(0, runs, _BLOCK):
            block = slice(lo, lo + _BLOCK)
            lr, index, ok = _suggest_block(rule, lr_all[block], loss[block], n[block], begin, end)
            out.lr[block] = np.where(ok, lr, np.nan)
            out.index[block] = np.where(ok, index, -1)
            out.reason[block] = np.where(ok, Reason.OK, Reason.TOO_FEW_POINTS)
    return out


def _suggest_block(rule: str, lr: np.ndarray, loss: np.ndarray, n: np.ndarray, begin: int,
                   end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block of runs: the trimmed series of each (left-aligned, ``m`` valid points), then the rule."""
    runs, steps = loss.shape
    stop = np.zeros_like(n) if rule == "lightning" and end == 0 else np.maximum(n - end, 0)
    m = np.maximum(stop - begin, 0)
    width = int(m.max(initial=0))
    col = np.arange(width)
    pos = np.broadcast_to(begin + col, (runs, width))
    y, x = loss[:, begin:begin + width], lr[:, begin:begin + width]
    valid = col < m[:, None]
    rows = np.arange(runs)
    if rule == "torch-lr-finder":  # plot() raises RuntimeError below skip_start + skip_end + 2 steps
        ok = n >= begin + end + 2
        k = _argmin(_unit_gradient(y, m), m)
        pick = np.minimum(begin + k, steps - 1)
        return lr[rows, pick], pick, ok
    y, x = y.astype(np.float32), x.astype(np.float32)  # fastai's tensor() and torch.tensor(list) of floats
    if rule == "lightning":  # drop non-finite losses: move the kept points to the front, in order
        keep = valid & np.isfinite(y)
        order = np.argsort(~keep, axis=1, kind="stable")
        y, x, pos = (np.take_along_axis(a, order, axis=1) for a in (y, x, pos))
        m = keep.sum(axis=1)
        k = _argmin(_coordinate_gradient(y, x, m), m) if width >= 2 else np.zeros(runs, dtype=np.int64)
        pick = pos[rows, np.minimum(k, max(width - 1, 0))] if width else np.zeros(runs, dtype=np.int64)
        return lr[rows, pick], pick, m >= 2
    if width == 0:
        return np.zeros(runs), np.zeros(runs, dtype=np.int64), np.zeros(runs, dtype=bool)
    nan = np.isnan(y) & valid  # lr_find cuts both at the first NaN loss
    m = np.where(nan.any(axis=1), np.argmax(nan, axis=1), m)
    if rule == "fastai-valley":
        k, ok = _valley(y, m), m >= 1
    elif rule == "fastai-steep":  # grads = (losses[1:]-losses[:-1]) / (lrs[1:].log()-lrs[:-1].log())
        logx = np.log(x.astype(np.float64)).astype(np.float32)  # torch's float32 log: rounded correctly
        grads = (y[:, 1:] - y[:, :-1]) / (logx[:, 1:] - logx[:, :-1])
        k, ok = _argmin(grads, m - 1) if width >= 2 else np.zeros(runs, dtype=np.int64), m >= 2
    elif rule == "fastai-minimum":
        k, ok = _argmin(y, m), m >= 1
    else:
        k, ok = _slide(y, m), m >= 16
    k = np.clip(k, 0, width - 1)
    value = x[rows, k].astype(np.float64)
    return (value / 10 if rule == "fastai-minimum" else value), pos[rows, k], ok


def _argmin(g: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Index of the least of the first ``m`` values of each row, or of its first NaN (as argmin gives)."""
    masked = np.where(np.arange(g.shape[1]) < m[:, None], g, np.inf)
    return np.argmin(masked, axis=1) if g.shape[1] else np.zeros(len(g), dtype=np.int64)


def _unit_gradient(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``np.gradient(y[:m])`` of each row (unit spacing, first-order ends), left-aligned."""
    g = np.zeros_like(y)
    if y.shape[1] < 2:
        return g
    g[:, 1:-1] = (y[:, 2:] - y[:, :-2]) / 2.0
    g[:, 0] = (y[:, 1] - y[:, 0]) / 1.0
    r = np.flatnonzero(m >= 2)
    g[r, m[r] - 1] = (y[r, m[r] - 1] - y[r, m[r] - 2]) / 1.0
    return g


def _coordinate_gradient(y: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``torch.gradient(y[:m], spacing=[x[:m]])`` per row: ATen's second-order interior, first-order ends."""
    dx = x[:, 1:] - x[:, :-1]
    dx1, dx2 = dx[:, :-1], dx[:, 1:]
    a = -dx2 / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    g = np.empty_like(y)
    g[:, 1:-1] = a * y[:, :-2] + b * y[:, 1:-1] + c * y[:, 2:]
    g[:, 0] = (y[:, 1] - y[:, 0]) / dx[:, 0]
    r = np.flatnonzero(m >= 2)
    g[r, m[r] - 1] = (y[r, m[r] - 1] - y[r, m[r] - 2]) / dx[r, m[r] - 2]
    return g


def _valley(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """fastai's ``valley`` index of each row's first ``m`` losses (negative indices wrapped).

    fastai's double loop makes ``lds[i]`` the length of the longest strictly
    decreasing subsequence ending at ``i``, ``max_end`` the first ``i`` with the
    largest ``lds`` and ``max_start = max_end - lds[max_end]`` (``lds[j] <=
    lds[max_end]`` for every ``j`` seen, so ``max_start`` is set when ``lds[i]``
    first passes ``lds[max_end]``, to its final value); both stay 0 if no loss
    ever falls. The point is ``max_start + int(d/3) + int(d/3/2)``, ``d =
    max_end - max_start``: -1, the last point, when a valley of 1 or 2 starts at 0.
    """
    runs, width = y.shape
    yt = np.ascontiguousarray(y.T)  # (steps, runs): each i reads contiguous rows
    lds = np.ones((width, runs), dtype=np.int32)
    for i in range(1, width):
        lds[i] += np.max((yt[:i] > yt[i]) * lds[:i], axis=0)  # losses[i] < losses[j]
    lds[np.arange(width)[:, None] >= m] = 0
    max_end = np.argmax(lds, axis=0)
    top = lds[max_end, np.arange(runs)]
    max_start = np.where(top > 1, max_end - top, 0)
    sections = (max_end - max_start) / 3
    idx = max_start + sections.astype(np.int64) + (sections / 2).astype(np.int64)
    return np.where(idx < 0, idx + m, idx)


def _slide(y: np.ndarray, m: np.ndarray, lr_diff: int = 15, thresh: float = 0.005) -> np.ndarray:
    """fastai's ``slide`` index of each row's first ``m`` losses (``adjust_value`` 1).

    From the right end, pairs ``(r, l) = (m-1-k, m-1-lr_diff-k)`` of
    ``np.gradient(losses)`` move left while ``l >= 0`` and their gradients
    differ by more than ``thresh`` (compared in float32, as NumPy >= 2 does);
    the suggestion is ``lrs[l]`` of the last pair that moved, or of the first pair.
    """
    g = _unit_gradient(y, m)
    runs, width = y.shape
    rows = np.arange(runs)
    moving = np.ones(runs, dtype=bool)
    moved = np.zeros(runs, dtype=np.int64)
    for k in range(max(width - lr_diff, 0)):
        left, right = m - 1 - lr_diff - k, m - 1 - k
        inside = left >= 0
        gap = np.abs(g[rows, np.clip(right, 0, width - 1)] - g[rows, np.clip(left, 0, width - 1)])
        moving &= inside & (gap > np.float32(thresh))
        moved += moving
    return m - 1 - lr_diff - np.maximum(moved - 1, 0)
