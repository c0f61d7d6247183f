"""The contract of an anomaly detector and its registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["DETECTORS", "Detector", "Observation", "Score", "register_detector"]


@dataclass(frozen=True)
class Observation:
    """What a detector sees of one agent in one control step (kW, + = import at its meter):
    `reported_kw`, the net power the agent told the coordinator it would draw over the step being
    applied (None: it reported nothing); `measured_kw`, that step's power at its meter as the
    grid side measures it."""

    agent: str
    time_s: int
    reported_kw: float | None
    measured_kw: float | None


@dataclass(frozen=True)
class Score:
    """A detector's verdict on one observation: its score (the detector's unit) and the alarm."""

    agent: str
    time_s: int
    detector: str
    score: float
    alarm: bool


class Detector:
    """Scores observations; `threshold_kw` is where an alarm starts. Keep per-agent state on
    `self` (one instance per run)."""

    kind: ClassVar[str] = ""

    def __init__(self, threshold_kw: float) -> None:
        if not threshold_kw > 0:
            raise ValueError(f"{self.kind}: threshold_kw must be > 0, got {threshold_kw}")
        self.threshold_kw = threshold_kw

    def score(self, observation: Observation) -> Score:
        raise NotImplementedError


DETECTORS: dict[str, type[Detector]] = {}


def register_detector(cls: type[Detector]) -> type[Detector]:
    """Register a detector kind under `cls.kind` (a class decorator)."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    DETECTORS[cls.kind] = cls
    return cls
