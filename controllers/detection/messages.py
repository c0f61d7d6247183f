"""`message_check`: the round messages of an agent as the coordinator's side sees them (rate,
timing and sequence: missing answers, duplicates, updates of an earlier step)."""

from __future__ import annotations

from typing import ClassVar

from controllers.detection.base import Detector, Observation, Score, register_detector

__all__ = ["MessageCheck"]


@register_detector
class MessageCheck(Detector):
    """Score = the step's anomalous round messages of the agent: rounds it did not answer, plus
    duplicates of an update already taken, plus updates stamped with an earlier step (a replay or
    a delay). An alarm above `threshold` (messages per step). An honest agent in process answers
    every round; over MQTT a late answer counts as missing, so keep the threshold above the
    transport's own losses. Not scored when the messages were not counted."""

    kind: ClassVar[str] = "message_check"
    unit: ClassVar[str] = "messages"
    default_threshold: ClassVar[float] = 2.0

    def score(self, observation: Observation) -> Score | None:
        o = observation
        if not o.messages:
            return None
        return self.verdict(o, float(o.count("missing") + o.count("duplicate") + o.count("stale")))
