"""The plain arrays of one chunk's data: concatenated datasets and sample orders.

:class:`ChunkData` builds, for the groups of one chunk, every dataset (once
per data key) and every stored sample order (once per seed, n and order),
with the per-dataset reference fit and statistics, bit for bit the
:mod:`lrsweep.data` recipe whatever the chunking or the thread count.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import AXES, DATA_AXES, LANE_AXES, SweepConfig
from ..data import Dataset, dataset_for, features_dataset_for, least_squares, sample_order
from . import generators, reductions
from .threads import in_parallel

__all__ = ["ChunkData"]


class ChunkData:
    """Plain arrays for one chunk: concatenated datasets and sample orders.

    Vectorised over the chunk's groups: the data keys come from one
    ``unravel_index``, the ``data="gaussian"`` datasets from nogil numba
    calls (:func:`lrsweep.generators.gaussian_datasets`, NumPy's generators ported
    bit for bit) on ranges of datasets split over the threads
    (:func:`lrsweep.engine.threads.in_parallel`), and so do the per-dataset statistics and the
    sample orders. Lecture and user data
    are built per dataset by :func:`lrsweep.data.dataset_for`. The bits are
    those of :func:`lrsweep.make_dataset` whatever the chunking.

    Chunks with at most ``NUMPY_DATASETS`` datasets (or sample orders) build
    them with NumPy instead, one :func:`lrsweep.data.dataset_for` each
    (~0.1 ms; the numba ports take ~1 us each but ~4 s to compile on an
    empty numba cache): the first call of a small sweep compiles only the
    kernel. Same bits either way (tests/testgenerators.py).
    """

    NUMPY_DATASETS = 32

    def __init__(self, config: SweepConfig, groups: np.ndarray):
        axes = config.axes
        group_axes = [a for a in AXES if a not in LANE_AXES]
        shape = tuple(len(axes[a]) for a in group_axes)
        groups = np.asarray(groups, dtype=np.int64)
        n_g = len(groups)
        ix = dict(zip(group_axes, np.unravel_index(groups, shape), strict=True))
        orders = np.asarray(axes["order"], dtype=object)[ix["order"]]  # of each group
        g_online = orders == "online"
        # One dataset per (data key, online), numbered in order of first use.
        dshape = (*(len(axes[a]) for a in DATA_AXES), 2)
        dcode = np.ravel_multi_index((*(ix[a] for a in DATA_AXES), g_online), dshape)
        uniq, first, inv = np.unique(dcode, return_index=True, return_inverse=True)
        by_first = np.argsort(first, kind="stable")
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[by_first] = np.arange(len(uniq))
        g_ds = rank[inv.ravel()]
        rix = {a: ix[a][first[by_first]] for a in group_axes}  # axis indices of each dataset
        n_ds = len(uniq)
        d_online = g_online[first[by_first]]

        def vals(a, dtype=None):
            return np.asarray(axes[a], dtype=dtype)[rix[a]]

        if config.user_data is not None:
            d_n = np.full(n_ds, len(config.user_data[0]), dtype=np.int64)
        else:
            d_n = vals("n_samples", np.int64)
        d_m = np.where(d_online, d_n * config.epochs, d_n)
        # Coordinates per dataset: d features, plus one for a learned bias.
        d_p = vals("n_features", np.int64) + vals("fit_intercept", bool)
        d_off = np.zeros(n_ds, dtype=np.int64)
        np.cumsum(d_m[:-1], out=d_off[1:])
        total = int(d_m.sum())
        self.x = np.empty(total)
        self.y = np.empty(total)
        d_ref = np.empty(n_ds)
        if config.user_data is None and config.data == "gaussian" and n_ds > self.NUMPY_DATASETS:
            frac = vals("outlier_frac", np.float64)
            # k = floor(frac * m + 1/2) as in data._outlier_index (float64, m exact).
            k = np.where(frac > 0, np.floor(frac * d_m + 0.5), 0).astype(np.int64)
            koff = np.zeros(n_ds, dtype=np.int64)
            np.cumsum(k[:-1], out=koff[1:])
            x_scale, noise, scale = (vals(a, np.float64) for a in ("x_scale", "noise", "outlier_scale"))
            leverage = vals("outlier_kind") == "leverage"
            # The response shift in Python floats, exactly as data._generate.
            shift = np.zeros(n_ds)
            cache: dict[tuple, float] = {}
            coef = float(config.coef)
            for d in np.flatnonzero((k > 0) & ~leverage):
                t = (float(x_scale[d]), float(noise[d]), float(scale[d]))
                if t not in cache:
                    cache[t] = t[2] * math.sqrt((coef * t[0]) ** 2 + t[1] ** 2)
                shift[d] = cache[t]
            seeds = vals("seed", np.int64)
            out_idx = np.empty(int(k.sum()), dtype=np.int64)
            icpt = float(config.intercept)
            # theta_ref = data.least_squares, whose np.dot is BLAS: NumPy's own
            # ddot called from numba, else np.dot in Python (~3 us per dataset).
            d_ref[:] = coef  # online streams: the population fit
            ddot = reductions.numpy_ddot()
            x, y = self.x, self.y

            def build(a: int, b: int) -> None:  # datasets a .. b-1: disjoint slices of x, y
                r = slice(a, b)
                generators.gaussian_datasets(seeds[r], d_off[r], d_m[r], x_scale[r], noise[r], leverage[r],
                                       k[r], koff[r], scale[r], shift[r], coef, icpt, x, y, out_idx)
                fit = a + np.flatnonzero(~d_online[r])
                if ddot is not None:
                    ref = np.empty(len(fit))
                    reductions.least_squares_many(ddot, x, y, d_off[fit], d_m[fit], ref)
                    d_ref[fit] = ref
                else:
                    for d in fit:
                        d_ref[d] = least_squares(x[d_off[d]:d_off[d] + d_m[d]], y[d_off[d]:d_off[d] + d_m[d]])

            in_parallel(n_ds, build)
        else:
            key_vals = {a: [axes[a][int(i)] for i in rix[a]] for a in DATA_AXES}
            for d in range(n_ds):
                key = tuple(key_vals[a][d] for a in DATA_AXES)
                if d_p[d] > 1:  # built below (_features)
                    self.x[d_off[d]:d_off[d] + d_m[d]] = 0.0
                    self.y[d_off[d]:d_off[d] + d_m[d]] = 0.0
                    d_ref[d] = 0.0
                    continue
                ds: Dataset = dataset_for(config, key, "online" if d_online[d] else "fixed")
                o = d_off[d]
                self.x[o:o + d_m[d]] = ds.x
                self.y[o:o + d_m[d]] = ds.y
                d_ref[d] = ds.theta_ref
        # mean r^2, mean x r, mean x^2 (the full-batch loss), mean (x r)^2 and mean x^4 (the
        # noise floor): np.mean's pairwise sums, in numba. The last two may overflow to inf
        # for data near the largest values the config accepts (no finite noise floor then).
        d_stats = np.empty((5, n_ds))
        if n_ds > self.NUMPY_DATASETS:
            def stats(a: int, b: int) -> None:
                reductions.dataset_stats(self.x, self.y, d_off[a:b], d_m[a:b], d_ref[a:b], d_stats[:, a:b])

            in_parallel(n_ds, stats)
        else:
            for d in range(n_ds):
                xd = self.x[d_off[d]:d_off[d] + d_m[d]]
                r = self.y[d_off[d]:d_off[d] + d_m[d]] - d_ref[d] * xd
                xr, xx = xd * r, xd * xd
                with np.errstate(over="ignore"):
                    d_stats[:, d] = (np.mean(r * r), np.mean(xr), np.mean(xx), np.mean(xr * xr),
                                     np.mean(xx * xx))
        self.has_features = bool((d_p > 1).any())
        if self.has_features:
            self._features(config, axes, rix, d_online, d_off, d_m, d_p, d_ref)
            self.g_xoff = self.d_xoff[g_ds]
            self.g_roff = self.d_roff[g_ds]
            self.g_zmoments = self.d_zmoments[:, g_ds]
            d_stats[:, d_p > 1] = np.nan  # the one-feature moments mean nothing there
        self.g_ds = g_ds
        self.g_p = d_p[g_ds]
        self.g_d = vals("n_features", np.int64)[g_ds]
        self.g_doff = d_off[g_ds]
        self.g_m = d_m[g_ds]
        self.g_n = d_n[g_ds]
        self.g_ref = d_ref[g_ds]
        self.g_stats = d_stats[:, g_ds]
        # Sample orders, shared by (seed, n, order); none for fixed and online.
        # One numba call (stream 3 ported like the datasets) for all of them.
        self.g_ioff = np.full(n_g, -1, dtype=np.int64)
        shuffle = orders == "shuffle"
        need = np.flatnonzero(shuffle | (orders == "replacement"))
        self.idx = np.zeros(1, dtype=np.int32)
        if need.size:
            ocode = np.ravel_multi_index((ix["seed"][need], ix["n_samples"][need], ix["order"][need]),
                                         (len(axes["seed"]), len(axes["n_samples"]), len(axes["order"])))
            _, ofirst, oinv = np.unique(ocode, return_index=True, return_inverse=True)
            ofirst = need[ofirst]
            o_seed = np.asarray(axes["seed"], dtype=np.int64)[ix["seed"][ofirst]]
            o_n = self.g_n[ofirst]
            o_len = o_n * config.epochs
            o_off = np.zeros(len(ofirst), dtype=np.int64)
            np.cumsum(o_len[:-1], out=o_off[1:])
            self.idx = np.empty(int(o_len.sum()), dtype=np.int32)
            if o_n.max() < 2**31 and len(ofirst) > self.NUMPY_DATASETS:
                o_shuffle = shuffle[ofirst]

                def draw(a: int, b: int) -> None:
                    generators.sample_orders(o_seed[a:b], o_n[a:b], o_shuffle[a:b], config.epochs, o_off[a:b],
                                       self.idx)

                in_parallel(len(ofirst), draw)
            else:  # few orders (or int64 indices, unreachable in memory): NumPy
                for u, g in enumerate(ofirst):
                    o = sample_order(orders[g], int(o_n[u]), config.epochs, int(o_seed[u]))
                    self.idx[o_off[u]:o_off[u] + o_len[u]] = o
            self.g_ioff[need] = o_off[oinv.ravel()]

    def _features(self, config, axes, rix, d_online, d_off, d_m, d_p, d_ref) -> None:
        """The d-feature arrays of a chunk with some dataset of more than one coordinate.

        ``xf``: every dataset's rows of ``p = d (+ 1)`` coordinates, row-major
        (a trailing 1.0 per row for a bias: the bias is the weight of a
        constant input, :mod:`lrsweep.reference_features`), dataset ``k`` from
        ``d_xoff[k]``; ``refv``: its reference ``(w_ref[, b_ref])`` from
        ``d_roff[k]``; ``y`` of the d-feature datasets replaces the
        one-feature draws at ``d_off[k]``. The d-feature datasets come from
        :func:`lrsweep.data.features_dataset_for` (the NumPy recipe, its own
        lstsq reference), the one-feature ones are copied from ``x`` and
        their reference. ``gram[k]`` holds ``(mean r^2, mean x r, mean x x^T)``
        with ``r = y - x theta_ref`` for the full-batch loss of a d-feature
        dataset (:meth:`lrsweep.engine.chunk.ChunkCall.result`);
        ``d_zmoments[:, k]`` its ``(mean ||z||^2, mean r^2 ||z||^2, mean
        ||z||^4)`` (``z`` the row with its 1 for a bias) for the noise floor
        (:func:`lrsweep.engine.chunk.noise_floor`; NaN for one coordinate).
        """
        n_ds = len(d_p)
        self.d_xoff = np.zeros(n_ds, dtype=np.int64)
        np.cumsum((d_m * d_p)[:-1], out=self.d_xoff[1:])
        self.d_roff = np.zeros(n_ds, dtype=np.int64)
        np.cumsum(d_p[:-1], out=self.d_roff[1:])
        self.xf = np.empty(int((d_m * d_p).sum()))
        self.refv = np.empty(int(d_p.sum()))
        self.gram: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
        self.d_zmoments = np.full((3, n_ds), np.nan)
        key_vals = {a: [axes[a][int(i)] for i in rix[a]] for a in DATA_AXES}
        for k in range(n_ds):
            m, p, xo, ro = int(d_m[k]), int(d_p[k]), int(self.d_xoff[k]), int(self.d_roff[k])
            if p == 1:
                self.xf[xo:xo + m] = self.x[d_off[k]:d_off[k] + m]
                self.refv[ro] = d_ref[k]
                continue
            key = tuple(key_vals[a][k] for a in DATA_AXES)
            ds = features_dataset_for(config, key, "online" if d_online[k] else "fixed")
            rows = self.xf[xo:xo + m * p].reshape(m, p)
            rows[:, :ds.n_features] = ds.x
            if ds.fit_intercept:
                rows[:, -1] = 1.0
            self.y[d_off[k]:d_off[k] + m] = ds.y
            theta = ds.theta_ref
            self.refv[ro:ro + p] = theta
            with np.errstate(over="ignore", invalid="ignore"):
                r = ds.y - rows @ theta
                self.gram[k] = (float(np.mean(r * r)), rows.T @ r / m, rows.T @ rows / m)
                zz = np.einsum("ij,ij->i", rows, rows)
                self.d_zmoments[:, k] = (np.mean(zz), np.mean(r * r * zz), np.mean(zz * zz))
