"""Tests of the argument validation of every public lrsweep.theory function.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrsweep import theory as T


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: T.tail_index(-1.0),
         "The 'lr' parameter of tail_index must be a scalar or an array of floats in the range [0, inf). "
         "Got -1.0 instead."),
        (lambda: T.epoch_log_multiplier([1.0, np.nan], 0.1),
         "The 'x' parameter of epoch_log_multiplier must be a 1-D array (one dataset) or a 2-D array "
         "(n_datasets, n) of finite floats. Got nan instead."),
        (lambda: T.epoch_log_multiplier(np.ones((2, 2, 2)), 0.1), "'x' parameter"),
        (lambda: T.roots(np.ones((2, 3))), "'x' parameter of roots must be a 1-D array"),
        (lambda: T.roots([1.0], 2.0, 1.0),
         "The 'lr_max' parameter of roots must be None or a float >= lr_min (2.0). Got 1.0 instead."),
        (lambda: T.population_log_multiplier(0.1, x_scale=0.0),
         "The 'x_scale' parameter of population_log_multiplier must be a scalar or an array of floats "
         "in the range (0, inf). Got 0.0 instead."),
        (lambda: T.predicted_error([1.0], 0.1, epochs=0), "'epochs' parameter"),
        (lambda: T.predicted_steps_to_tol([1.0], 0.1, tol=0.0, epochs=1), "'tol' parameter"),
        (lambda: T.divergence_probability(0, 0.1), "'n' parameter"),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.").replace("[", r"\[")):
        call()
