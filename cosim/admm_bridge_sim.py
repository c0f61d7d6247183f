"""The mosaik simulator that runs ADMM model-predictive control over MQTT (kind `admm`, transport `mqtt`).

Same entities, inputs and timing as the in-process `AdmmControlSim`; instead of calling the agents,
each control step is one lockstep exchange of the run's bridge (`BridgeSim`): the bridge sends every
building agent its forecast over the horizon (`forecast/{agent}`, built by
`cosim.forecast.DistrictForecaster` from the measured state), its measurement and the clock; the
coordinator agent (`controllers.admm.mqtt`) runs the ADMM rounds with the building agents over the
broker and answers with its statistics, the building agents answer with their setpoints. The
coordinator's statistics of every step go to the `admm_steps` table (as in process), the rounds of
every step (ρ, residuals, tolerances, fresh and stale agents, timings; from the coordinator's final
`admm/z` decision, which the bridge watches) to `admm_iterations`, late agents to
`control_events`, every message to `mqtt_messages`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult

from controllers.admm import AgentData
from controllers.admm.mqtt import COORDINATOR_ID
from controllers.admm.tracking import with_plan
from controllers.admm.wire import FALLBACKS, Series, agent_data_to_series, coupling_to_series, history_rows
from controllers.messages import AdmmZMessage, Message
from controllers.topics import Kind
from cosim.admm_check import central_gap
from cosim.admm_control import ADMM_INPUTS, round_rows
from cosim.bridge_core import ExchangeResult
from cosim.bridge_sim import META as BRIDGE_META
from cosim.bridge_sim import BridgeSim
from cosim.context import RunContext
from cosim.forecast import DistrictForecaster, StateTracker
from cosim.handdown import Schedule
from cosim.voltage import SharedConstraints, VoltageLinearizer

META = copy.deepcopy(BRIDGE_META)
META["models"]["Agent"]["attrs"] = [*META["models"]["Agent"]["attrs"], *ADMM_INPUTS]


class AdmmBridgeSim(BridgeSim):
    """District ADMM over MQTT, one lockstep exchange per control step. No final clock: an ADMM
    agent's step runs in rounds after its measurement, which a final clock would cut short."""

    final_clock = False

    def __init__(self) -> None:
        super().__init__()
        self.meta = copy.deepcopy(META)
        self.forecaster: DistrictForecaster | None = None
        self.tracker = StateTracker([], np.zeros(0))
        self.data: list[AgentData] = []
        self.schedules: dict[str, Schedule] = {}
        self.shared: SharedConstraints | None = None
        self._rounds: dict[int, list[dict[str, float]]] = {}  # tick -> rows, filled on the bridge's thread

    def configure_sim(self, context: RunContext | None = None) -> None:  # type: ignore[override]
        super().configure_sim(context)
        assert self.hooks is not None and self.hooks.bridge is not None
        self.hooks.bridge.watch(Kind.ADMM_Z, COORDINATOR_ID, self._on_coordinator_z)

    def _on_coordinator_z(self, message: Message) -> None:
        """Keep the rounds of a step from the coordinator's final decision (it carries `history.*`)."""
        if isinstance(message, AdmmZMessage) and "history.rho" in message.body.values:
            self._rounds[message.tick] = history_rows(message.body.values)

    def create(  # type: ignore[override]  # explicit keywords
        self,
        num: int,
        model: str,
        kind: str = "admm",
        params: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> list[CreateResult]:
        return super().create(num, model, "none", None, agent_id)  # the plug-in slot is unused

    def _setup(self) -> DistrictForecaster:
        if self.hooks is None or self.hooks.scenario is None:
            raise RuntimeError("admm bridge: not configured with a scenario")
        s = self.hooks.scenario
        if s.controller.admm is None:
            raise RuntimeError("admm bridge: the scenario has no controller.admm section")
        forecaster = DistrictForecaster(s, s.controller.admm.horizon // s.control_step)
        if sorted(forecaster.names) != sorted(self.agent_ids.values()):
            raise RuntimeError("admm bridge: one agent per building expected")
        self.tracker = StateTracker(forecaster.names, forecaster.fleet.x[:, 0])
        self.schedules = self.hooks.schedules
        cfg, limit_kw = s.controller.admm, s.grid.transformer_limit_kw
        if cfg.voltage and limit_kw is not None:
            linearizer = VoltageLinearizer(s)
            names = tuple(forecaster.names)
            self.shared = SharedConstraints(
                names, limit_kw, forecaster.horizon, cfg.peak_price_per_kw, linearizer
            )
        return forecaster

    def forecasts(
        self, measurements: dict[str, dict[str, float | None]]
    ) -> Mapping[str, Mapping[str, Sequence[float]]] | None:
        if self.forecaster is None:
            self.forecaster = self._setup()
        data = self.forecaster.agent_data(self.step_index, self.tracker.states(measurements))
        self.data = data
        series: dict[str, Series] = {d.name: agent_data_to_series(d) for d in data}
        if self.shared is not None and self.shared.linearizer is not None:
            eid_of = {agent: eid for eid, agent in self.agent_ids.items()}
            batteries = [
                None if (a := self.setpoints.get(eid_of[name])) is None else a.battery_p_kw
                for name in self.forecaster.names
            ]
            coupling = self.shared.coupling([measurements[n] for n in self.forecaster.names], batteries)
            for name in self.forecaster.names:
                series[name]["coupling"] = [float(v) for v in coupling.column(name)]
            series[COORDINATOR_ID] = coupling_to_series(coupling)
        return series

    def _check(self, time_s: int, objective: float | None) -> dict[str, float | None]:
        """The centralised optimum of this step's data (with the plans the agents track)."""
        if self.hooks is None or self.hooks.scenario is None:
            return {}
        s = self.hooks.scenario
        cfg = s.controller.admm
        if cfg is None or not cfg.centralised_check or not self.data:
            return {}
        weight = 0.0 if s.plan is None else s.plan.weight_per_kw2
        data = [
            d
            if (p := self.schedules.get(d.name)) is None
            else with_plan(d, p.values, p.start_s, p.step_s, time_s, weight)
            for d in self.data
        ]
        return central_gap(data, s.grid.transformer_limit_kw or 0.0, cfg.peak_price_per_kw, objective)

    def after_exchange(self, time_s: int, result: ExchangeResult) -> None:
        if self.hooks is None:
            return
        stats = result.setpoints.get(COORDINATOR_ID) or {}
        late = COORDINATOR_ID in result.late_agents
        rounds = self._rounds.pop(result.tick, [])
        self._rounds.clear()  # decisions that came after the bridge had given up on their step
        if rounds and not late:
            timestamp = self.times[self.step_index]
            self.hooks.writer.add_rows("admm_iterations", round_rows(time_s, timestamp, rounds))
        fallback_index = stats.get("fallback_index")
        fallback = None if not fallback_index else str(FALLBACKS[int(fallback_index)])
        if fallback is not None and self.schedules:
            fallback = "plan"  # the agents with a handed-down plan apply it (controllers.admm.tracking)
        self.hooks.writer.add_rows(
            "admm_steps",
            [
                {
                    "time_s": time_s,
                    "timestamp": self.times[self.step_index],
                    "entity": COORDINATOR_ID,
                    "iterations": stats.get("iterations"),
                    "converged": bool(stats.get("converged")) and not late,
                    "fallback": "coordinator late" if late else fallback,
                    "reason": "coordinator late" if late else None,
                    "objective": stats.get("objective"),
                    "max_violation_kw": stats.get("max_violation_kw"),
                    "wall_time_ms": result.timings.total_s * 1e3,
                    "rounds_wall_ms": stats.get("rounds_wall_ms"),
                    "sum_solve_time_ms": stats.get("sum_solve_time_ms"),
                    "parallel_time_ms": None,
                    "p_planned_step0_kw": stats.get("p_planned_step0_kw"),
                    **self._check(time_s, None if late else stats.get("objective")),
                }
            ],
        )
