"""Small NumPy helpers shared by the models."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def nan_to_zero(values: np.ndarray) -> np.ndarray:
    """`np.nan_to_num(values, nan=0.0)` (NaN → 0, ±inf → the largest finite floats) for float
    arrays, without its per-call overhead (tens of µs) in the common case of no infinities."""
    out: np.ndarray = np.where(np.isnan(values), 0.0, values)
    if np.isinf(out).any():
        out = np.nan_to_num(values, nan=0.0)
    return out


def clip(values: ArrayLike, low: ArrayLike, high: ArrayLike | None = None) -> np.ndarray:
    """`np.clip(values, low, high)` (`high` None: no upper bound): the same numbers, as np.clip is
    `minimum(maximum(values, low), high)` with NaN passed through, without its Python layers
    (~1.3 µs per call; the models clip a few times per step)."""
    out: np.ndarray = np.maximum(values, low)
    if high is not None:
        out = np.minimum(out, high)
    return out
