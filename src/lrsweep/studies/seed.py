"""Study ``seed``: the lecture's run reproduced bit for bit, with both of its figures and its exact theory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import AXES, FEATURE_AXES, OPTIMIZER_AXES
from ..intervals import mean_and_se
from .common import fmt
from .spec import SINGLE, Options, Output, Study, SweepSpec
from .steps import exact_steps, exact_steps_applies

if TYPE_CHECKING:
    from ..results import Results

#: The lecture's rainbow fan draws the first 200 iterations; theta is also reported there.
FAN_STEPS = 200
#: Orders for which log|e| changes by exactly S over every epoch (noise-free data).
EXACT_ORDERS = ("fixed", "shuffle")


def declare(opts: Options) -> dict[str, SweepSpec]:
    cfg = opts.config(lr=0.01, seed=0, theta0=-1.0, epochs=5, data="lecture")
    return {"seed": SweepSpec(cfg, record="all")}


def _epoch_changes(theta: np.ndarray, theta0: float, theta_ref: float, n: int, floor: float) -> np.ndarray:
    """log|e| at the end of each epoch minus at its start, for the epochs whose |e| stays above ``floor``."""
    e = np.abs(np.concatenate([[theta0], theta[n - 1::n]]) - theta_ref)
    with np.errstate(divide="ignore"):
        log_e = np.log(e)
    ok = (e[:-1] > floor) & (e[1:] > floor)
    return np.diff(log_e)[ok]


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    from .. import plots
    from .common import replay

    res = runs["seed"]
    cfg = res.config
    frame = res.with_theory()
    row = frame.iloc[0]
    order = str(row["order"])
    n = int(row["n_samples"])
    ds, th_ref, loss_ref = replay(cfg, row)
    rec = res.records[res.records["trajectory_id"] == row["trajectory_id"]]
    n_ok = len(rec)
    identical = bool(np.array_equal(rec["theta"].to_numpy(), th_ref[:n_ok])
                     and np.array_equal(rec["loss"].to_numpy(), loss_ref[:n_ok]))
    theta_fan = float(rec["theta"].iloc[FAN_STEPS - 1]) if n_ok >= FAN_STEPS else float("nan")
    theta_ref = float(row["theta_ref"])

    # Exact theory of this dataset: noise-free with fixed or shuffled order, log|e| changes by exactly
    # S = sum_i log|1 - 2 lr x_i^2| per epoch; fixed order also fixes the converged step in advance.
    noise_free = row["noise"] == 0 and not (row["outlier_frac"] > 0 and row["outlier_kind"] == "response")
    exact = noise_free and order in EXACT_ORDERS
    floor = cfg.sign_floor * max(abs(row["theta0"] - theta_ref), abs(theta_ref), 1e-300)
    changes = _epoch_changes(rec["theta"].to_numpy(), float(row["theta0"]), theta_ref, n, floor)
    change_mean, change_se = mean_and_se(changes)
    exact_step = float(exact_steps(res)[0]) if bool(exact_steps_applies(frame)[0]) else float("nan")
    # predicted_growth_rate repeats S (the exact growth of log|e| per epoch): one column is enough.
    summary = frame.drop(columns="predicted_growth_rate")
    summary["theta_at_200"] = theta_fan
    summary["identical_to_node_graph"] = identical
    summary["log_change_per_epoch_mean"] = change_mean
    summary["log_change_per_epoch_mean_se"] = change_se
    summary["epochs_measured"] = len(changes)
    summary["exact_converged_step"] = exact_step

    top = 2 * float(row["lr"]) * float(np.max(ds.x ** 2))
    zigzag = ("The loss zig-zags because each step is judged on a different sample: the per-sample loss (y_i "
              "- theta x_i)^2 = x_i^2 e^2 jumps with x_i^2 from step to step while e shrinks smoothly. On a "
              "linear axis this is visible only in the first ~100 steps; the log-scale panel shows it at "
              "every scale of e. ")
    overshoot = (f"The dashed lines mark the epochs. No step overshoots (2 lr max x_i^2 = {fmt(top, 3)} < "
                 "1), so theta approaches theta_ref from one side.\n" if top < 1 else
                 "The dashed lines mark the epochs. Steps with 2 lr x_i^2 > 1 overshoot theta_ref (2 lr max "
                 f"x_i^2 = {fmt(top, 3)}).\n")
    line = f"y = {cfg.coef:g}x" + (f" + {cfg.intercept:g}" if cfg.intercept else "")
    steps = len(th_ref)
    figs = {
        "theta_and_loss": plots.seed_trajectory(
            rec, theta_ref=theta_ref, epoch_length=n,
            title=f"Per-sample SGD on {line}, lr = {row['lr']:g}, theta0 = {row['theta0']:g}, {cfg.epochs} "
                  f"epochs x {n} samples:\n"
                  "theta climbs to theta_ref; the loss zig-zags all the way down (log scale)"),
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
    s_val = float(row["S"])
    measured = (f"{fmt(change_mean, 6)} ± {fmt(change_se, 2)}" if np.isfinite(change_se)
                else fmt(change_mean, 6))
    if exact and len(changes):
        theory_sentence = (
            "its error |theta - theta_ref| shrinks by exactly the dataset's epoch multiplier: log|e| changes "
            f"by {measured} (mean ± standard error over the {len(changes)} epochs measured) per epoch "
            f"against the exact S = {fmt(s_val, 6)}")
    else:
        theory_sentence = (
            f"log|e| changes by {measured} per epoch (mean ± standard error over {len(changes)} epochs), "
            f"next to the dataset's S = {fmt(s_val, 6)}, which is exact only for noise-free data in fixed or "
            "shuffled order")
    answer = (f"{'Yes' if identical else 'No'}: the {n_ok} recorded values of theta and of the loss "
              f"{'equal' if identical else 'differ from'} the node graph's bit for bit (theta = "
              f"{fmt(theta_fan, 6)} after iteration {FAN_STEPS}, {fmt(row['theta_final'], 8)} after {steps}"
              f"), and {theory_sentence}.")
    verdict = "diverges" if bool(row["predicted_diverges"]) else "converges"
    exact_rows = (
        f"| exact epoch log-multiplier S = sum_i log|1 - 2 lr x_i^2| of this dataset | {fmt(s_val, 6)} |\n"
        f"| measured change of log|e| per epoch, mean ± standard error over {len(changes)} epochs | "
        f"{measured} |\n"
        f"| exact verdict (sign of S; exact for noise-free fixed or shuffled order) | {verdict} ("
        f"{'exact' if exact else 'not exact here'}) |\n"
        "| exact converged_step (known in advance for noise-free fixed order) | "
        + (f"{int(exact_step)} |\n" if np.isfinite(exact_step) else "not exact here |\n")
        + "| overshoots: sign changes of e (simulated / exact count of steps with 2 lr x_i^2 > 1) | "
        f"{row['sign_changes']} / {row['predicted_sign_changes']} |\n")
    report = (
        f"The lecture's run reproduced: {generator} with seed {row['seed']} ({n} samples of N(0, "
        f"{row['x_scale']:g}^2), {line}{extra}), theta0 = {row['theta0']:g}, lr = {row['lr']:g}, {cfg.epochs}"
        " epochs; replayed through the node-graph reference (`lrsweep.reference`) and compared bit for bit. "
        "One deterministic run: there is no sampling uncertainty; the ± below is the spread of a measured "
        "rate over the run's epochs.\n\n"
        "| quantity | value |\n"
        "|---|---|\n"
        f"| theta after iteration {FAN_STEPS} | {fmt(theta_fan, 6)} |\n"
        f"| theta after iteration {steps} | {fmt(row['theta_final'], 8)} |\n"
        f"| least-squares theta_ref of the data | {fmt(theta_ref, 8)} |\n"
        f"| converged_step (within {100 * cfg.tol:g} % of the initial error for good) | "
        f"{row['converged_step']} |\n"
        f"| status (converged: the whole last epoch within tolerance) | {row['status']} |\n"
        + exact_rows +
        f"| loss zig-zag in the last epoch (fraction of turning points) | {fmt(row['loss_zigzag'], 3)} |\n"
        f"| recorded theta and loss identical to the node graph, bit for bit | {identical} |\n\n"
        + (zigzag if noise_free else "") + overshoot
    )
    headline = (f"seed: theta = {fmt(theta_fan, 5)} at iteration {FAN_STEPS}, {fmt(row['theta_final'], 7)} "
                f"at the end; identical to the node graph: {identical}; log|e| per epoch {measured} vs S = "
                f"{fmt(s_val, 6)}")
    return Output(summary, figs, report, headline, answer=answer)


STUDY = Study(
    name="seed",
    question=("Does lrsweep reproduce the lecture's per-sample SGD run bit for bit, and does that run's "
              "error shrink as the exact theory of its dataset says?"),
    declare=declare,
    analyse=analyse,
    # One trajectory: every axis may take one other value; the replay and the figures follow it.
    axes={a: SINGLE for a in AXES if a not in OPTIMIZER_AXES + FEATURE_AXES},
    refused={**{a: "the seed's exact theory here (S, the exact converged step) is per-sample SGD with a "
                   "constant learning rate" for a in OPTIMIZER_AXES},
             **{a: "the seed's exact theory here (S, the exact converged step) is the one-feature model "
                   "without a bias" for a in FEATURE_AXES}},
    figures=("theta_and_loss", "rainbow_fan"),
)
