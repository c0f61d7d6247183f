"""`plan_consistency` and `plan_revision`: what an agent claims for a step, against what was measured
and against what it claimed before."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from controllers.detection.base import Detector, Observation, Score, register_detector
from controllers.detection.cusum import CusumDetector, CusumParams

__all__ = ["PeerConsistency", "PlanConsistency", "PlanRevision"]


@register_detector
class PlanConsistency(Detector):
    """Score = |measured − reported| in kW over one step; an alarm above `threshold` (kW). The
    measurement is the grid side's at the agent's bus where there is one (an attacker who holds the
    agent cannot alter it), else the agent's meter. An agent that reported nothing is not scored (a
    late agent is the coordinator's fallback, not an anomaly here)."""

    kind: ClassVar[str] = "plan_consistency"

    def score(self, observation: Observation) -> Score | None:
        measured = observation.at_bus_kw
        if observation.reported_kw is None or measured is None:
            return None
        return self.verdict(observation, abs(measured - observation.reported_kw))


class PeerParams(CusumParams):
    """`drift`: the CUSUM's k (σ); `scale_floor_kw`: the least scale (about the sensors' noise)."""

    drift: float = Field(default=1.0, ge=0)
    scale_floor_kw: float = Field(default=0.05, gt=0)


class _PeerCusum(CusumDetector):
    """A residual (kW) less the part the agent's peers share, standardised by the spread of all
    agents' such residuals in the same step (`cosim.control.defence.peer_residuals`), through a
    two-sided CUSUM (`controllers.detection.cusum`). A forecast error common to the district (the
    weather: PV on a sunnier day than forecast) moves every agent's residual together and cancels,
    and the spread follows the hour's uncertainty (small at night, larger by day); what is left is
    close to white noise and the agent's lie. Score = the CUSUM sum (σ); an alarm above
    `threshold`. It needs at least three agents with PV, and a majority of honest peers."""

    default_threshold: ClassVar[float] = 6.0
    Params: ClassVar[type[BaseModel]] = PeerParams

    def residual(self, observation: Observation) -> tuple[float | None, float | None]:
        raise NotImplementedError

    def score(self, observation: Observation) -> Score | None:
        value, spread = self.residual(observation)
        if observation.reported_kw is None or value is None:
            return None
        scale = max(spread or 0.0, self.p.scale_floor_kw)
        return self.verdict(observation, self.cusum.update(observation.agent, value / scale))


@register_detector
class PeerConsistency(_PeerCusum):
    """`peer_consistency`: the residual of `plan_consistency` (measured − claimed) against the
    agent's peers (see `_PeerCusum`): the check for runs with imperfect forecasts."""

    kind: ClassVar[str] = "peer_consistency"

    def residual(self, observation: Observation) -> tuple[float | None, float | None]:
        return observation.peer_residual_kw, observation.peer_scale_kw


@register_detector
class PlanRevision(_PeerCusum):
    """`plan_revision`: how an agent revised its claim for a step between one step ahead and the
    step itself (claim now − claim one step earlier), against its peers' revisions (see
    `_PeerCusum`). An honest agent's revisions follow new forecasts and prices and have no
    lasting sign; an agent that lies about later steps only (where no meter checks it:
    `admm_stealthy`) must take its lie back at every step 0, a revision of one sign. Agents with a
    battery are not scored: their revisions carry the battery's rescheduling, which has a sign for
    hours (measured: a false alarm in one step of five on the attack-fdi feeder)."""

    kind: ClassVar[str] = "plan_revision"

    def residual(self, observation: Observation) -> tuple[float | None, float | None]:
        if observation.soc_before is not None:
            return None, None
        return observation.peer_revision_kw, observation.peer_revision_scale_kw
