"""Baselines the numba kernel is measured against.

All of them run the seed's per-sample SGD on one dataset for many learning
rates (the shared-data sweep) in float64, with the seed's node graph in the
seed's operation order::

    z1 = th * x; z2 = y - z1; loss = z2 * z2
    dz2 = 2 * z2; dz1 = -dz2; dth = dz1 * x; th = th - lr * dth

* :func:`numpy_sweep` -- vectorised across trajectories (one lane per
  learning rate), Python loop over the steps, metrics streamed (theta_final,
  sign_changes, max_jump) with the kernel's divergence freeze, so that the
  comparison with the kernel is "with metrics on". In-place ufuncs on
  preallocated buffers: the fastest straightforward NumPy formulation.
* :func:`python_sweep` -- the seed's node graph
  (:func:`lrsweep.reference.run_trajectory`) in a Python loop over learning
  rates: what the seed notebook does, one trajectory at a time.
* :func:`make_jax_sweep` -- optional JAX version (``jit`` + ``vmap`` over lr
  + ``lax.scan`` over steps); only usable when ``import jax`` works.

Metric definitions follow :mod:`lrsweep.metrics`: a step diverges when
``|theta_k - theta_ref| > diverge_factor * scale`` (or is not finite) and the
trajectory is frozen at the last in-bound theta; sign changes of
``e = theta - theta_ref`` are counted while both ``|e_{k-1}|`` and ``|e_k|``
exceed ``sign_floor * scale``.
"""

from __future__ import annotations

import contextlib
import glob
import os

import numpy as np

import lrsweep
from lrsweep import grid
from lrsweep.engine.chunk import ChunkCall

# The runner's own thread switch, so benchmarks set threads exactly as sweep() does.
from lrsweep.engine.threads import numba_threads
from lrsweep.reference import run_trajectory

__all__ = ["make_jax_sweep", "numpy_features_sweep", "numpy_sweep", "python_sweep"]

# ---------------------------------------------------------------- workload helpers

#: Large sizes (README table) when set; small smoke sizes otherwise.
FULL = os.environ.get("LRSWEEP_BENCH_FULL", "") not in ("", "0")

#: The seed's problem: lecture data, 100 samples, 5 epochs, theta0 = -1.
N_SAMPLES = 100
EPOCHS = 5
STEPS = N_SAMPLES * EPOCHS


def lrs(T: int) -> np.ndarray:
    """``T`` learning rates sharing the dataset."""
    return np.geomspace(1e-3, 1.0, int(T))


def shared_config(T: int) -> lrsweep.SweepConfig:
    """The shared-data sweep: ``T`` learning rates on the lecture dataset."""
    return lrsweep.SweepConfig(lr=lrs(T), seed=0, n_samples=N_SAMPLES, epochs=EPOCHS, data="lecture")


def seed_config(T: int) -> lrsweep.SweepConfig:
    """Per-trajectory datasets: one lr, ``T`` seeds (each lane its own dataset)."""
    return lrsweep.SweepConfig(lr=0.01, seed=range(int(T)), n_samples=N_SAMPLES, epochs=EPOCHS)


