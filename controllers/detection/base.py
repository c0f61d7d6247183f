"""The contract of an anomaly detector and its registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["DETECTORS", "Detector", "NoParams", "Observation", "Score", "register_detector"]


@dataclass(frozen=True)
class Observation:
    """What the detectors see of one agent in one control step (kW, + = import at its bus).

    - `reported_kw`: the net power the agent told the coordinator it would draw over the step
      (its plan's step 0 in its last round; None: it reported nothing);
    - `measured_kw`: that step's power as its own meter (and its battery) report it, the values
      its controller receives (and an attacked sensor alters);
    - `bus_kw`: the same step's power as the grid side measures it at the agent's bus, an
      independent sensor (None: no such measurement);
    - `meter_sigma_kw`: the standard deviation of `measured_kw − bus_kw` for an honest pair of
      sensors (from the sensors' noise model; None: exact sensors);
    - `soc_before`, `soc_after`: the state of charge its battery reported at the step's start and
      end; `soc_delta_expected`: the change its own power over the step explains (charging and
      discharging efficiency included); `soc_sigma`: the noise of one reading (None: no battery);
    - `messages`: counts of its round messages in the step by kind (`fresh`, `missing`,
      `duplicate`, `stale`), as the coordinator's side saw them (empty: not counted);
    - `limit_kw`: for the district's observation (agent `coordinator`), the shared transformer
      limit; `reported_kw` is then the coordinator's planned total and `bus_kw` the measured one;
    - `reported_before_kw`: what the agent claimed for the same step one step earlier (its plan's
      step 1 then; None: no claim);
    - `peer_residual_kw`: its residual measured − claimed less the part its peers share (the
      district's common forecast error, e.g. of PV on a sunnier day than forecast, scaled to its PV
      size; `cosim.control.defence.peer_residuals`; None: too few peers), and `peer_scale_kw` the
      spread of all agents' such residuals in the step (a robust standard deviation);
    - `peer_revision_kw`, `peer_revision_scale_kw`: the same for its revision of the claim
      (`reported_kw − reported_before_kw`);
    - `dual_residual_kw`: for the district's observation, how far the coordinator's broadcasts of
      the step broke their own dual update u⁺ = u + x̄ − z̄ (the largest element, kW per agent; ρ
      changes accounted for), as any agent can check on the broadcasts it receives.
    """

    agent: str
    time_s: int
    reported_kw: float | None
    measured_kw: float | None
    bus_kw: float | None = None
    meter_sigma_kw: float | None = None
    soc_before: float | None = None
    soc_after: float | None = None
    soc_delta_expected: float | None = None
    soc_sigma: float | None = None
    messages: tuple[tuple[str, int], ...] = ()
    limit_kw: float | None = None
    reported_before_kw: float | None = None
    peer_residual_kw: float | None = None
    peer_scale_kw: float | None = None
    peer_revision_kw: float | None = None
    peer_revision_scale_kw: float | None = None
    dual_residual_kw: float | None = None

    def count(self, kind: str) -> int:
        return dict(self.messages).get(kind, 0)

    @property
    def at_bus_kw(self) -> float | None:
        """The step's power as the grid side measured it at the bus, else as the agent's own meter
        did (None: neither)."""
        return self.bus_kw if self.bus_kw is not None else self.measured_kw


@dataclass(frozen=True)
class Score:
    """A detector's verdict on one observation: its score (the detector's unit) and the alarm."""

    agent: str
    time_s: int
    detector: str
    score: float
    alarm: bool


class NoParams(BaseModel):
    """A detector without parameters beyond its threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Detector:
    """Scores observations; `threshold` (in the kind's `unit`) is where an alarm starts, `params`
    the kind's own parameters (its `Params` model). `score` returns None for an observation the
    kind has nothing to say about (e.g. an agent without a battery for a state-of-charge check).
    `district`: the kind scores the district's observation (agent `coordinator`), not the agents'.
    Keep per-agent state on `self` (one instance per run)."""

    kind: ClassVar[str] = ""
    unit: ClassVar[str] = "kW"
    default_threshold: ClassVar[float] = 0.5
    district: ClassVar[bool] = False
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, threshold: float | None = None, params: dict[str, Any] | None = None) -> None:
        threshold = self.default_threshold if threshold is None else threshold
        if not threshold > 0:
            raise ValueError(f"{self.kind}: threshold must be > 0, got {threshold}")
        self.threshold = threshold
        self.params = self.Params(**(params or {}))

    @property
    def threshold_kw(self) -> float:  # the first kind's name for it
        return self.threshold

    def score(self, observation: Observation) -> Score | None:
        raise NotImplementedError

    def verdict(self, observation: Observation, value: float) -> Score:
        return Score(observation.agent, observation.time_s, self.kind, value, value > self.threshold)


DETECTORS: dict[str, type[Detector]] = {}


def register_detector(cls: type[Detector]) -> type[Detector]:
    """Register a detector kind under `cls.kind` (a class decorator)."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    DETECTORS[cls.kind] = cls
    return cls
