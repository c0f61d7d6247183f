"""`plan_consistency`: an agent's reported step against its measured meter (see the package)."""

from __future__ import annotations

from typing import ClassVar

from controllers.detection.base import Detector, Observation, Score, register_detector

__all__ = ["PlanConsistency"]


@register_detector
class PlanConsistency(Detector):
    """Score = |measured − reported| in kW; an alarm above `threshold_kw`. An agent that reported
    nothing is not scored (a late agent is the coordinator's fallback, not an anomaly here)."""

    kind: ClassVar[str] = "plan_consistency"

    def score(self, observation: Observation) -> Score:
        if observation.reported_kw is None or observation.measured_kw is None:
            value = 0.0
        else:
            value = abs(observation.measured_kw - observation.reported_kw)
        return Score(observation.agent, observation.time_s, self.kind, value, value > self.threshold_kw)