class KernelCall:
    """The arrays of one whole-sweep chunk, laid out by ``ChunkCall``.

    Calling it runs only ``lrsweep.engine.kernel.run_chunk_nb`` (datasets, sample
    orders and outputs are built once, outside the timed region).
    """

    def __init__(self, config: lrsweep.SweepConfig):
        chunk = grid.chunks(config, config.n_trajectories)[0]
        self._call = ChunkCall(config, chunk, np.zeros(0, dtype=np.int64), 1, 0)
        self.n_trajectories = len(chunk)

    def __call__(self) -> np.ndarray:
        self._call.run()
        return self._call.out_f[0]  # theta_final

    def outputs(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's float and int result rows (lrsweep.metrics order)."""
        return self._call.out_f, self._call.out_i

    def plan_gathered(self) -> bool:
        """True if every block of the chunk is a gathered block (lanes of different groups)."""
        return bool(np.all(self._call.plan.b_gather == 1))


def warm_up() -> bool:
    """Compile (or load from numba's cache) the kernel for both layouts used here."""
    lrsweep.sweep(shared_config(8), progress=False)
    lrsweep.sweep(seed_config(2), progress=False)
    return True


_REFERENCE: dict[int, object] = {}


def reference_frame(T: int):
    """``lrsweep.sweep`` results of the shared-data sweep of size ``T`` (memoised)."""
    if T not in _REFERENCE:
        _REFERENCE[T] = lrsweep.sweep(shared_config(T), progress=False).frame
    return _REFERENCE[T]


def record_rate(benchmark, traj_steps: int, **extra) -> None:
    """Attach the work size to the benchmark (README rates = traj_steps / median)."""
    benchmark.extra_info["traj_steps"] = int(traj_steps)
    benchmark.extra_info.update(extra)


# ---------------------------------------------------------------- baselines


def numpy_sweep(
    x: np.ndarray,
    y: np.ndarray,
    lr: np.ndarray,
    *,
    theta_ref: float,
    theta0: float = -1.0,
    epochs: int = 5,
    diverge_factor: float = 1e6,
    sign_floor: float = 1e-10,
) -> dict[str, np.ndarray]:
    """All learning rates of one dataset as a vector; Python loop over steps.

    Returns ``theta_final``, ``sign_changes``, ``max_jump`` and
    ``diverged`` (bool), one entry per learning rate. Fixed sample order
    ``i = k mod n`` (the seed's).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lr = np.ascontiguousarray(lr, dtype=np.float64)
    T = lr.shape[0]
    n = x.shape[0]
    e0 = theta0 - theta_ref
    scale = max(abs(e0), abs(theta_ref)) or 1.0
    bound = diverge_factor * scale
    floor = sign_floor * scale

    th = np.full(T, float(theta0))
    alive = np.ones(T, dtype=bool)
    mj = np.zeros(T)
    sc = np.zeros(T, dtype=np.int64)
    # Scratch buffers (in-place ufuncs: no allocation per step).
    z = np.empty(T)
    tn = np.empty(T)
    en = np.empty(T)
    ep = np.empty(T)
    jump = np.empty(T)
    ok = np.empty(T, dtype=bool)
    b1 = np.empty(T, dtype=bool)
    b2 = np.empty(T, dtype=bool)
    with np.errstate(all="ignore"):
        for k in range(epochs * n):
            i = k % n
            xi = x[i]
            yi = y[i]
            # --- the seed's node graph, same operation order as the kernel ---
            np.multiply(th, xi, out=z)  # z1 = th * x
            np.subtract(yi, z, out=z)  # z2 = y - z1
            # loss = z2 * z2 is not needed by these metrics (it does not feed theta)
            np.multiply(2.0, z, out=z)  # dz2 = 2 * z2
            np.negative(z, out=z)  # dz1 = -dz2
            np.multiply(z, xi, out=z)  # dth = dz1 * x
            np.multiply(lr, z, out=z)  # lr * dth
            np.subtract(th, z, out=tn)  # th - lr * dth
            # --- divergence: freeze at the last in-bound theta ---
            np.subtract(tn, theta_ref, out=en)
            np.subtract(th, theta_ref, out=ep)
            np.abs(en, out=z)  # |e_k|
            np.less_equal(z, bound, out=ok)  # False for NaN too
            np.logical_and(ok, alive, out=ok)
            np.copyto(alive, ok)
            # --- sign changes of e, above the floor ---
            np.greater(z, floor, out=b1)
            np.logical_and(ok, b1, out=ok)  # ok & |e_k| > floor (alive already saved)
            np.abs(ep, out=jump)
            np.greater(jump, floor, out=b1)
            np.logical_and(ok, b1, out=b1)  # ok & both above the floor
            np.multiply(en, ep, out=z)  # strictly opposite signs <=> product < 0
            np.less(z, 0.0, out=b2)
            np.logical_and(b1, b2, out=b2)
            sc += b2
            # --- max |jump| over accepted steps ---
            np.subtract(tn, th, out=jump)
            np.abs(jump, out=jump)
            np.maximum(mj, jump, out=z)
            np.copyto(mj, z, where=alive)
            # --- accept ---
            np.copyto(th, tn, where=alive)
    return {"theta_final": th, "sign_changes": sc, "max_jump": mj, "diverged": ~alive}


def python_sweep(
    x: np.ndarray, y: np.ndarray, lr: np.ndarray, *, theta0: float = -1.0, epochs: int = 5
) -> np.ndarray:
    """The seed's node graph, one trajectory per learning rate; final thetas.

    No divergence freeze (the seed has none): compare only non-diverged lanes.
    """
    out = np.empty(len(lr))
    for j, a in enumerate(lr):
        th, _loss = run_trajectory(x, y, lr=float(a), theta0=theta0, epochs=epochs)
        out[j] = th[-1]
    return out


def _task_ids() -> set[int]:
    return {int(os.path.basename(t)) for t in glob.glob("/proc/self/task/*")}


class OneCPU:
    """Context manager: pin this thread to one CPU; threads started inside inherit it.

    ``cpu`` is the CPU (None where affinity cannot be set); after the block,
    ``new_thread_cpus`` holds the CPUs allowed to the threads started inside
    it that are still alive (Linux ``/proc``). This thread's affinity is
    restored on exit; the new threads keep the one CPU.
    """

    def __init__(self):
        self.cpu: int | None = None
        self.new_thread_cpus: set[int] = set()

    def __enter__(self) -> OneCPU:
        if hasattr(os, "sched_setaffinity"):
            self._old = os.sched_getaffinity(0)
            self._before = _task_ids()
            self.cpu = min(self._old)
            os.sched_setaffinity(0, {self.cpu})
        return self

    def __exit__(self, *exc) -> None:
        if self.cpu is None:
            return
        os.sched_setaffinity(0, self._old)
        for tid in _task_ids() - self._before:
            with contextlib.suppress(OSError):  # the thread exited
                self.new_thread_cpus |= os.sched_getaffinity(tid)


def make_jax_sweep(x: np.ndarray, y: np.ndarray, *, theta_ref: float, theta0: float = -1.0,
                   epochs: int = 5, diverge_factor: float = 1e6, sign_floor: float = 1e-10):
    """A jitted ``f(lr) -> (theta_final, sign_changes, max_jump)``; needs JAX.

    ``vmap`` over learning rates, ``lax.scan`` over the steps, float64.
    """
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    n = len(x)
    steps = np.arange(epochs * n) % n
    xs = jnp.asarray(np.asarray(x, dtype=np.float64)[steps])
    ys = jnp.asarray(np.asarray(y, dtype=np.float64)[steps])
    e0 = theta0 - theta_ref
    scale = max(abs(e0), abs(theta_ref)) or 1.0
    bound = diverge_factor * scale
    floor = sign_floor * scale

    def one(lr):
        def body(carry, xy):
            th, alive, sc, mj = carry
            xi, yi = xy
            z1 = th * xi
            z2 = yi - z1
            dz2 = 2.0 * z2
            dz1 = -dz2
            dth = dz1 * xi
            tn = th - lr * dth
            en = tn - theta_ref
            ep = th - theta_ref
            ok = alive & (jnp.abs(en) <= bound)
            flip = ok & (en * ep < 0.0) & (jnp.abs(ep) > floor) & (jnp.abs(en) > floor)
            mj = jnp.where(ok, jnp.maximum(mj, jnp.abs(tn - th)), mj)
            th = jnp.where(ok, tn, th)
            return (th, ok, sc + flip.astype(jnp.int64), mj), None

        init = (jnp.float64(theta0), jnp.bool_(True), jnp.int64(0), jnp.float64(0.0))
        (th, _alive, sc, mj), _ = jax.lax.scan(body, init, (xs, ys))
        return th, sc, mj

    return jax.jit(jax.vmap(one))


def numpy_features_sweep(
    x: np.ndarray,
    y: np.ndarray,
    lr: np.ndarray,
    *,
    theta_ref: np.ndarray,
    theta0: float = -1.0,
    epochs: int = 5,
    diverge_factor: float = 1e6,
    sign_floor: float = 1e-10,
) -> dict[str, np.ndarray]:
    """d features (no bias): all learning rates of one dataset as a vector of lanes; a Python loop over steps.

    ``x`` is ``(n, d)``; the lanes' weights are a ``(T, d)`` array. Per step
    the node graph vectorised over lanes (``z1 = W x_i``, ``dz1 = -2 (y_i -
    z1)``, ``W_new = W - lr dz1 x_i``) and the metrics of :mod:`lrsweep.metrics`
    in d dimensions streamed: error norm and divergence freeze, overshoots
    ``e_k . e_{k-1} < 0`` above the floor, the largest step norm. Returns
    ``w_final`` (T, d), ``sign_changes``, ``max_jump`` and ``diverged``.
    In-place ufuncs on preallocated buffers; the sums over coordinates are
    NumPy's (pairwise), so bits may differ from the kernel's left-to-right sums.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lr = np.ascontiguousarray(lr, dtype=np.float64)
    ref = np.asarray(theta_ref, dtype=np.float64)
    T, (n, d) = lr.shape[0], x.shape
    e0 = np.full(d, float(theta0)) - ref
    scale = max(float(np.sqrt(e0 @ e0)), float(np.sqrt(ref @ ref))) or 1.0
    bound, floor = diverge_factor * scale, sign_floor * scale
    w = np.full((T, d), float(theta0))
    tn, en, ep, tmp = (np.empty((T, d)) for _ in range(4))
    z, nn, np_, jn, dot = (np.empty(T) for _ in range(5))
    np_[:] = np.sqrt(e0 @ e0)
    alive = np.ones(T, dtype=bool)
    ok, b1 = np.empty(T, dtype=bool), np.empty(T, dtype=bool)
    mj = np.zeros(T)
    sc = np.zeros(T, dtype=np.int64)
    lr_col = lr[:, None]
    with np.errstate(all="ignore"):
        for k in range(epochs * n):
            xi = x[k % n]
            np.dot(w, xi, out=z)  # z1
            np.subtract(y[k % n], z, out=z)  # z2
            np.multiply(-2.0, z, out=z)  # dz1
            np.multiply(z[:, None], xi[None, :], out=tmp)  # dw
            np.multiply(lr_col, tmp, out=tmp)
            np.subtract(w, tmp, out=tn)
            np.subtract(tn, ref, out=en)
            np.subtract(w, ref, out=ep)
            np.multiply(en, en, out=tmp)
            np.sqrt(tmp.sum(axis=1, out=nn), out=nn)  # ||e_k||
            np.less_equal(nn, bound, out=ok)
            np.logical_and(ok, alive, out=ok)
            np.copyto(alive, ok)
            np.multiply(en, ep, out=tmp)
            tmp.sum(axis=1, out=dot)  # e_k . e_{k-1}
            np.greater(nn, floor, out=b1)
            np.logical_and(ok, b1, out=b1)
            np.logical_and(b1, np_ > floor, out=b1)
            np.logical_and(b1, dot < 0.0, out=b1)
            sc += b1
            np.subtract(tn, w, out=tmp)
            np.multiply(tmp, tmp, out=tmp)
            np.sqrt(tmp.sum(axis=1, out=jn), out=jn)  # ||step||
            np.maximum(mj, jn, out=z)
            np.copyto(mj, z, where=alive)
            np.copyto(np_, nn, where=alive)
            np.copyto(w, tn, where=alive[:, None])
    return {"w_final": w, "sign_changes": sc, "max_jump": mj, "diverged": ~alive}


# ---------------------------------------------------------------- interleaved timing
def whole_sweep_call(config: lrsweep.SweepConfig) -> ChunkCall:
    """The whole sweep as one chunk, laid out once (outside every timed region)."""
    chunk = grid.chunks(config, config.n_trajectories)[0]
    return ChunkCall(config, chunk, np.zeros(0, dtype=np.int64), 1, 0)


def kernel_run(call: ChunkCall):
    """A call of the kernel on every block of ``call`` (no layout, no derived columns)."""
    n = len(call.plan.b_start)
    return lambda: call._kernel(0, n)


def interleaved(fns: dict, rounds: int) -> dict[str, list[float]]:
    """Times of ``rounds`` rounds of every function in turn, one thread, after one warm-up call each.

    Interleaving, because this machine is shared: separate benchmarks minutes apart move by
    tens of per cent, calls back to back move together.
    """
    import time

    times: dict[str, list[float]] = {k: [] for k in fns}
    with numba_threads(1):
        for fn in fns.values():  # compile or load, outside the timing
            fn()
        for _ in range(rounds):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return times


def median_ratio(times: dict[str, list[float]], a: str, b: str, scale: float = 1.0) -> float:
    """The median of the per-round ratios ``a / b`` (times ``scale``)."""
    return float(np.median(np.array(times[a]) / np.array(times[b]))) * scale
