"""A two-sided CUSUM on standardised residuals (Page 1954; Montgomery, *Introduction to Statistical
Quality Control*, ch. 9): a persistent shift of δ standard deviations adds δ − k to one of the
sums at every step, so it crosses the threshold h after about h / (δ − k) steps, while noise alone
seldom does (for k = 0.5 and h = 5 the average run length to a false alarm is about 465 steps per
side for Gaussian residuals).
"""

from __future__ import annotations

__all__ = ["Cusum"]


class Cusum:
    """Per-key upper and lower sums of z − k and −z − k, floored at 0 and capped at `cap` (twice
    the alarm threshold, say), so that a shift that ended is forgotten within about cap / k steps.
    `update` returns the larger sum after adding z."""

    def __init__(self, drift: float, cap: float) -> None:
        self.drift, self.cap = drift, cap
        self.upper: dict[str, float] = {}
        self.lower: dict[str, float] = {}

    def update(self, key: str, z: float) -> float:
        hi = min(self.cap, max(0.0, self.upper.get(key, 0.0) + z - self.drift))
        lo = min(self.cap, max(0.0, self.lower.get(key, 0.0) - z - self.drift))
        self.upper[key], self.lower[key] = hi, lo
        return max(hi, lo)
