"""Anomaly detectors as plug-ins (docs/attacks.md): each kind scores what an agent reported against
what is known independently of it, and raises an alarm above its threshold. Kept apart from the
attacks (`cosim.attacks`), so any attack can be paired with any detector.

Kinds so far:
- `plan_consistency`: the net power an ADMM agent reported for the step being applied (its plan's
  step 0, which decides the coordinator's view of the transformer) against its meter over that
  step as measured (the building's metered power plus the battery setpoint it applies). An honest
  agent's plan comes true up to the solver's tolerance and the sensors' noise; an agent that lies
  about its consumption does not.
"""

from controllers.detection.base import DETECTORS, Detector, Observation, Score, register_detector
from controllers.detection.plan_consistency import PlanConsistency

__all__ = ["DETECTORS", "Detector", "Observation", "PlanConsistency", "Score", "register_detector"]
