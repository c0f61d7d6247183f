"""Forecast quality: MAE, RMSE, skill against persistence, pinball loss and interval coverage."""

from __future__ import annotations

import numpy as np

from forecasting.base import LOWER_QUANTILE, UPPER_QUANTILE


def mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(forecast - actual)))


def rmse(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((forecast - actual) ** 2)))


def skill(error: float, reference_error: float) -> float:
    """1 − error / reference (1 perfect, 0 as good as the reference, < 0 worse); NaN without a reference."""
    return float("nan") if reference_error <= 0.0 else 1.0 - error / reference_error


def pinball(quantile_forecast: np.ndarray, actual: np.ndarray, quantile: float) -> float:
    """Mean pinball (quantile) loss of a `quantile` forecast."""
    diff = actual - quantile_forecast
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1.0) * diff)))


def coverage(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> float:
    """Share of actual values inside [lower, upper]."""
    return float(np.mean((actual >= lower) & (actual <= upper)))


def interval_scores(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Coverage of the nominal 80 % interval and the mean pinball loss of its two quantiles."""
    return {
        "coverage": coverage(lower, upper, actual),
        "pinball": 0.5 * (pinball(lower, actual, LOWER_QUANTILE) + pinball(upper, actual, UPPER_QUANTILE)),
    }
