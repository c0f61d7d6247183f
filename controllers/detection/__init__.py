"""Anomaly detectors as plug-ins (docs/attacks.md): each kind scores what an agent reported or
measured against what is known independently of it, and raises an alarm above its threshold. Kept
apart from the attacks (`cosim.attacks`), so any attack can be paired with any detector. Adding one
is one module with a `Detector` subclass under `@register_detector`, imported here.

Kinds:
- `plan_consistency` (kW): the net power an agent claimed for the step being applied against the
  step's power measured at its bus (one step, fixed threshold);
- `peer_consistency` (σ): the same residual less the part the agent's peers share (the district's
  common forecast error), standardised by the agent's own running scale, through a CUSUM: the
  check for runs with imperfect forecasts;
- `plan_revision` (σ): how an agent revises its claim for a step from one step ahead to the step
  itself, through a CUSUM (lies about later steps, where no meter checks);
- `meter_consistency` (σ): the agent's meter against the grid side's measurement at its bus;
- `soc_consistency` (σ): a battery's state of charge against its own power;
- `message_check` (messages): missing, duplicate and earlier-step round messages;
- `dual_consistency` (kW, the district): the coordinator's broadcasts against their own dual
  update, as any agent can check them;
- `limit_check` (kW, the district): the transformer's measured load over the limit the
  coordinator's plan kept.
"""

from controllers.detection.base import DETECTORS, Detector, NoParams, Observation, Score, register_detector
from controllers.detection.limit_check import DualConsistency, LimitCheck
from controllers.detection.messages import MessageCheck
from controllers.detection.physics import MeterConsistency, SocConsistency
from controllers.detection.plan_consistency import PeerConsistency, PlanConsistency, PlanRevision

__all__ = [
    "DETECTORS", "Detector", "DualConsistency", "LimitCheck", "MessageCheck", "MeterConsistency",
    "NoParams", "Observation", "PeerConsistency", "PlanConsistency", "PlanRevision", "Score",
    "SocConsistency", "register_detector",
]
