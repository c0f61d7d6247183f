"""A two-sided CUSUM on standardised residuals (Page 1954; Montgomery, *Introduction to Statistical
Quality Control*, ch. 9): a persistent shift of δ standard deviations adds δ − k to one of the
sums at every step, so it crosses the threshold h after about h / (δ − k) steps, while noise alone
seldom does (for k = 0.5 and h = 5 the average run length to a false alarm is about 465 steps per
side for Gaussian residuals).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from controllers.detection.base import Detector

__all__ = ["Cusum", "CusumDetector", "CusumParams"]


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


class CusumParams(BaseModel):
    """`drift`: the CUSUM's k, in standard deviations of the residual."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drift: float = Field(default=0.5, ge=0)


class CusumDetector(Detector):
    """A detector whose score is a two-sided CUSUM (σ) of a standardised residual: `self.cusum`,
    with the drift of its `Params` (a `CusumParams` or a subclass) and capped at twice the
    threshold; `self.p` is its parameters."""

    unit: ClassVar[str] = "σ"
    Params: ClassVar[type[BaseModel]] = CusumParams

    def __init__(self, threshold: float | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(threshold, params)
        drift = getattr(self.params, "drift", 0.5)
        self.p: Any = self.params
        self.cusum = Cusum(float(drift), 2.0 * self.threshold)
