"""Study ``seed``: the lecture's run reproduced bit for bit, with both of its figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import AXES
from .common import fmt
from .spec import SINGLE, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    from ..results import Results

#: The lecture's rainbow fan draws the first 200 iterations; theta is also reported there.
FAN_STEPS = 200


def declare(opts: Options) -> dict[str, SweepSpec]:
    cfg = opts.config(lr=0.01, seed=0, theta0=-1.0, epochs=5, data="lecture")
    return {"seed": SweepSpec(cfg, record="all")}


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    from .. import plots
    from .common import replay

    res = runs["seed"]
    cfg = res.config
    row = res.frame.iloc[0]
    order = str(row["order"])
    n = int(row["n_samples"])
    ds, th_ref, loss_ref = replay(cfg, row)
    rec = res.records[res.records["trajectory_id"] == row["trajectory_id"]]
    n_ok = len(rec)
    identical = bool(np.array_equal(rec["theta"].to_numpy(), th_ref[:n_ok])
                     and np.array_equal(rec["loss"].to_numpy(), loss_ref[:n_ok]))
    theta_fan = float(rec["theta"].iloc[FAN_STEPS - 1]) if n_ok >= FAN_STEPS else float("nan")
    summary = res.frame.copy()
    summary["theta_at_200"] = theta_fan
    summary["identical_to_node_graph"] = identical
    line = f"y = {cfg.coef:g}x" + (f" + {cfg.intercept:g}" if cfg.intercept else "")
    steps = len(th_ref)
    figs = {
        "theta_and_loss": plots.seed_trajectory(
            rec, title=f"Per-sample SGD on {line}: lr = {row['lr']:g}, theta0 = {row['theta0']:g}, "
                       f"{cfg.epochs} epochs x {n} samples (1 trajectory)"),
        "rainbow_fan": plots.rainbow_fan(
            ds.x, ds.y, rec["theta"].to_numpy(), n_lines=FAN_STEPS,
            title=f"The first {FAN_STEPS} iterations: y = theta_k x, purple (k=1) to red (k={FAN_STEPS})"),
    }
    generator = ("the lecture's legacy `np.random.seed(seed)` generator" if cfg.data == "lecture"
                 else "NumPy's default generator")
    extras = [f"noise sd {row['noise']:g}" if row["noise"] else "",
              f"{row['outlier_frac']:g} {row['outlier_kind']} outliers of scale {row['outlier_scale']:g}"
              if row["outlier_frac"] else "",
              f"order {order}" if order != AXES["order"][1] else ""]
    extra = "".join(f", {e}" for e in extras if e)
    report = (
        f"The lecture's run reproduced: {generator} with seed {row['seed']} ({n} samples of "
        f"N(0, {row['x_scale']:g}^2), {line}{extra}), theta0 = {row['theta0']:g}, lr = {row['lr']:g}, "
        f"{cfg.epochs} epochs.\n\n"
        f"| quantity | value |\n|---|---|\n"
        f"| theta after iteration {FAN_STEPS} | {fmt(theta_fan, 6)} |\n"
        f"| theta after iteration {steps} | {fmt(row['theta_final'], 8)} |\n"
        f"| converged_step (within {100 * cfg.tol:g} % of the initial error for good) | "
        f"{row['converged_step']} |\n"
        f"| status | {row['status']} |\n"
        f"| loss zig-zag in the last epoch (fraction of turning points) | {fmt(row['loss_zigzag'], 3)} |\n"
        f"| recorded theta and loss identical to the node graph, bit for bit | {identical} |\n"
    )
    headline = (f"seed: theta = {fmt(theta_fan, 5)} at iteration {FAN_STEPS}, "
                f"{fmt(row['theta_final'], 7)} at the end; identical to the node graph: {identical}")
    return Output(summary, figs, report, headline)


STUDY = Study(
    name="seed",
    question="The lecture's run reproduced exactly, with both of its figures.",
    declare=declare,
    analyse=analyse,
    # One trajectory: every axis may take one other value; the replay and the figures follow it.
    axes={a: SINGLE for a in AXES},
    figures=("theta_and_loss", "rainbow_fan"),
)
