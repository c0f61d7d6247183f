"""The centralised model-predictive controller (kind `mpc`) as the control adapter's controller.

At each control step it builds every
building's data exactly as the ADMM agents get it (forecasts from `cosim.control.forecast` and the measured
states, handed-down plans included) and solves the district's problem in one piece
(`controllers.mpc.solve_centralised`, cvxpy): the same objective and constraints that ADMM shares
out between its agents and the coordinator of the transformer limit. Its setpoints follow the
ADMM timing: battery power for [t, t+Δ), heat-pump and tank power for [t+Δ, t+2Δ). Standalone
batteries and hot-water tanks are in the problem as in ADMM's (`cosim.control.storage_data`).
Each step's status, objective and solve times go to the `mpc_steps` table; a step the solver
cannot solve keeps the previous setpoints and is recorded with its status (the run goes on).

It is the benchmark every distributed controller is measured against: the optimum with full
information, at the cost of one solve of the whole district per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from controllers.admm import SharedLimits
from controllers.measurements import BuildingSetpoints
from controllers.mpc import solve_centralised
from cosim.control.adapter import ControlStep, DistrictController, Values
from cosim.control.admm import with_plans
from cosim.control.forecast import DistrictForecaster, StateTracker
from cosim.control.storage_data import StorageData
from cosim.plans.replan import replan_if_due
from cosim.world.context import RunContext

__all__ = ["LocalMpc"]


class LocalMpc(DistrictController):
    """The district's centralised MPC, in process (see the module docstring)."""

    def __init__(self, context: RunContext) -> None:
        s = context.scenario
        cfg, limit_kw = s.controller.mpc, s.grid.transformer_limit_kw
        if cfg is None or limit_kw is None:
            raise RuntimeError("mpc: the scenario needs controller.mpc and grid.transformer_limit_kw")
        self.context = context
        self.solver = cfg.solver
        horizon = cfg.horizon // s.control_step
        self.forecaster = DistrictForecaster(s, horizon, writer=context.writer)
        self.buildings = list(self.forecaster.names)
        self.storage = StorageData(s, self.forecaster)
        self.names = self.buildings + self.storage.names  # buildings first, then standalone storage
        self.tracker = StateTracker(self.buildings, self.forecaster.fleet.x[:, 0])
        self.limits = SharedLimits.transformer(limit_kw, horizon, peak_price_per_kw=cfg.peak_price_per_kw)

    def setup(self, agents: list[str], step_s: int, storage: frozenset[str] = frozenset()) -> None:
        if sorted(agents) != sorted(self.names) or storage != frozenset(self.storage.names):
            raise RuntimeError("mpc: one agent per building and per standalone storage unit expected")

    def step(
        self, step: ControlStep, received: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, BuildingSetpoints]:
        measured = {name: {**received[name], **step.clock} for name in self.names}
        states = self.tracker.states(measured)
        replan_if_due(self.context, step.index, states)  # new day-ahead plans before this step's data
        buildings = self.forecaster.agent_data(step.index, states)
        data = [
            *self.storage.with_tanks(buildings, step.index, measured),
            *self.storage.battery_agents(step.index, measured),
        ]
        data = with_plans(self.context, data, step.time_s)
        row: dict[str, Any] = {"time_s": step.time_s, "timestamp": step.timestamp, "entity": "mpc"}
        writer = self.context.writer
        try:
            result = solve_centralised(data, self.limits, self.solver)
        except (RuntimeError, ValueError) as exc:  # kept: the previous setpoints; recorded, the run goes on
            writer.add_rows(
                "mpc_steps",
                [{**row, "status": f"failed: {exc}", "objective": None, "p_planned_step0_kw": None}],
            )
            writer.add_rows("mpc_steps_timing", [{**row, "wall_time_ms": None, "solve_time_ms": None}])
            return dict(previous)
        p_bat, p_hp, q_tank = result.p_bat_kw, result.p_hp_kw, result.q_tank_kw
        out = {}
        for i, name in enumerate(self.names):
            battery = None if p_bat is None or data[i].battery is None else float(p_bat[i, 0])
            hp = None if p_hp is None or data[i].thermal is None else float(p_hp[i, 1])
            tank = None if q_tank is None or data[i].tank is None else float(q_tank[i, 1])
            out[name] = BuildingSetpoints(battery_p_kw=battery, hp_p_kw=hp, tank_p_th_kw=tank)
        writer.add_rows(
            "mpc_steps",
            [
                {
                    **row,
                    "status": result.status,
                    "objective": result.objective,
                    "p_planned_step0_kw": float(np.sum(result.p_net_kw[:, 0])),
                }
            ],
        )
        writer.add_rows(
            "mpc_steps_timing",
            [{**row, "wall_time_ms": result.wall_time_s * 1e3, "solve_time_ms": result.solve_time_s * 1e3}],
        )
        return out
