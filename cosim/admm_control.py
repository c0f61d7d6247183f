"""The mosaik simulator that runs ADMM model-predictive control in process (controller kind `admm`).

One `Agent` entity per building, as for the baseline controllers. At every control step the
simulator builds each agent's data (perfect forecasts from `cosim.forecast` plus the measured
states), runs one sharing-ADMM control step (`controllers.admm.run_control_step`: the agents' OSQP
problems and the coordinator of the transformer limit) warm-started from the previous step, and
hands out the setpoints: battery power for [t, t+Δ), heat-pump power for [t+Δ, t+2Δ). Every step's
iterations, convergence, fallback, objective and limit violation go to the `admm_steps` table.

The state at control time t comes from `cosim.forecast.StateTracker`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult, Meta

from controllers.admm import (
    AdmmAgent,
    AdmmSettings,
    AgentData,
    Coordinator,
    Coupling,
    build_agents,
    run_control_step,
)
from controllers.admm.messages import IterationRecord
from controllers.admm.tracking import plan_fallback, tracks_plan, with_plan
from controllers.admm.wire import history_rows, history_to_series
from controllers.baseline import BuildingSetpoints
from cosim.admm_check import central_gap
from cosim.context import RunContext, require_context
from cosim.control_sim import META as CONTROL_META
from cosim.control_sim import ControlSim
from cosim.forecast import DistrictForecaster, StateTracker
from cosim.handdown import Schedule
from cosim.voltage import SharedConstraints, VoltageLinearizer

ADMM_INPUTS = ["t_mass_c", "heat_th_kw", "cop", "q_kvar"]
META: Meta = copy.deepcopy(CONTROL_META)
META["models"]["Agent"]["attrs"] = [*META["models"]["Agent"]["attrs"], *ADMM_INPUTS]


def iteration_rows(time_s: int, timestamp: Any, history: Sequence[IterationRecord]) -> list[dict[str, Any]]:
    """The `admm_iterations` rows of one control step: every round's ρ, residuals and tolerances,
    fresh and stale agents, and timings in seconds."""
    return round_rows(time_s, timestamp, history_rows(history_to_series(history)))


def round_rows(time_s: int, timestamp: Any, rounds: Sequence[Mapping[str, float]]) -> list[dict[str, Any]]:
    """`admm_iterations` rows from the rounds of one step (`controllers.admm.wire.history_rows`)."""
    return [{"time_s": time_s, "timestamp": timestamp, "entity": "coordinator", **row} for row in rounds]


class AdmmControlSim(ControlSim):
    """District ADMM in process."""

    def __init__(self) -> None:
        super().__init__()
        self.meta = copy.deepcopy(META)
        self.hooks: RunContext | None = None
        self.forecaster: DistrictForecaster | None = None
        self.coordinator: Coordinator | None = None
        self.agents: list[AdmmAgent] = []
        self.tracker = StateTracker([], np.zeros(0))
        self.schedules: dict[str, Schedule] = {}
        self.shared: SharedConstraints | None = None
        self.settings = AdmmSettings()

    def configure_sim(self, context: RunContext | None = None) -> None:  # type: ignore[override]
        self.hooks = require_context(context, "admm")

    def create(  # type: ignore[override]  # explicit keywords
        self,
        num: int,
        model: str,
        kind: str = "admm",
        params: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> list[CreateResult]:
        return super().create(num, model, "none", None, agent_id)  # the plug-in slot is unused

    def _setup(self) -> None:
        if self.hooks is None:
            raise RuntimeError("admm: not configured")
        s = self.hooks.scenario
        cfg = s.controller.admm
        if cfg is None:
            raise RuntimeError("admm: the scenario has no controller.admm section")
        horizon = cfg.horizon // s.control_step
        self.forecaster = DistrictForecaster(s, horizon)
        if len(self.forecaster.names) != len(self.controllers):
            raise RuntimeError("admm: one agent per building expected")
        limit_kw = s.grid.transformer_limit_kw
        if limit_kw is None:
            raise RuntimeError("admm: the scenario has no grid.transformer_limit_kw")
        linearizer = VoltageLinearizer(s) if cfg.voltage else None
        names = tuple(self.forecaster.names)
        self.shared = SharedConstraints(names, limit_kw, horizon, cfg.peak_price_per_kw, linearizer)
        self.settings = AdmmSettings(
            rho=cfg.rho,
            eps_abs=cfg.eps_abs,
            eps_rel=cfg.eps_rel,
            max_iterations=cfg.max_iterations,
            deadline_s=cfg.step_deadline_s,
        )
        self.tracker = StateTracker(self.forecaster.names, self.forecaster.fleet.x[:, 0])
        self.schedules = self.hooks.schedules

    def _coupling(self, measured: dict[str, dict[str, float | None]]) -> Coupling:
        if self.shared is None:
            raise RuntimeError("admm: not configured")
        batteries = [
            None if (a := self.setpoints.get(eid)) is None else a.battery_p_kw for eid in self.controllers
        ]
        return self.shared.coupling([measured[eid] for eid in self.controllers], batteries)

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        if self.forecaster is None:
            self._setup()
        forecaster = self.forecaster
        if forecaster is None:
            raise RuntimeError("admm: setup failed")
        measured = self.measurements(inputs)
        coupling = self._coupling(measured)
        if self.coordinator is None:
            self.coordinator = Coordinator(coupling, self.settings)
        coordinator = self.coordinator
        by_name = {name: measured[eid] for eid, name in zip(self.controllers, forecaster.names, strict=True)}
        states = self.tracker.states(by_name)
        data = forecaster.agent_data(self.step_index, states)
        plan = self.hooks.scenario.plan if self.hooks is not None and self.hooks.scenario else None
        if plan is not None:
            data = [
                d
                if (s := self.schedules.get(d.name)) is None
                else with_plan(d, s.values, s.start_s, s.step_s, time_s, plan.weight_per_kw2)
                for d in data
            ]
        if not self.agents:
            self.agents = build_agents(data, coordinator)
        refreshed = coupling if self.shared is not None and self.shared.linearizer is not None else None
        result = run_control_step(self.agents, coordinator, self.step_index, data, coupling=refreshed)
        plans = [plan_fallback(a, result.decision, p) for a, p in zip(self.agents, result.plans, strict=True)]
        for eid, chosen in zip(self.controllers, plans, strict=True):
            self.setpoints[eid] = BuildingSetpoints(battery_p_kw=chosen.battery_p_kw, hp_p_kw=chosen.hp_p_kw)
        self._record(time_s, result, data)

    def fallback_name(self, fallback: Any) -> str:
        """The recorded fallback: `plan` when the agents track handed-down plans."""
        return "plan" if any(tracks_plan(a) for a in self.agents) else str(fallback)

    def _record(self, time_s: int, result: Any, data: list[AgentData]) -> None:
        if self.hooks is None or self.hooks.scenario is None:
            return
        d = result.decision
        s = self.hooks.scenario
        check: dict[str, float | None] = {}
        if s.controller.admm is not None and s.controller.admm.centralised_check:
            limit = s.grid.transformer_limit_kw or 0.0
            check = central_gap(data, limit, s.controller.admm.peak_price_per_kw, result.objective)
        timestamp = self.times[self.step_index]
        self.hooks.writer.add_rows("admm_iterations", iteration_rows(time_s, timestamp, result.history))
        self.hooks.writer.add_rows(
            "admm_steps",
            [
                {
                    "time_s": time_s,
                    "timestamp": self.times[self.step_index],
                    "entity": "coordinator",
                    "iterations": d.iterations,
                    "converged": bool(d.converged),
                    "fallback": None if d.fallback is None else self.fallback_name(d.fallback),
                    "reason": d.reason,
                    "objective": result.objective,
                    "max_violation_kw": result.max_violation_kw,
                    "wall_time_ms": result.wall_time_s * 1e3,
                    "sum_solve_time_ms": result.sum_solve_time_s * 1e3,
                    "parallel_time_ms": result.parallel_time_s * 1e3,
                    "p_planned_step0_kw": float(np.sum([p.p_net_kw[0] for p in result.plans])),
                    **check,
                }
            ],
        )
