"""The attack kinds shipped with the platform (see `cosim.attacks`)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from controllers.admm.messages import LocalUpdate
from controllers.lies import lie
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
        return dataclasses.replace(update, p_net_kw=lie("bias", update.p_net_kw, self.magnitude))


SENSOR_QUANTITIES = ("p_kw", "soc", "t_in_c")  # meter (kW), battery state of charge (0–1), room (°C)


class _MeterAttack(Attack):
    """A sensor attack: `reading(time_s, value)` replaces the target's `quantity` (`p_kw`, the
    meter, by default; `soc`, its battery's state of charge, kept within 0–1; `t_in_c`, its room
    temperature) while active."""

    quantities: ClassVar[tuple[str, ...]] = SENSOR_QUANTITIES

    def measurement(self, time_s: int, agent: str, values: Values) -> Values:
        value = values.get(self.quantity)
        if agent != self.target or not self.active(time_s) or value is None:
            return values
        reading = self.reading(time_s, float(value))
        if self.quantity == "soc":
            reading = min(max(reading, 0.0), 1.0)
        return {**values, self.quantity: reading}

    def reading(self, time_s: int, value: float) -> float:
        raise NotImplementedError


@register_attack
class SensorBias(_MeterAttack):
    """The target's reading is offset by `magnitude` (in the quantity's unit) between simulator
    and controller while the attack is active."""

    kind: ClassVar[str] = "sensor_bias"

    def reading(self, time_s: int, value: float) -> float:
        return value + self.magnitude


@register_attack
class AdmmScale(Attack):
    """A compromised ADMM agent reports its net power scaled by (1 − `magnitude`) (0.2: 20 % less)
    in every round while the attack is active, and applies its true plan."""

    kind: ClassVar[str] = "admm_scale"
    needs_controller: ClassVar[str | None] = "admm"

    def update(self, time_s: int, update: LocalUpdate) -> LocalUpdate:
        if update.agent != self.target or not self.active(time_s):
            return update
        return dataclasses.replace(update, p_net_kw=lie("scale", update.p_net_kw, self.magnitude))


@register_attack
class AdmmRandom(Attack):
    """A compromised ADMM agent adds seeded uniform noise of ±`magnitude` kW to every value of its
    reported net power, a new draw per round, while the attack is active."""

    kind: ClassVar[str] = "admm_random"
    needs_controller: ClassVar[str | None] = "admm"

    def update(self, time_s: int, update: LocalUpdate) -> LocalUpdate:
        if update.agent != self.target or not self.active(time_s):
            return update
        reported = lie("random", update.p_net_kw, self.magnitude, seed=self.seed, tick=update.tick,
                       iteration=update.iteration)
        return dataclasses.replace(update, p_net_kw=reported)


@register_attack
class SensorScale(_MeterAttack):
    """The target's reading is scaled by (1 + `magnitude`) while the attack is active."""

    kind: ClassVar[str] = "sensor_scale"

    def reading(self, time_s: int, value: float) -> float:
        return value * (1.0 + self.magnitude)


@register_attack
class SensorDrift(_MeterAttack):
    """The target's reading drifts by `magnitude` (the quantity's unit) per hour since the attack
    started."""

    kind: ClassVar[str] = "sensor_drift"

    def reading(self, time_s: int, value: float) -> float:
        return value + self.magnitude * (time_s - self.start_s) / 3600.0


@register_attack
class SensorFreeze(_MeterAttack):
    """The target's reading stays at its value of the attack's first step (`magnitude` is
    ignored)."""

    kind: ClassVar[str] = "sensor_freeze"
    frozen: float | None = None  # the reading of the attack's first step (set then)

    def reading(self, time_s: int, value: float) -> float:
        if self.frozen is None:
            self.frozen = value
        return self.frozen


@register_attack
class SensorNoise(_MeterAttack):
    """Seeded Gaussian noise of standard deviation `magnitude` (the quantity's unit) on the
    target's reading."""

    kind: ClassVar[str] = "sensor_noise"

    def reading(self, time_s: int, value: float) -> float:
        return value + self.magnitude * float(np.random.default_rng([self.seed, time_s]).standard_normal())


@register_attack
class SetpointBias(Attack):
    """The target's battery setpoint is offset by `magnitude` kW between the agent and the battery
    (an actuator attack: a setpoint of None, battery idle, becomes `magnitude`)."""

    kind: ClassVar[str] = "setpoint_bias"

    def setpoints(self, time_s: int, agent: str, setpoints: BuildingSetpoints) -> BuildingSetpoints:
        if agent != self.target or not self.active(time_s):
            return setpoints
        return setpoints._replace(battery_p_kw=(setpoints.battery_p_kw or 0.0) + self.magnitude)
