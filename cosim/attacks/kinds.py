"""The attack kinds shipped with the platform (see `cosim.attacks`)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from controllers.admm.messages import LocalUpdate
from cosim.attacks.base import Attack, Values, register_attack

__all__ = ["AdmmBias", "SensorBias"]


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
