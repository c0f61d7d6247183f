"""Checks of the coordinator: `limit_check` (its decision against the transformer limit it was to
keep) and `dual_consistency` (its broadcasts against their own dual update)."""

from __future__ import annotations

from typing import ClassVar

from controllers.detection.base import Detector, Observation, Score, register_detector

__all__ = ["DualConsistency", "LimitCheck"]


@register_detector
class LimitCheck(Detector):
    """The district's observation (agent `coordinator`): `reported_kw` is the total the
    coordinator's converged decision planned for the step (the sum of the agents' last claims it
    took; None when it did not converge: an infeasible step is the fallback's business) and
    `limit_kw` the true shared limit, which the platform knows apart from the coordinator. Score =
    how far that plan exceeds the limit (kW); an alarm above `threshold`. An honest coordinator's
    converged plan keeps the limit up to its tolerance; one that works to a false limit, or whose
    decisions were forged, does not."""

    kind: ClassVar[str] = "limit_check"
    default_threshold: ClassVar[float] = 0.2
    district: ClassVar[bool] = True

    def score(self, observation: Observation) -> Score | None:
        o = observation
        if o.limit_kw is None or o.reported_kw is None:
            return None
        return self.verdict(o, max(0.0, o.reported_kw - o.limit_kw))


@register_detector
class DualConsistency(Detector):
    """The district's observation (agent `coordinator`): score = how far the step's broadcasts broke
    the dual update u⁺ = u + x̄ − z̄ (`Observation.dual_residual_kw`, kW per agent), which every
    agent can check on the broadcasts it receives without trusting the coordinator. An honest
    coordinator's residual is rounding (1e-12); one that sends false z̄ or prices to the agents while
    keeping its own books breaks it at once. A coordinator consistent in its lie (a false limit)
    passes: `limit_check` sees that one. An alarm above `threshold` kW."""

    kind: ClassVar[str] = "dual_consistency"
    default_threshold: ClassVar[float] = 1e-3
    district: ClassVar[bool] = True

    def score(self, observation: Observation) -> Score | None:
        if observation.dual_residual_kw is None:
            return None
        return self.verdict(observation, observation.dual_residual_kw)
