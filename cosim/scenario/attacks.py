"""The scenario's `attacks:` and `detection:` sections (docs/attacks.md).

```yaml
attacks:
  - kind: admm_bias          # a registered attack kind (cosim.attacks.ATTACKS)
    target: house-3          # the agent attacked or compromised (a building or storage unit)
    start: 6h                # from the scenario start
    duration: 12h            # unset: to the end of the run
    magnitude: 4.0           # in the kind's unit (admm_bias: kW under-reported)
  - {kind: sensor_bias, target: bat-1, quantity: soc, start: 3h, magnitude: 0.1}
  - {kind: coordinator_limit, target: coordinator, start: 6h, magnitude: 0.2}
detection:
  detectors:
    - {kind: plan_consistency, threshold: 0.5}          # kW
    - {kind: plan_revision, threshold: 8, params: {drift: 0.5}}   # σ
  quarantine: true           # quarantine an agent on an alarm (false: detect only)
  release_after: 2h          # a quarantined agent is released after this long without an alarm
```
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = ["AttackConfig", "DetectionConfig", "DetectorConfig", "SensorNoise", "Sensors", "check_attacks"]


def _seconds(value: Any) -> Any:
    from cosim.scenario.model import parse_duration_s  # the scenario's own duration syntax

    return None if value is None else parse_duration_s(value)


class AttackConfig(BaseModel):
    """One attack: what (`kind`), on whom (`target`), when (`start`, `duration`) and how strong
    (`magnitude`, in the kind's unit; docs/attacks.md lists them); `seed` for the random ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    target: str
    start: int = 0
    duration: int | None = None
    magnitude: float
    seed: NonNegativeInt = 0
    quantity: str = "p_kw"  # the sensor attacks' measured value: p_kw, soc or t_in_c
    params: dict[str, float] = {}  # the kind's own numbers (docs/attacks.md)

    @field_validator("start", "duration", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return _seconds(value)

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        from cosim.attacks import ATTACKS

        if kind not in ATTACKS:
            raise ValueError(f"unknown attack kind {kind!r}; registered: {', '.join(sorted(ATTACKS))}")
        return kind

    def active(self, time_s: int) -> bool:
        """Whether the attack acts at simulation time `time_s`."""
        return self.start <= time_s and (self.duration is None or time_s < self.start + self.duration)


class DetectorConfig(BaseModel):
    """One anomaly detector: its kind (`controllers.detection.DETECTORS`), its alarm threshold in
    the kind's unit (unset: the kind's default; `threshold_kw` is the same for the kW kinds) and its
    own `params`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    threshold: Annotated[float, Field(gt=0)] | None = None
    threshold_kw: Annotated[float, Field(gt=0)] | None = None
    params: dict[str, Any] = {}

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        from controllers.detection import DETECTORS

        if kind not in DETECTORS:
            raise ValueError(f"unknown detector kind {kind!r}; registered: {', '.join(sorted(DETECTORS))}")
        return kind

    @model_validator(mode="after")
    def _parameters(self) -> DetectorConfig:
        from controllers.detection import DETECTORS

        cls = DETECTORS[self.kind]
        if self.threshold_kw is not None and (cls.unit != "kW" or self.threshold is not None):
            raise ValueError(
                f"{self.kind}: use threshold (in {cls.unit})" if cls.unit != "kW"
                else f"{self.kind}: give threshold or threshold_kw, not both"
            )
        try:
            cls.Params(**self.params)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ValueError(f"{self.kind} params: {problems}") from None
        return self

    def build(self) -> Any:
        """The detector this entry describes."""
        from controllers.detection import DETECTORS

        threshold = self.threshold if self.threshold is not None else self.threshold_kw
        return DETECTORS[self.kind](threshold, self.params)


class DetectionConfig(BaseModel):
    """The anomaly checks of a run and what an alarm does (`quarantine`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detectors: Annotated[list[DetectorConfig], Field(min_length=1)]
    quarantine: bool = True
    release_after: int = 7200

    @field_validator("release_after", mode="before")
    @classmethod
    def _release(cls, value: Any) -> Any:
        return _seconds(value)


class SensorNoise(BaseModel):
    """Seeded Gaussian noise on what the controllers measure (standard deviations). Defaults:
    a class-1 electricity meter (IEC 62053-21, ±1 % taken as 2σ, plus a 10 W floor), a battery
    management system's state-of-charge estimate (σ 1 %), a room temperature sensor (±0.2 K as 2σ)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p_kw_rel: Annotated[float, Field(ge=0)] = 0.005
    p_kw_abs: Annotated[float, Field(ge=0)] = 0.01
    soc: Annotated[float, Field(ge=0)] = 0.01
    t_c: Annotated[float, Field(ge=0)] = 0.1


class Sensors(BaseModel):
    """`noise`: the sensors' noise; unset, it is on (with the defaults) in a scenario with
    `attacks` or `detection`, so detection is measured under honest conditions, and off otherwise,
    so other runs keep their results. `noise: {p_kw_rel: 0, p_kw_abs: 0, soc: 0, t_c: 0}` turns it
    off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    noise: SensorNoise | None = None


def sensor_noise(scenario: Any) -> SensorNoise | None:
    """The noise a run's sensors have (see `Sensors`), None for exact sensors."""
    sensors = getattr(scenario, "sensors", None)
    if isinstance(sensors, Sensors) and sensors.noise is not None:
        return sensors.noise
    return SensorNoise() if scenario.attacks or scenario.detection is not None else None


def check_attacks(scenario: Any) -> None:
    """What the sections need from the rest of the scenario (a ValueError naming the field)."""
    from cosim.attacks import ATTACKS

    agents = [name for g in scenario.buildings for name in g.names()] + [u.name for u in scenario.storage]
    for k, attack in enumerate(scenario.attacks):
        cls = ATTACKS[attack.kind]
        if cls.on_coordinator:
            if attack.target != "coordinator":
                raise ValueError(f"attacks.{k}.target: kind {attack.kind!r} attacks the coordinator; "
                                 "set target: coordinator")
        elif attack.target not in agents:
            raise ValueError(
                f"attacks.{k}.target: no agent {attack.target!r}; the agents are the buildings "
                f"({', '.join(agents[:5])}{', ...' if len(agents) > 5 else ''}) and standalone storage units"
            )
        unknown = sorted(set(attack.params) - set(cls.param_names))
        if unknown:
            allowed = ", ".join(cls.param_names) or "none"
            raise ValueError(f"attacks.{k}.params: {', '.join(unknown)} unknown for kind {attack.kind!r}; "
                             f"allowed: {allowed}")
        if attack.quantity != "p_kw" and attack.quantity not in cls.quantities:
            allowed = ", ".join(cls.quantities) or "none (the kind is not a sensor attack)"
            raise ValueError(f"attacks.{k}.quantity: {attack.quantity!r} for kind {attack.kind!r}; "
                             f"allowed: {allowed}")

        needs = ATTACKS[attack.kind].needs_controller
        if needs is not None and scenario.controller.kind != needs:
            raise ValueError(
                f"attacks.{k}: kind {attack.kind!r} attacks a {needs!r} controller; the scenario's "
                f"controller.kind is {scenario.controller.kind!r}"
            )
        if not ATTACKS[attack.kind].over_mqtt and scenario.controller.transport != "inprocess":
            raise ValueError(
                f"attacks.{k}: kind {attack.kind!r} runs in process only so far; set "
                "controller.transport: inprocess"
            )
    if scenario.detection is not None and scenario.controller.kind != "admm":
        raise ValueError("detection: the anomaly checks watch ADMM agents; set controller.kind: admm")
