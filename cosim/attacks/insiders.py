"""Insider attacks beyond the plain false data of `admm_bias` (see `cosim.attacks`): a stealthy
compromised agent, an agent that lies about its flexibility, and a compromised coordinator."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from controllers.admm.messages import CoordinatorBroadcast, LocalUpdate
from controllers.lies import lie
from controllers.measurements import BuildingSetpoints
from cosim.attacks.base import Attack, register_attack

__all__ = ["AdmmStealthy", "CoordinatorLimit", "CoordinatorZ", "FlexibilityLie"]


@register_attack
class AdmmStealthy(Attack):
    """A compromised ADMM agent that keeps its lie out of the detectors' sight. The checks compare
    what an agent claims for the step being applied (its plan's step 0) with what is measured; no
    meter ever checks its claims about later steps. So, in the spirit of undetectable false-data
    injection (Liu, Ning & Reiter 2009: an attack in the detector's blind space leaves its
    residual unchanged), it under-reports its net power by `magnitude` kW over the rest of the
    horizon (steps 1 and later) in every round, and by `params.step0_kw` (default 0: none; the
    attacker may choose an amount inside the detector's band) over step 0. It applies its true
    plan. The others then plan their batteries for room that never comes."""

    kind: ClassVar[str] = "admm_stealthy"
    needs_controller: ClassVar[str | None] = "admm"
    param_names: ClassVar[tuple[str, ...]] = ("step0_kw",)

    def update(self, time_s: int, update: LocalUpdate) -> LocalUpdate:
        if update.agent != self.target or not self.active(time_s):
            return update
        step0_kw = float(self.params.get("step0_kw", 0.0))
        return dataclasses.replace(update, p_net_kw=lie("stealthy", update.p_net_kw, self.magnitude,
                                                         step0_kw=step0_kw))


@register_attack
class FlexibilityLie(Attack):
    """An agent that claims flexibility it does not deliver: it takes part in the coordination as
    if its battery followed the plan, but withholds a share `magnitude` (0–1; 1: all) of every
    battery setpoint, so its battery does less than it promised (a free rider on the others'
    flexibility)."""

    kind: ClassVar[str] = "flex_lie"

    def setpoints(self, time_s: int, agent: str, setpoints: BuildingSetpoints) -> BuildingSetpoints:
        if agent != self.target or not self.active(time_s) or setpoints.battery_p_kw is None:
            return setpoints
        return setpoints._replace(battery_p_kw=setpoints.battery_p_kw * (1.0 - self.magnitude))


@register_attack
class CoordinatorLimit(Attack):
    """A compromised coordinator (target `coordinator`) works to a false shared limit: the
    transformer limit raised by the share `magnitude` (0.2: 20 % above the true one), so its
    decisions let the district overload the transformer."""

    kind: ClassVar[str] = "coordinator_limit"
    needs_controller: ClassVar[str | None] = "admm"
    over_mqtt: ClassVar[bool] = False
    on_coordinator: ClassVar[bool] = True

    def limit_kw(self, time_s: int, limit_kw: float) -> float:
        return limit_kw * (1.0 + self.magnitude) if self.active(time_s) else limit_kw


@register_attack
class CoordinatorZ(Attack):
    """A compromised coordinator (target `coordinator`) sends false decisions: every round's
    broadcast tells the agents a consensus z̄ of the transformer row `magnitude` kW higher (per
    agent; the district is told of `magnitude` × agents kW of room that is not there), while the
    coordinator keeps its own books with the true values. The agents draw more; its dual update no
    longer adds up on the broadcast (`dual_consistency`)."""

    kind: ClassVar[str] = "coordinator_z"
    needs_controller: ClassVar[str | None] = "admm"
    over_mqtt: ClassVar[bool] = False
    on_coordinator: ClassVar[bool] = True

    def broadcast(self, time_s: int, broadcast: CoordinatorBroadcast) -> CoordinatorBroadcast:
        if not self.active(time_s):
            return broadcast
        z = broadcast.z_mean.copy()
        z[0] += self.magnitude
        return dataclasses.replace(broadcast, z_mean=z)
