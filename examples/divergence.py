"""Divergence probability of per-sample SGD versus learning rate and dataset size.

A plain-script version of ``python -m lrsweep.study divergence`` (which adds
the exact theory, figures and a report): 40 learning
rates x 1000 seeds x 3 dataset sizes = 120,000 trajectories of the seed's
problem (y = 5x, theta0 = -1, 5 epochs, fixed order), a table of divergence
rates with Wilson 95 % intervals, and the tidy results in
``results/divergence/trajectories.parquet``.

Run: ``python examples/divergence.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import lrsweep


def main() -> None:
    cfg = lrsweep.SweepConfig(
        lr=np.geomspace(0.05, 3.0, 40), seed=range(1000), n_samples=[10, 100, 1000], epochs=5
    )
    res = lrsweep.sweep(cfg)
    print(res)
    print(f"{cfg.n_trajectories:,} trajectories in {res.meta['elapsed_s']:.1f} s (compile included)")
    s = res.summary(by=["n_samples", "lr"])
    s["unstable"] = res.frame.groupby(["n_samples", "lr"])["growth_rate"].apply(lambda g: (g > 0).mean()).values
    cols = ["n_samples", "lr", "n", "diverged_rate", "diverged_lo", "diverged_hi", "unstable"]
    with pd.option_context("display.max_rows", 200, "display.width", 120, "display.precision", 4):
        print(s[cols].to_string(index=False))
    # Smallest lr where at least half the runs diverged, per dataset size.
    for n, g in s.groupby("n_samples"):
        half = g[g["diverged_rate"] >= 0.5]
        lr50 = half["lr"].min() if len(half) else float("nan")
        print(f"n = {n:5d}: half the runs diverge from lr = {lr50:.3g}")
    out = Path("results/divergence")
    out.mkdir(parents=True, exist_ok=True)
    path = res.to_parquet(out / "trajectories.parquet")
    s.to_csv(out / "summary.csv", index=False)
    print(f"wrote {path} and {out / 'summary.csv'}")


if __name__ == "__main__":
    main()
