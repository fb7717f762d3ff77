"""finder: the tools' range tests, checked by hand and against step-by-step transcriptions of their code.

The ``tx_*`` functions below follow each tool's source one run at a time, in
plain Python floats (NumPy float32 where the tool converts to float32 tensors,
NumPy in place of torch), with the tools' own variable names so that a reviewer
can hold them next to the files cited in ``lrsweep.finder``'s docstring. They
are written for these tests, not copied: torch calls are replaced by what they
compute (``torch.lerp`` by its formula, ``torch.gradient`` by ATen's, a
scheduler by its ``last_epoch`` arithmetic). The vectorised module must give
the same bits on random curves with NaN and inf after divergence.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from lrsweep import _validation as V
from lrsweep import finder as F


# --- transcriptions: fastai 2.8.12 (LRFinder, Recorder, AvgSmoothLoss, TrainEvalCallback, lr_find) ---
def tx_fastai_lerp(start, end, weight):
    """torch.lerp(start, end, weight) (ATen's Lerp.h, without the fused multiply-add)."""
    return start + weight * (end - start) if abs(weight) < 0.5 else end - (end - start) * (1 - weight)


def tx_fastai_fit(raw, start_lr, end_lr, num_it, stop_div=True, beta=0.98):
    """``learn.fit`` with ``LRFinder``: callbacks in order TrainEvalCallback, Recorder (50), LRFinder (60)."""
    if num_it < 6:
        num_it = 6
    train_iter, best_loss = 0, float("inf")
    count, val = 0, 0.0  # AvgSmoothLoss.reset
    lrs, losses = [], []  # Recorder.before_fit
    for loss in raw:
        lr = start_lr * (end_lr / start_lr) ** (train_iter / num_it)  # before_batch: SchedExp(pos)
        train_iter += 1  # noqa: SIM113 (TrainEvalCallback.after_batch; the tools' counters are kept)
        count += 1  # noqa: SIM113 (Recorder.after_batch -> AvgSmoothLoss.accumulate)
        val = tx_fastai_lerp(loss, val, beta)
        smooth_loss = val / (1 - beta ** count)
        lrs.append(lr)
        losses.append(smooth_loss)
        if smooth_loss < best_loss:  # LRFinder.after_batch
            best_loss = smooth_loss
        if smooth_loss > 4 * best_loss and stop_div:
            break  # CancelFitException
        if train_iter >= num_it:
            break
    return lrs, losses


def tx_fastai_valley(lrs, losses):
    n = len(losses)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[j] + 1 > lds[i]:
                lds[i] = lds[j] + 1
            if lds[i] > lds[max_end]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def tx_fastai_slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
    loss_grad = np.gradient(losses)
    r_idx = -1
    l_idx = r_idx - lr_diff
    local_min_lr = lrs[l_idx]
    while l_idx >= -len(losses) and abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh:
        local_min_lr = lrs[l_idx]
        r_idx -= 1
        l_idx -= 1
    return float(local_min_lr) * adjust_value


def tx_fastai_minimum(lrs, losses):
    lr_min = float(lrs[int(np.argmin(losses))])  # torch.argmin: the first NaN or the first least value
    return lr_min / 10


def tx_torch_log(x):
    """``tensor.log()`` of float32: correctly rounded but for about 1 value in 10^4 with torch 2.14.1
    (NumPy's own float32 log is in 93 %, and ties between slopes are broken by that last bit)."""
    return np.log(x.astype(np.float64)).astype(np.float32)


def tx_fastai_steep(lrs, losses):
    grads = (losses[1:] - losses[:-1]) / (tx_torch_log(lrs[1:]) - tx_torch_log(lrs[:-1]))
    return float(lrs[int(np.argmin(grads))])


def tx_fastai_lr_find(rec_lrs, rec_losses, num_it):
    """The suggestions ``lr_find`` returns; None where the tool raises."""
    lrs = np.array(rec_lrs[num_it // 10:-5], dtype=np.float32)  # fastai's tensor(): float64 -> float32
    losses = np.array(rec_losses[num_it // 10:-5], dtype=np.float32)
    nan_idxs = np.flatnonzero(np.isnan(losses))
    if len(nan_idxs) > 0:
        drop_idx = min(nan_idxs)
        lrs, losses = lrs[:drop_idx], losses[:drop_idx]
    out = {}
    for name, func in (("fastai-valley", tx_fastai_valley), ("fastai-steep", tx_fastai_steep),
                       ("fastai-minimum", tx_fastai_minimum), ("fastai-slide", tx_fastai_slide)):
        try:
            out[name] = func(lrs, losses)
        except (IndexError, ValueError):  # empty argmin or index, np.gradient of one point
            out[name] = None
    return out


# --- transcriptions: Lightning (tuner/lr_finder.py, torch's LRScheduler, training_epoch_loop) ---
def tx_lightning_fit(raw, min_lr, max_lr, num_training, early_stop_threshold=4.0, beta=0.98):
    """``_lr_find``'s fit: ``_ExponentialLR`` stepped per batch, ``_LRCallback`` hooks, ``max_steps``."""
    base_lr, last_epoch = min_lr, -1

    def scheduler_step():  # LRScheduler.step: last_epoch += 1, then get_lr()
        nonlocal last_epoch
        last_epoch += 1
        curr_iter = last_epoch + 1
        r = curr_iter / num_training
        return base_lr * (max_lr / base_lr) ** r if last_epoch > 0 else base_lr

    _lr = scheduler_step()  # LRScheduler.__init__ -> _initial_step
    avg_loss, best_loss, global_step = 0.0, 0.0, 0
    lrs, losses = [], []
    for current_loss in raw:
        lrs.append(_lr)  # on_train_batch_start
        global_step += 1  # noqa: SIM113 (the optimizer stepped)
        _lr = scheduler_step()  # update_lr_schedulers("step")
        current_step = global_step  # on_train_batch_end
        avg_loss = beta * avg_loss + (1 - beta) * current_loss
        smoothed_loss = avg_loss / (1 - beta ** (current_step + 1))
        should_stop = (early_stop_threshold is not None and current_step > 1
                       and smoothed_loss > early_stop_threshold * best_loss)
        if smoothed_loss < best_loss or current_step == 1:
            best_loss = smoothed_loss
        losses.append(smoothed_loss)
        if should_stop or global_step >= num_training:  # trainer.should_stop, max_steps
            break
    return {"lr": lrs, "loss": losses}


def tx_torch_gradient(f, x):
    """torch.gradient(f, spacing=[x]) of 1-D float32 tensors, edge_order 1 (ATen's gradient_helper)."""
    out = np.empty_like(f)
    out[0] = (f[1] - f[0]) / (x[1] - x[0])
    out[-1] = (f[-1] - f[-2]) / (x[-1] - x[-2])
    for i in range(1, len(f) - 1):
        dx1, dx2 = x[i] - x[i - 1], x[i + 1] - x[i]
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        out[i] = a * f[i - 1] + b * f[i] + c * f[i + 1]
    return out


def tx_lightning_suggestion(results, skip_begin=10, skip_end=1):
    losses = np.array(results["loss"][skip_begin:-skip_end], dtype=np.float32)  # torch.tensor(list)
    lrs = np.array(results["lr"][skip_begin:-skip_end], dtype=np.float32)
    is_finite = np.isfinite(losses)
    losses, lrs = losses[is_finite], lrs[is_finite]
    if len(losses) < 2:
        return None
    gradients = tx_torch_gradient(losses, lrs)
    min_grad = int(np.argmin(gradients))
    all_losses_idx = np.arange(len(results["loss"]))
    idx_non_skipped = all_losses_idx[skip_begin:-skip_end]
    idx_finite = idx_non_skipped[is_finite]
    _optimal_idx = int(idx_finite[min_grad])
    return results["lr"][_optimal_idx]


# --- transcriptions: torch-lr-finder 0.2.2 (LRFinder.range_test, ExponentialLR, LRFinder.plot) ---
def tx_tlf_range_test(raw, start_lr, end_lr=10.0, num_iter=100, smooth_f=0.05, diverge_th=5):
    last_epoch = 0  # ExponentialLR after construction (torch >= 1.1)
    history = {"lr": [], "loss": []}
    best_loss = None
    for iteration in range(num_iter):
        loss = raw[iteration]  # _train_batch
        history["lr"].append(start_lr * (end_lr / start_lr) ** (last_epoch / (num_iter - 1)))  # get_lr()
        last_epoch += 1  # noqa: SIM113 (lr_schedule.step())
        if iteration == 0:
            best_loss = loss
        else:
            if smooth_f > 0:
                loss = smooth_f * loss + (1 - smooth_f) * history["loss"][-1]
            if loss < best_loss:
                best_loss = loss
        history["loss"].append(loss)
        if loss > diverge_th * best_loss:
            break
    return history


def tx_tlf_plot_suggestion(history, skip_start=10, skip_end=5):
    if len(history["lr"]) < skip_start + skip_end + 2:
        return None  # RuntimeError
    lrs, losses = history["lr"], history["loss"]
    if skip_end == 0:
        lrs, losses = lrs[skip_start:], losses[skip_start:]
    else:
        lrs, losses = lrs[skip_start:-skip_end], losses[skip_start:-skip_end]
    min_grad_idx = np.gradient(np.array(losses)).argmin()
    return lrs[min_grad_idx]


# --- helpers ---
def same(a, b):
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


def raw_curves(rng, runs, steps, scale=1.0):
    """Loss curves of range tests: noisy falls, rises, ties, and runs that diverge to inf or NaN."""
    t = np.linspace(0.0, 1.0, steps)
    out = np.empty((runs, steps))
    for r in range(runs):
        kind = r % 5
        if kind == 0:
            c = np.exp(np.cumsum(rng.normal(0.0, 0.3, steps)))
        elif kind == 1:
            c = 1 + 3 * (t - rng.uniform(0.2, 0.9)) ** 2 + rng.normal(0, 0.05, steps)
        elif kind == 2:
            c = np.exp(np.cumsum(rng.normal(0.1, 0.4, steps)))
            c[rng.integers(1, steps):] = np.inf if r % 2 else np.nan
        elif kind == 3:
            c = rng.integers(0, 4, steps).astype(float)  # ties everywhere
        else:
            c = np.maximum(np.linspace(5, -1, steps), 0.5) + rng.normal(0, 1e-3, steps)
            c[rng.integers(0, steps, 2)] = np.nan
        out[r] = np.abs(c) * scale
    return out


def pad(rows, width):
    return np.array([list(r) + [np.nan] * (width - len(r)) for r in rows])


# --- ramps ---
def test_ramps_by_hand():
    np.testing.assert_allclose(F.ramp("torch-lr-finder", 1.0, 8.0, 4), [1, 2, 4, 8], rtol=1e-15)
    np.testing.assert_allclose(F.ramp("lightning", 1.0, 16.0, 4), [1, 4, 8, 16], rtol=1e-15)  # skips 2
    fastai = F.ramp("fastai", 1.0, 64.0, 3)  # num_it raised to 6; 64**(k/6), never 64
    np.testing.assert_allclose(fastai, [1, 2, 4, 8, 16, 32], rtol=1e-15)
    assert len(F.ramp("lightning", 1e-8, 1.0, 1)) == 1


@pytest.mark.parametrize(("start", "end", "n"), [(1e-7, 10.0, 100), (1e-8, 1.0, 7), (3e-3, 0.7, 250)])
def test_ramps_equal_the_transcribed_schedulers_and_lrsweeps_range_schedule(start, end, n):
    raw = np.ones(n)
    assert F.ramp("fastai", start, end, n).tolist() == tx_fastai_fit(raw, start, end, n, stop_div=False)[0]
    assert F.ramp("lightning", start, end, n).tolist() == tx_lightning_fit(raw, start, end, n, None)["lr"]
    assert F.ramp("torch-lr-finder", start, end, n).tolist() == tx_tlf_range_test(raw, start, end, n)["lr"]
    # lrsweep's range:R, lr_t = lr * R**(t/(T-1)): torch-lr-finder's exactly, fastai's with R**((n-1)/n)
    t, big_r = np.arange(n), end / start
    assert F.ramp("torch-lr-finder", start, end, n).tolist() == [start * big_r ** (k / (n - 1)) for k in t]
    np.testing.assert_allclose(F.ramp("fastai", start, end, n),
                               start * (big_r ** ((n - 1) / n)) ** (t / (n - 1)), rtol=1e-13)
    lightning = F.ramp("lightning", start, end, n)
    np.testing.assert_allclose(lightning[1:] / start, big_r ** ((t[1:] + 1) / n), rtol=1e-13)


# --- smoothing and stopping ---
def test_constant_losses_by_hand():
    c = np.full((1, 30), 2.0)
    np.testing.assert_allclose(F.record("fastai", c).losses, 2.0, rtol=1e-13)  # debiased: exact level
    np.testing.assert_allclose(F.record("torch-lr-finder", c).losses, 2.0, rtol=0)
    lightning = F.record("lightning", c).losses[0]
    assert lightning[0] == pytest.approx(2.0 / 1.98, rel=1e-15)  # one step short of debiased
    k = np.arange(30)
    np.testing.assert_allclose(lightning, 2.0 * (1 - 0.98 ** (k + 1)) / (1 - 0.98 ** (k + 2)))
    for tool in F.TOOLS:
        assert F.record(tool, c).length.tolist() == [30]


def test_stop_rules_by_hand_without_smoothing():
    raw = np.array([[3.0, 2.0, 1.0, 3.9, 5.0, 9.0, 1.0]])
    # fastai: stop when the value passes 4 x the best including itself: 5.0 > 4 at step 4
    rec = F.record("fastai", raw, smoothing=0.0)
    assert rec.length.tolist() == [5]
    assert same(rec.losses, [[3.0, 2.0, 1.0, 3.9, 5.0, np.nan, np.nan]])
    # Lightning: from the second step, against the best before it: same step here
    assert F.record("lightning", raw, smoothing=0.0).length.tolist() == [5]
    # torch-lr-finder: 5 x the best: 9.0 at step 5; a threshold of 3.8 stops at 3.9
    assert F.record("torch-lr-finder", raw, smoothing=0.0).length.tolist() == [6]
    assert F.record("torch-lr-finder", raw, smoothing=0.0, threshold=3.8).length.tolist() == [4]
    for tool in F.TOOLS:
        assert F.record(tool, raw, smoothing=0.0, stop=False).length.tolist() == [7]


def test_lightning_does_not_check_its_first_step_and_uses_the_best_before():
    raw = np.array([[1.0, 4.2, 1.0]])  # 4.2 > 4 x 1.0 stops at step 1 (the first check)
    assert F.record("lightning", raw, smoothing=0.0).length.tolist() == [2]
    raw = np.array([[1.0, 0.1, 0.5]])  # fastai: 0.5 > 4 x 0.1; Lightning too (best before = 0.1)
    assert F.record("fastai", raw, smoothing=0.0).length.tolist() == [3]
    assert F.record("lightning", raw, smoothing=0.0).length.tolist() == [3]


def test_divergence_at_step_two_and_nan_losses():
    raw = np.array([[1.0, 1.0, np.inf, np.inf, np.inf],
                    [1.0, 1.0, np.nan, np.nan, np.nan],
                    [np.nan, 1.0, 2.0, 30.0, 40.0]])
    for tool in F.TOOLS:
        rec = F.record(tool, raw)
        assert rec.length[0] == 3 and rec.losses[0, 2] == np.inf  # inf passes every threshold
        assert rec.length[1] == rec.length[2] == 5  # the average keeps a NaN: no threshold is passed
        assert np.isnan(rec.losses[1, 2:]).all() and np.isnan(rec.losses[2]).all()
    # without smoothing, torch-lr-finder's best is its first value even if NaN: no stop either
    assert F.record("torch-lr-finder", raw[2:], smoothing=0.0).length.tolist() == [5]
    late_nan = np.array([[1.0, np.nan, 2.0, 30.0, 40.0]])  # a later NaN is skipped: 30 > 5 x 1 stops
    assert F.record("torch-lr-finder", late_nan, smoothing=0.0).length.tolist() == [4]


@pytest.mark.parametrize("seed", range(6))
def test_record_equals_the_transcriptions_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    steps = int(rng.choice([6, 40, 100]))
    raw = raw_curves(rng, 40, steps)
    lrs = {"fastai": 1e-7, "lightning": 1e-8, "torch-lr-finder": 1e-6}
    for tool in F.TOOLS:
        for kw in ({}, {"smoothing": 0.3}, {"smoothing": 0.0}):
            rec = F.record(tool, raw, **kw)
            p = kw.get("smoothing", F.DEFAULTS[tool]["smoothing"])
            for r in range(len(raw)):
                one = raw[r].tolist()  # Python floats, as the tools' losses (loss.item())
                if tool == "fastai":
                    want = tx_fastai_fit(one, lrs[tool], 10.0, steps, beta=p)[1]
                elif tool == "lightning":
                    want = tx_lightning_fit(one, lrs[tool], 1.0, steps, beta=p)["loss"]
                else:
                    want = tx_tlf_range_test(one, lrs[tool], 10.0, steps, smooth_f=p)["loss"]
                assert rec.length[r] == len(want)
                assert same(rec.losses[r, :len(want)], want), (tool, kw, r)
                assert np.isnan(rec.losses[r, len(want):]).all()


# --- suggestions ---
def test_torch_lr_finder_steepest_step_by_hand():
    losses = [5.0] * 10 + [5.0, 5.0, 3.0, 2.0, 2.0] + [9.0] * 5  # [10:15]: gradient 0, -1, -1.5, -.5, 0
    lrs = np.geomspace(1e-4, 1.0, 20)
    s = F.suggest("torch-lr-finder", lrs, [losses])
    assert s.index.tolist() == [12] and s.lr[0] == lrs[12] and s.reason[0] == F.Reason.OK


def test_lightning_gradient_is_against_the_lr_not_its_log():
    lrs = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    losses = [[10.0, 9.0, 8.5, 8.0, 4.0, 3.9]]
    # Lightning keeps [0:-1]; torch.gradient against lr (ATen's three-point weights a, b, c):
    # -1/1, (-2/3)10 + (1/2)9 + (1/6)8.5 = -0.75, (-1/3)9 + (1/4)8.5 + (1/12)8 = -0.208,
    # (-1/6)8.5 + (1/8)8 + (1/24)4 = -0.25, (4 - 8)/8 = -0.5: the steepest is the first point
    s = F.suggest("lightning", lrs, losses, skip_begin=0)
    assert s.index[0] == 0 and s.lr[0] == 1.0
    # per step (np.gradient, unit spacing): -1, -0.75, -0.5, -2.25, -2.05, -0.1: the fall at lr 8
    per_step = F.suggest("torch-lr-finder", lrs, losses, skip_begin=0, skip_end=0)
    assert per_step.index[0] == 3 and per_step.lr[0] == 8.0


def test_fastai_rules_by_hand():
    lrs = np.geomspace(1e-3, 1.0, 20)
    # after lr_find's trimming [2:-5]: 13 points; a valley from index 1 (value 9) to 6 (value 1)
    kept = [10.0, 9.0, 7.0, 6.0, 3.0, 2.0, 1.0, 2.0, 5.0, 6.0, 8.0, 9.0, 10.0]
    losses = [[11.0, 11.0, *kept, 20.0, 20.0, 20.0, 20.0, 20.0]]
    # lds: 1 2 3 4 5 6 7 ...: max_end = 6, max_start = 6 - 7 = -1, sections = 7/3: idx = -1 + 2 + 1 = 2
    assert F.suggest("fastai-valley", lrs, losses).index[0] == 2 + 2
    assert F.suggest("fastai-minimum", lrs, losses).index[0] == 2 + 6
    assert F.suggest("fastai-minimum", lrs, losses).lr[0] == float(np.float32(lrs[8])) / 10
    # steepest slope versus log lr (equal log spacing up to rounding): 6 -> 3 is -3, from index 3
    assert F.suggest("fastai-steep", lrs, losses).index[0] == 2 + 3
    assert F.suggest("fastai-steep", lrs, losses).lr[0] == float(np.float32(lrs[5]))


def test_fastai_valley_wraps_to_the_last_point_when_a_short_valley_starts_at_zero():
    lrs = np.geomspace(1e-3, 1.0, 10)
    losses = [[2.0, 1.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.5]]  # lds 1 2 1 1 ...: max_start = -1
    s = F.suggest("fastai-valley", lrs, losses, skip_begin=0, skip_end=0)
    assert s.index[0] == 9 == tx_fastai_valley(list(range(10)), losses[0])


def test_fastai_slide_by_hand():
    lrs = np.geomspace(1e-3, 1.0, 40)
    flat = np.full((1, 40), 3.0)  # every gradient 0: no move, lrs[-16] of the trimmed points
    s = F.suggest("fastai-slide", lrs, flat)  # trimmed [4:-5]: 31 points
    assert s.index[0] == 4 + 31 - 16
    steep_end = flat.copy()
    steep_end[0, 20:] = 3.0 + np.arange(20) ** 2  # gradients differ by more than 0.005 near the end
    s = F.suggest("fastai-slide", lrs, steep_end)
    trimmed = np.float32(steep_end[0, 4:-5])
    assert s.lr[0] == tx_fastai_slide(np.float32(lrs[4:-5]), trimmed)
    assert s.index[0] < 4 + 31 - 16


def test_flat_curves():
    lrs = np.geomspace(1e-6, 1.0, 50)
    flat = np.ones((2, 50))
    assert F.suggest("torch-lr-finder", lrs, flat).index.tolist() == [10, 10]
    # Lightning: the gradient of a constant is float32 rounding noise, whose least value it picks
    noise = tx_torch_gradient(np.ones(39, dtype=np.float32), np.float32(lrs[10:-1]))
    assert 0 < np.abs(noise).max() < 1e-3 * np.abs(1 / np.diff(np.float32(lrs[10:-1]))).min()
    assert F.suggest("lightning", lrs, flat).index.tolist() == [10 + int(np.argmin(noise))] * 2
    for rule in ("fastai-valley", "fastai-steep", "fastai-minimum"):
        assert F.suggest(rule, lrs, flat).index.tolist() == [5, 5], rule


def test_ties_between_float32_slopes_are_broken_as_torch_breaks_them():
    lrs = np.geomspace(1e-7, 10.0, 30)
    line = np.linspace(3.0, 1.0, 30)[None]  # equal loss steps: the least slope is decided by rounding
    want = tx_fastai_lr_find(list(lrs), list(line[0]), 30)["fastai-steep"]
    # (NumPy's own float32 log put this tie elsewhere than torch 2.14.1 did, on this machine's SIMD code)
    assert F.suggest("fastai-steep", lrs, line).lr[0] == want


def test_failures_and_their_reason():
    lrs = np.geomspace(1e-6, 1.0, 100)
    nan = np.full((1, 100), np.nan)
    for rule in F.RULES:  # all-NaN: fastai cuts everything, Lightning drops everything
        s = F.suggest(rule, lrs, nan)
        want = F.Reason.OK if rule == "torch-lr-finder" else F.Reason.TOO_FEW_POINTS
        assert s.reason[0] == want, rule
    assert F.suggest("torch-lr-finder", lrs, nan).lr[0] == lrs[10]  # argmin of NaNs: the first
    short = np.linspace(3.0, 1.0, 100)[None]
    for rule, need in (("fastai-valley", 16), ("fastai-steep", 17), ("fastai-minimum", 16),
                       ("fastai-slide", 31), ("lightning", 13), ("torch-lr-finder", 17)):
        ok = F.suggest(rule, lrs, np.repeat(short, 2, axis=0), length=[need - 1, need])
        assert ok.reason.tolist() == [1, 0], rule
        assert np.isnan(ok.lr[0]) and ok.index[0] == -1 and np.isfinite(ok.lr[1])
    assert F.suggest("lightning", lrs, short, skip_end=0).reason[0] == F.Reason.TOO_FEW_POINTS  # [10:-0]


def test_divergence_at_step_two_fails_every_rule():
    raw = np.array([[1.0, 1.0, *([np.inf] * 98)]])
    for tool in F.TOOLS:
        rec = F.record(tool, raw)
        assert rec.length.tolist() == [3]
        for rule in (r for r in F.RULES if r.startswith(tool)):
            s = F.suggest(rule, F.ramp(tool, 1e-7, 10.0, 100), rec.losses, rec.length)
            assert s.reason.tolist() == [F.Reason.TOO_FEW_POINTS], rule


@pytest.mark.parametrize("seed", range(10, 20))
def test_suggestions_equal_the_transcriptions_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    steps = int(rng.choice([12, 30, 100]))
    scale = float(10 ** rng.uniform(-3, 1))  # fastai's slide compares gradients with an absolute 0.005
    raw = raw_curves(rng, 60, steps, scale)
    for tool in F.TOOLS:
        lrs = F.ramp(tool, 1e-7, 10.0, steps) * np.exp(rng.normal(0, 1e-3, steps))
        rec = F.record(tool, raw)
        rules = [rule for rule in F.RULES if rule.startswith(tool)]
        got = {rule: F.suggest(rule, lrs, rec.losses, rec.length) for rule in rules}
        for r in range(len(raw)):
            kept_lrs, kept = list(lrs[:rec.length[r]]), list(rec.losses[r, :rec.length[r]])
            with np.errstate(all="ignore"):  # inf - inf in float32 slopes is the tools' NaN too
                if tool == "fastai":
                    want = tx_fastai_lr_find(kept_lrs, kept, steps)
                elif tool == "lightning":
                    want = {"lightning": tx_lightning_suggestion({"lr": kept_lrs, "loss": kept})}
                else:
                    want = {"torch-lr-finder": tx_tlf_plot_suggestion({"lr": kept_lrs, "loss": kept})}
            for rule, value in want.items():
                lr = got[rule].lr[r]
                assert (value is None and np.isnan(lr)) or value == lr, (rule, r, value, lr)
                assert (value is None) == (got[rule].reason[r] == F.Reason.TOO_FEW_POINTS)


def test_lrs_per_run_and_one_row():
    rng = np.random.default_rng(6)
    raw = raw_curves(rng, 5, 40)
    lrs = np.exp(np.cumsum(rng.uniform(0.1, 0.3, (5, 40)), axis=1)) * 1e-6
    for rule in F.RULES:
        both = F.suggest(rule, lrs, raw)
        for r in range(5):
            one = F.suggest(rule, lrs[r], raw[r])
            assert same(one.lr, both.lr[r:r + 1]) and one.index[0] == both.index[r]


def test_blocks_of_runs_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(7)
    raw = raw_curves(rng, 50, 30)
    lrs = F.ramp("lightning", 1e-6, 1.0, 30)
    whole = {rule: F.suggest(rule, lrs, raw) for rule in F.RULES}
    monkeypatch.setattr(F, "_BLOCK", 7)
    for rule in F.RULES:
        assert all(same(a, b) for a, b in zip(F.suggest(rule, lrs, raw), whole[rule], strict=True))


# --- validation ---
VALID = {
    F.ramp: dict(tool="fastai", start_lr=1e-7, end_lr=10.0, num_it=10),
    F.record: dict(tool="lightning", losses=[[1.0, 2.0]], smoothing=0.9, threshold=4.0, stop=True),
    F.suggest: dict(rule="lightning", lrs=[1e-3, 1e-2], losses=[[1.0, 0.5]], length=[2], skip_begin=0,
                    skip_end=0),
}


@pytest.mark.parametrize(("fn", "name"), [(fn, name) for fn in VALID for name in fn.__lrsweep_constraints__],
                         ids=lambda v: getattr(v, "__name__", v))
def test_every_constraint_violation_raises_with_the_template(fn, name):
    constraint = fn.__lrsweep_constraints__[name]
    owner = fn.__lrsweep_owner__
    expected = re.escape(f"The {name!r} parameter of {owner} must be {constraint.description}.")
    with pytest.raises(V.ParameterError, match=expected):
        fn(**{**VALID[fn], name: constraint.invalid_example()})


def test_cross_parameter_conditions_and_hostile_values():
    with pytest.raises(V.ParameterError, match="'num_it' parameter of ramp must be at least 2 for torch-lr"):
        F.ramp("torch-lr-finder", 1e-7, 10.0, 1)
    with pytest.raises(V.ParameterError, match=r"'lrs' parameter of suggest must be of shape \(3,\) or"):
        F.suggest("lightning", [1.0, 2.0], [[1.0, 2.0, 3.0]])
    with pytest.raises(V.ParameterError, match="'length' parameter of suggest must be whole numbers"):
        F.suggest("lightning", [1.0, 2.0], [[1.0, 2.0]], length=[3])
    with pytest.raises(V.ParameterError, match="'length' parameter of suggest must be whole numbers"):
        F.suggest("lightning", [1.0, 2.0], [[1.0, 2.0]], length=[1.5])
    with pytest.raises(V.ParameterError, match="'length' parameter of suggest must be whole numbers"):
        F.suggest("lightning", [1.0, 2.0], [[1.0, 2.0]], length=[1, 2])
    for bad in ("12", [1 + 2j], [["a"]], None):
        with pytest.raises(V.ParameterError, match="'losses' parameter of record must be"):
            F.record("fastai", bad)
    with pytest.raises(V.ParameterError, match="'lrs' parameter of suggest must be"):
        F.suggest("lightning", [1.0, math.nan], [[1.0, 2.0]])
    assert F.record("fastai", [1.0, np.nan, np.inf]).losses.shape == (1, 3)  # NaN and inf are data
