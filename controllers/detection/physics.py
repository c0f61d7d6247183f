"""Physics checks of what an agent's sensors report: `meter_consistency` (its meter against the
grid side's measurement at its bus) and `soc_consistency` (its battery's state of charge against
what the battery's own power explains)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from controllers.detection.base import Observation, Score, register_detector
from controllers.detection.cusum import CusumDetector, CusumParams

__all__ = ["MeterConsistency", "SocConsistency"]


@register_detector
class MeterConsistency(CusumDetector):
    """`meter_consistency`: the agent's meter reading minus the grid side's measurement of the
    same step at its bus, standardised by the pair's noise (`meter_sigma_kw`), through a two-sided
    CUSUM. Score = the CUSUM sum (σ); an alarm above `threshold`. It tells an attacked sensor (the
    meter disagrees with the bus) from a lying agent (`plan_consistency`: the claim disagrees with
    the bus). Not scored without a grid-side measurement or with exact sensors."""

    kind: ClassVar[str] = "meter_consistency"
    default_threshold: ClassVar[float] = 8.0

    def score(self, observation: Observation) -> Score | None:
        o = observation
        if o.measured_kw is None or o.bus_kw is None or not o.meter_sigma_kw:
            return None
        return self.verdict(o, self.cusum.update(o.agent, (o.measured_kw - o.bus_kw) / o.meter_sigma_kw))


class SocParams(CusumParams):
    """`drift`: the CUSUM's k (σ); `gain`: how strongly each reading corrects the integrated state
    of charge (small: the estimate follows the battery's power, so a biased reading stands out for
    several steps); `warmup_steps`: steps the estimate settles (it averages the readings, gain
    1/(n+1)) before it is scored."""

    gain: float = Field(default=0.1, gt=0, le=1)
    warmup_steps: int = Field(default=8, ge=0)


@register_detector
class SocConsistency(CusumDetector):
    """`soc_consistency`: a battery's reported state of charge against its estimate integrated from
    the battery's own power (a fixed-gain Kalman-style observer: estimate ← estimate + expected
    change, then + gain × (reading − estimate)); the innovation reading − estimate, standardised by
    the reading's noise, goes through a two-sided CUSUM. Score = the CUSUM sum (σ); an alarm above
    `threshold`. A bias, a freeze or a drift of the reported state of charge shows for several
    steps; the battery's losses not modelled in the expected change are absorbed by the gain."""

    kind: ClassVar[str] = "soc_consistency"
    default_threshold: ClassVar[float] = 5.0
    Params: ClassVar[type[BaseModel]] = SocParams

    def __init__(self, threshold: float | None = None, params: dict[str, object] | None = None) -> None:
        super().__init__(threshold, params)
        self.estimate: dict[str, float] = {}
        self.seen: dict[str, int] = {}

    def score(self, observation: Observation) -> Score | None:
        o = observation
        if o.soc_before is None or o.soc_after is None or o.soc_delta_expected is None:
            return None
        sigma = max(o.soc_sigma or 0.0, 1e-3)  # exact sensors: the BMS's resolution
        n = self.seen.get(o.agent, 0)
        self.seen[o.agent] = n + 1
        estimate = self.estimate.get(o.agent, o.soc_before) + o.soc_delta_expected
        estimate = min(max(estimate, 0.0), 1.0)
        innovation = o.soc_after - estimate
        self.estimate[o.agent] = estimate + max(self.p.gain, 1.0 / (n + 2)) * innovation
        if n < self.p.warmup_steps:
            return self.verdict(o, 0.0)
        # the innovation's σ: the reading's noise and the estimate's (≈ gain / (2 − gain) of it)
        scale = sigma * (1.0 + self.p.gain / (2.0 - self.p.gain)) ** 0.5
        return self.verdict(o, self.cusum.update(o.agent, innovation / scale))
