"""The controllers a control adapter can hold, and which one a run gets.

- kinds `none`, `rule_based` and plug-ins, `transport: inprocess`: `LocalPlugins`, one plug-in
  instance per building, called directly;
- the same kinds over MQTT: `MqttAgents`, the plug-ins inside MQTT agents (or an external
  controller), one lockstep exchange per step;
- `admm`: `cosim.control.admm.LocalAdmm` (in process) or `MqttAdmm`;
- `mpc`: `cosim.control.mpc.LocalMpc` (in process).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from controllers.measurements import OPTIONAL_MEASURED, BuildingMeasurement, BuildingSetpoints
from controllers.plugin import BuildingController, ControllerContext, build_controller
from cosim.control.adapter import ControlStep, DistrictController, Values
from cosim.control.exchange import MqttExchange
from cosim.world.context import RunContext

__all__ = ["LocalPlugins", "MqttAgents", "make_controller"]


class LocalPlugins(DistrictController):
    """Controller plug-ins (`controllers.plugin`) in process: one instance per building."""

    def __init__(self, kind: str, params: dict[str, Any]) -> None:
        self.kind, self.params = kind, params
        self.plugins: dict[str, BuildingController] = {}

    def setup(self, agents: list[str], step_s: int, storage: frozenset[str] = frozenset()) -> None:
        self.plugins = {
            a: build_controller(self.kind, self.params, ControllerContext(a, step_s, _role(a, storage)))
            for a in agents
        }

    def step(
        self, step: ControlStep, received: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, BuildingSetpoints]:
        # `measurement_from_values(time_s, {**r, **step.clock})` without the merged dict: the same
        # values (`or 0.0` included, which turns -0.0 into 0.0)
        step_s, hour = int(step.step_s or 0), float(step.hour_local or 0.0)
        out = {}
        for agent, r in received.items():
            m = BuildingMeasurement(
                step.time_s,
                step_s,
                hour,
                r["p_kw"] or 0.0,
                r["p_base_kw"] or 0.0,
                r["pv_kw"] or 0.0,
                r["t_in_c"] or 0.0,
                r["flex_available_kw"] or 0.0,
                r["flex_backlog_kwh"] or 0.0,
                *(None if (v := r.get(n)) is None or not math.isfinite(v) else v for n in OPTIONAL_MEASURED),
            )
            out[agent] = self.plugins[agent].step(m)
        return out


def _role(agent: str, storage: frozenset[str]) -> Literal["building", "storage"]:
    return "storage" if agent in storage else "building"


class MqttAgents(DistrictController):
    """Building agents on MQTT (the platform's, running the plug-ins, or an external controller):
    every step's measurements go out, their setpoints come back."""

    def __init__(self, exchange: MqttExchange) -> None:
        self.exchange = exchange

    def step(
        self, step: ControlStep, received: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, BuildingSetpoints]:
        clock = step.clock
        result = self.exchange.exchange(
            step, {agent: {**values, **clock} for agent, values in received.items()}
        )
        return {agent: BuildingSetpoints.from_values(result.setpoints.get(agent) or {}) for agent in received}


def make_controller(kind: str, params: dict[str, Any], context: RunContext | None) -> DistrictController:
    """The controller of a run: by the scenario's kind and transport (see the module docstring)."""
    if context is None:  # a plain mosaik scenario: plug-ins in process
        if kind in ("admm", "mpc"):
            raise ValueError(
                f"controller kind {kind!r} needs the run's context (build the world with cosim.world.build)"
            )
        return LocalPlugins(kind, params)
    transport = context.scenario.controller.transport
    if kind == "admm":
        from cosim.control.admm import LocalAdmm, MqttAdmm

        return MqttAdmm(context) if transport == "mqtt" else LocalAdmm(context)
    if kind == "mpc":
        from cosim.control.mpc import LocalMpc

        return LocalMpc(context)
    if transport == "mqtt":
        return MqttAgents(MqttExchange(context))
    return LocalPlugins(kind, params)
