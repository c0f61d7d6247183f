"""The mosaik simulator of the centralised model-predictive controller (controller kind `mpc`).

One `Agent` entity per building, as for every controller. At each control step it builds every
building's data exactly as the ADMM agents get it (forecasts from `cosim.forecast` and the measured
states, handed-down plans included) and solves the district's problem in one piece
(`controllers.mpc.solve_centralised`, cvxpy): the same objective and constraints that ADMM shares
out between its agents and the coordinator of the transformer limit. Its setpoints follow the
ADMM timing: battery power for [t, t+Δ), heat-pump power for [t+Δ, t+2Δ). Each step's status,
objective and solve times go to the `mpc_steps` table; a step the solver cannot solve keeps the
previous setpoints and is recorded with its status (the run goes on).

It is the benchmark every distributed controller is measured against: the optimum with full
information, at the cost of one solve of the whole district per step.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult, Meta

from controllers.admm import AgentData, SharedLimits
from controllers.admm.tracking import with_plan
from controllers.measurements import BuildingSetpoints
from controllers.mpc import solve_centralised
from cosim.admm_control import ADMM_INPUTS
from cosim.context import RunContext, require_context
from cosim.control_sim import META as CONTROL_META
from cosim.control_sim import ControlSim
from cosim.forecast import DistrictForecaster, StateTracker

META: Meta = copy.deepcopy(CONTROL_META)
META["models"]["Agent"]["attrs"] = [*META["models"]["Agent"]["attrs"], *ADMM_INPUTS]


class MpcControlSim(ControlSim):
    """The district's centralised MPC, in process."""

    def __init__(self) -> None:
        super().__init__()
        self.meta = copy.deepcopy(META)
        self.context: RunContext | None = None
        self.forecaster: DistrictForecaster | None = None
        self.tracker = StateTracker([], np.zeros(0))
        self.limits: SharedLimits | None = None
        self.solver = "CLARABEL"

    def configure_sim(self, context: RunContext | None = None) -> None:  # type: ignore[override]
        self.context = require_context(context, "mpc")

    def create(  # type: ignore[override]  # explicit keywords
        self,
        num: int,
        model: str,
        kind: str = "mpc",
        params: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> list[CreateResult]:
        return super().create(num, model, "none", None, agent_id)  # the plug-in slot is unused

    def _setup(self, context: RunContext) -> DistrictForecaster:
        s = context.scenario
        cfg = s.controller.mpc
        limit_kw = s.grid.transformer_limit_kw
        if cfg is None or limit_kw is None:
            raise RuntimeError("mpc: the scenario needs controller.mpc and grid.transformer_limit_kw")
        horizon = cfg.horizon // s.control_step
        forecaster = DistrictForecaster(s, horizon)
        if len(forecaster.names) != len(self.controllers):
            raise RuntimeError("mpc: one agent per building expected")
        self.limits = SharedLimits.transformer(limit_kw, horizon, peak_price_per_kw=cfg.peak_price_per_kw)
        self.solver = cfg.solver
        self.tracker = StateTracker(forecaster.names, forecaster.fleet.x[:, 0])
        self.forecaster = forecaster
        return forecaster

    def _data(self, context: RunContext, forecaster: DistrictForecaster, time_s: int,
              inputs: dict[str, Any]) -> list[AgentData]:
        measured = self.measurements(inputs)
        by_name = {name: measured[eid] for eid, name in zip(self.controllers, forecaster.names, strict=True)}
        data = forecaster.agent_data(self.step_index, self.tracker.states(by_name))
        plan = context.scenario.plan
        if plan is None:
            return data
        return [
            d if (schedule := context.schedules.get(d.name)) is None
            else with_plan(d, schedule.values, schedule.start_s, schedule.step_s, time_s, plan.weight_per_kw2)
            for d in data
        ]

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        context = self.context
        if context is None:
            raise RuntimeError("mpc: not configured")
        forecaster = self.forecaster or self._setup(context)
        data = self._data(context, forecaster, time_s, inputs)
        if self.limits is None:
            raise RuntimeError("mpc: setup failed")
        row: dict[str, Any] = {"time_s": time_s, "timestamp": self.times[self.step_index], "entity": "mpc"}
        try:
            result = solve_centralised(data, self.limits, self.solver)
        except (RuntimeError, ValueError) as exc:  # kept: the previous setpoints; recorded, the run goes on
            failed = {"status": f"failed: {exc}", "objective": None, "p_planned_step0_kw": None}
            context.writer.add_rows("mpc_steps", [{**row, **failed}])
            timing = {"wall_time_ms": None, "solve_time_ms": None}
            context.writer.add_rows("mpc_steps_timing", [{**row, **timing}])
            return
        p_bat, p_hp = result.p_bat_kw, result.p_hp_kw
        for i, eid in enumerate(self.controllers):
            battery = None if p_bat is None or data[i].battery is None else float(p_bat[i, 0])
            hp = None if p_hp is None or data[i].thermal is None else float(p_hp[i, 1])
            self.setpoints[eid] = BuildingSetpoints(battery_p_kw=battery, hp_p_kw=hp)
        context.writer.add_rows("mpc_steps", [{
            **row, "status": result.status, "objective": result.objective,
            "p_planned_step0_kw": float(np.sum(result.p_net_kw[:, 0])),
        }])
        context.writer.add_rows("mpc_steps_timing", [{
            **row, "wall_time_ms": result.wall_time_s * 1e3, "solve_time_ms": result.solve_time_s * 1e3,
        }])
