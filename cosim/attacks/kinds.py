"""The attack kinds shipped with the platform (see `cosim.attacks`)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from controllers.admm.messages import LocalUpdate
from controllers.measurements import BuildingSetpoints
from cosim.attacks.base import Attack, Values, register_attack

__all__ = [
    "AdmmBias", "AdmmRandom", "AdmmScale", "SensorBias", "SensorDrift", "SensorFreeze", "SensorNoise",
    "SensorScale", "SetpointBias",
]


@register_attack
class AdmmBias(Attack):
    """A compromised ADMM agent reports its net power `magnitude` kW lower than it is, over the
    whole horizon, in every round while the attack is active, and applies its true plan."""

    kind: ClassVar[str] = "admm_bias"
    needs_controller: ClassVar[str | None] = "admm"

    def update(self, time_s: int, update: LocalUpdate) -> LocalUpdate:
        if update.agent != self.target or not self.active(time_s):
            return update
        return dataclasses.replace(update, p_net_kw=update.p_net_kw - self.magnitude)


@register_attack
class SensorBias(Attack):
    """The target's meter reading (`p_kw`, kW) is offset by `magnitude` between simulator and
    controller while the attack is active."""

    kind: ClassVar[str] = "sensor_bias"

    def measurement(self, time_s: int, agent: str, values: Values) -> Values:
        if agent != self.target or not self.active(time_s) or values.get("p_kw") is None:
            return values
        return {**values, "p_kw": float(values["p_kw"] or 0.0) + self.magnitude}


@register_attack
class AdmmScale(Attack):
    """A compromised ADMM agent reports its net power scaled by (1 − `magnitude`) (0.2: 20 % less)
    in every round while the attack is active, and applies its true plan."""

    kind: ClassVar[str] = "admm_scale"
    needs_controller: ClassVar[str | None] = "admm"
    over_mqtt: ClassVar[bool] = False

    def update(self, time_s: int, update: LocalUpdate) -> LocalUpdate:
        if update.agent != self.target or not self.active(time_s):
            return update
        return dataclasses.replace(update, p_net_kw=update.p_net_kw * (1.0 - self.magnitude))


@register_attack
class AdmmRandom(Attack):
    """A compromised ADMM agent adds seeded uniform noise of ±`magnitude` kW to every value of its
    reported net power, a new draw per round, while the attack is active."""

    kind: ClassVar[str] = "admm_random"
    needs_controller: ClassVar[str | None] = "admm"
    over_mqtt: ClassVar[bool] = False

    def update(self, time_s: int, update: LocalUpdate) -> LocalUpdate:
        if update.agent != self.target or not self.active(time_s):
            return update
        rng = np.random.default_rng([self.seed, time_s, update.iteration])
        noise = rng.uniform(-self.magnitude, self.magnitude, update.p_net_kw.shape)
        return dataclasses.replace(update, p_net_kw=update.p_net_kw + noise)


class _MeterAttack(Attack):
    """A meter attack: `reading(time_s, p_kw)` replaces the target's `p_kw` while active."""

    def measurement(self, time_s: int, agent: str, values: Values) -> Values:
        p = values.get("p_kw")
        if agent != self.target or not self.active(time_s) or p is None:
            return values
        return {**values, "p_kw": self.reading(time_s, float(p))}

    def reading(self, time_s: int, p_kw: float) -> float:
        raise NotImplementedError


@register_attack
class SensorScale(_MeterAttack):
    """The target's meter reading is scaled by (1 + `magnitude`) while the attack is active."""

    kind: ClassVar[str] = "sensor_scale"

    def reading(self, time_s: int, p_kw: float) -> float:
        return p_kw * (1.0 + self.magnitude)


@register_attack
class SensorDrift(_MeterAttack):
    """The target's meter reading drifts by `magnitude` kW per hour since the attack started."""

    kind: ClassVar[str] = "sensor_drift"

    def reading(self, time_s: int, p_kw: float) -> float:
        return p_kw + self.magnitude * (time_s - self.start_s) / 3600.0


@register_attack
class SensorFreeze(_MeterAttack):
    """The target's meter reading stays at its value of the attack's first step (`magnitude` is
    ignored)."""

    kind: ClassVar[str] = "sensor_freeze"

    def __init__(
        self, target: str, start_s: int, duration_s: int | None, magnitude: float, seed: int
    ) -> None:
        super().__init__(target, start_s, duration_s, magnitude, seed)
        self.frozen_kw: float | None = None

    def reading(self, time_s: int, p_kw: float) -> float:
        if self.frozen_kw is None:
            self.frozen_kw = p_kw
        return self.frozen_kw


@register_attack
class SensorNoise(_MeterAttack):
    """Seeded Gaussian noise of standard deviation `magnitude` kW on the target's meter reading."""

    kind: ClassVar[str] = "sensor_noise"

    def reading(self, time_s: int, p_kw: float) -> float:
        return p_kw + self.magnitude * float(np.random.default_rng([self.seed, time_s]).standard_normal())


@register_attack
class SetpointBias(Attack):
    """The target's battery setpoint is offset by `magnitude` kW between the agent and the battery
    (an actuator attack: a setpoint of None, battery idle, becomes `magnitude`)."""

    kind: ClassVar[str] = "setpoint_bias"

    def setpoints(self, time_s: int, agent: str, setpoints: BuildingSetpoints) -> BuildingSetpoints:
        if agent != self.target or not self.active(time_s):
            return setpoints
        return setpoints._replace(battery_p_kw=(setpoints.battery_p_kw or 0.0) + self.magnitude)
