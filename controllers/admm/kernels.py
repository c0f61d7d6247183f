"""Small compiled helpers of the agents' per-round path (numba, cached beside this module).

Each replaces a few numpy calls whose overhead (~1–2 µs a call on arrays of ~1,000 values) costs
more than the arithmetic: an agent evaluates its local cost after every solve, thousands of times
per control step on a host of many agents.
"""

from __future__ import annotations

import numba
import numpy as np

from controllers.admm.data import FloatArray


@numba.njit(cache=True, error_model="numpy")
def _quadratic(p_diag: FloatArray, q: FloatArray, x: FloatArray) -> float:
    total = 0.0
    for j in range(x.shape[0]):
        total += x[j] * (0.5 * p_diag[j] * x[j] + q[j])
    return total


def quadratic_value(p_diag: FloatArray, q: FloatArray, x: FloatArray) -> float:
    """½ xᵀ diag(p_diag) x + qᵀ x in one pass (the same value as numpy's three products to
    rounding: ~2 µs instead of ~7 µs at 864 variables)."""
    return float(_quadratic(p_diag, q, np.asarray(x, dtype=float)))


@numba.njit(cache=True, error_model="numpy")
def segment_quadratics(
    p_diag: FloatArray, q: FloatArray, x: FloatArray, bounds: np.ndarray, out: FloatArray
) -> None:
    """out[k] = ½ xᵀ diag(p_diag) x + qᵀ x over the slice bounds[k, 0] … bounds[k, 1] of the flat
    arrays: `quadratic_value` of many agents' vectors in one call, term by term in the same order
    (the same values to the last bit)."""
    for k in range(bounds.shape[0]):
        total = 0.0
        for j in range(bounds[k, 0], bounds[k, 1]):
            total += x[j] * (0.5 * p_diag[j] * x[j] + q[j])
        out[k] = total
