"""Figures from tidy frames, in lrsweep's seaborn theme, leaving matplotlib's global state alone.

Every function takes tidy frames, an optional ``ax`` (or draws its own
figure), returns the :class:`matplotlib.figure.Figure` and never shows it.
Colours: seaborn's colour-blind-safe palette, except the seed's rainbow fan,
where the rainbow is the point.

The look (seaborn's ``notebook`` context, ``whitegrid`` style and
``colorblind`` palette) is applied only while a figure is built, inside
:func:`theme`: the caller's rcParams, colour codes and backend are the same
after a call as before it, and the figure keeps its look when it is rendered
later, outside the theme (``savefig`` after the call, Jupyter's display at the
end of a cell). The backend is the application's choice; these functions work
under whichever one is active.

Arguments are checked first (:mod:`lrsweep._validation`): a wrong type or
value, or a frame without a column the call needs, raises a
:class:`~lrsweep._validation.ParameterError` naming the parameter.
"""

from .batches import batch_thresholds, noise_floor_by_batch, samples_and_steps, threshold_scaling
from .boundary import critical_lr_curve, diverging_windows
from .curves import divergence_curve, lines_with_bands, oscillation_curve, speed_vs_stability, survival_loglog
from .dimension import exponent_by_dimension, orders_vs_lr, steps_vs_dimension, thresholds_vs_dimension
from .finder import estimates_by_arm, range_test_curves
from .grids import heatmaps
from .momentum import critical_lr_vs_momentum, stability_region
from .noise import mean_square_vs_median, status_rates
from .schedules import versus_budget
from .steps import steps_to_converge
from .theme import theme
from .trajectories import lr_comparison, rainbow_fan, seed_trajectory

__all__ = [
    "batch_thresholds",
    "critical_lr_curve",
    "critical_lr_vs_momentum",
    "divergence_curve",
    "diverging_windows",
    "estimates_by_arm",
    "exponent_by_dimension",
    "heatmaps",
    "lines_with_bands",
    "lr_comparison",
    "mean_square_vs_median",
    "noise_floor_by_batch",
    "orders_vs_lr",
    "oscillation_curve",
    "rainbow_fan",
    "range_test_curves",
    "samples_and_steps",
    "seed_trajectory",
    "speed_vs_stability",
    "stability_region",
    "status_rates",
    "steps_to_converge",
    "steps_vs_dimension",
    "survival_loglog",
    "theme",
    "threshold_scaling",
    "thresholds_vs_dimension",
    "versus_budget",
]
