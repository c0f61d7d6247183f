"""District ADMM as the control adapter's controller (kind `admm`): in process or over MQTT.

Both build every building's data the same way at each control step (forecasts from
`cosim.forecast.DistrictForecaster` plus the measured states, handed-down plans included) and give
the same setpoints: battery power for [t, t+Δ), heat-pump power for [t+Δ, t+2Δ).

- `LocalAdmm` runs one sharing-ADMM control step in process (`controllers.admm.run_control_step`:
  the agents' OSQP problems and the coordinator of the transformer limit), warm-started from the
  previous step.
- `MqttAdmm` sends every building agent its forecast over the horizon (`forecast/{agent}`), its
  measurement and the clock in one lockstep exchange; the coordinator agent
  (`controllers.admm.mqtt`) runs the rounds with the building agents over the broker and answers
  with its statistics, the building agents with their setpoints. The rounds of every step come
  from the coordinator's final `admm/z` decision, which the bridge watches.

Every step's iterations, convergence, fallback, objective and limit violation go to `admm_steps`,
its rounds (ρ, residuals, tolerances, fresh and stale agents, timings) to `admm_iterations`; with
`controller.admm.centralised_check` also the centralised optimum of the same data and the gap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from controllers.admm import (
    AdmmAgent,
    AdmmSettings,
    AgentData,
    Coordinator,
    Coupling,
    build_agents,
    run_control_step,
)
from controllers.admm.messages import Fallback, IterationRecord
from controllers.admm.mqtt import QUARANTINE_PREFIX
from controllers.admm.params import COORDINATOR_ID
from controllers.admm.tracking import plan_fallback, tracks_plan, with_plan
from controllers.admm.wire import (
    Series,
    agent_data_to_series,
    coupling_to_series,
    history_rows,
    history_to_series,
)
from controllers.admm.wire import round_rows as wire_round_rows
from controllers.measurements import BuildingSetpoints
from controllers.messages import (
    AdmmDecisionBody,
    AdmmStatsBody,
    AdmmStatsMessage,
    AdmmXMessage,
    AdmmZMessage,
    Message,
)
from controllers.topics import Kind
from cosim.control.adapter import ControlStep, DistrictController, Values
from cosim.control.admm_check import central_gap
from cosim.control.defence import Defence
from cosim.control.exchange import MqttExchange
from cosim.control.forecast import DistrictForecaster, StateTracker
from cosim.control.storage_data import StorageData
from cosim.control.voltage import SharedConstraints, VoltageLinearizer
from cosim.plans.replan import replan_if_due
from cosim.scenario.model import AdmmConfig, Scenario
from cosim.world.context import RunContext

__all__ = ["LocalAdmm", "MqttAdmm", "iteration_rows", "round_rows", "with_plans"]


def iteration_rows(time_s: int, timestamp: Any, history: Sequence[IterationRecord]) -> list[dict[str, Any]]:
    """The `admm_iterations` rows of one control step: every round's ρ, residuals and tolerances,
    fresh and stale agents, and timings in seconds."""
    return round_rows(time_s, timestamp, history_rows(history_to_series(history)))


def round_rows(time_s: int, timestamp: Any, rounds: Sequence[Mapping[str, float]]) -> list[dict[str, Any]]:
    """`admm_iterations` rows from the rounds of one step (`controllers.admm.wire.history_rows`)."""
    return [{"time_s": time_s, "timestamp": timestamp, "entity": "coordinator", **row} for row in rounds]


def _config(scenario: Scenario) -> tuple[AdmmConfig, float]:
    cfg, limit_kw = scenario.controller.admm, scenario.grid.transformer_limit_kw
    if cfg is None or limit_kw is None:
        raise RuntimeError("admm: the scenario needs controller.admm and grid.transformer_limit_kw")
    return cfg, limit_kw


def with_plans(context: RunContext, data: list[AgentData], time_s: int) -> list[AgentData]:
    """`data` with the handed-down plans the agents track."""
    plan = context.scenario.plan
    if plan is None or not context.schedules:
        return data
    return [
        d
        if (s := context.schedules.get(d.name)) is None
        else with_plan(d, s.values, s.start_s, s.step_s, time_s, plan.weight_per_kw2)
        for d in data
    ]


class _Forecasting(DistrictController):
    """What both ADMM controllers share: the forecaster, the measured states, the agents' order."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.cfg, self.limit_kw = _config(context.scenario)
        self.forecaster = DistrictForecaster(
            context.scenario, self.cfg.horizon // context.scenario.control_step, writer=context.writer
        )
        self.buildings = list(self.forecaster.names)
        self.storage = StorageData(context.scenario, self.forecaster)
        self.names = self.buildings + self.storage.names  # the agents, buildings first
        self.tracker = StateTracker(self.buildings, self.forecaster.fleet.x[:, 0])
        self.defence = Defence(context.scenario, context)
        self._shadows: dict[str, AdmmAgent] = {}  # quarantined agents' honest twins (trusted estimates)
        # the last step's (time, building meters, claims), checked at the next step
        self._pending: tuple[int, dict[str, float], dict[str, float]] | None = None

    def setup(self, agents: list[str], step_s: int, storage: frozenset[str] = frozenset()) -> None:
        if sorted(agents) != sorted(self.names) or storage != frozenset(self.storage.names):
            raise RuntimeError("admm: one agent per building and per standalone storage unit expected")

    def _measured(self, step: ControlStep, received: dict[str, Values]) -> dict[str, Values]:
        """Each agent's measurement with the clock; a standalone unit's own net power is its
        battery's alone (the adapter's district view is for the plug-ins, not for ADMM)."""
        clock = step.clock
        measured = {name: {**received[name], **clock} for name in self.buildings}
        for name in self.storage.names:
            measured[name] = {**received[name], **clock, "p_kw": 0.0, "q_kvar": 0.0}
        return measured

    def _data(self, step: ControlStep, measured: dict[str, Values]) -> list[AgentData]:
        """Every agent's data for this step, in `names` order."""
        states = self.tracker.states(measured)
        replan_if_due(self.context, step.index, states)  # new day-ahead plans before this step's data
        buildings = self.forecaster.agent_data(step.index, states)
        return [
            *self.storage.with_tanks(buildings, step.index, measured),
            *self.storage.battery_agents(step.index, measured),
        ]

    def _trusted(self, step: ControlStep, data: list[AgentData]) -> Callable[[str], np.ndarray]:
        """A quarantined agent's trusted net power: its own optimum without coordination, solved by
        an honest twin on the platform's data for this step."""
        by_name = {d.name: d for d in data}

        def estimate(name: str) -> np.ndarray:
            shadow = self._shadows.get(name)
            if shadow is None:
                shadow = AdmmAgent(by_name[name])
                self._shadows[name] = shadow
            shadow.start_step(step.index, by_name[name])
            return shadow.solve_alone().p_net_kw

        return estimate

    def _detect(self, step: ControlStep, received: dict[str, Values]) -> None:
        """The anomaly checks of the step before, now that its batteries' own powers have come in:
        every agent's claim for that step against its meter over it (the building's metered power
        then plus the battery's power); this step's claims and meters wait for the next step."""
        pending, self._pending = self._pending, (
            step.time_s,
            {n: 0.0 if n in self.storage.names else received[n].get("p_kw") or 0.0 for n in self.names},
            self.defence.claims(),
        )
        if pending is not None:
            observed_s, building_kw, claims = pending
            metered = {n: kw + (received[n].get("battery_p_kw") or 0.0) for n, kw in building_kw.items()}
            self.defence.check(step.time_s, step.timestamp, observed_s, metered, claims)

    def _batteries(self, previous: dict[str, BuildingSetpoints]) -> list[float | None]:
        return [None if (a := previous.get(name)) is None else a.battery_p_kw for name in self.names]


class LocalAdmm(_Forecasting):
    """ADMM in process (see the module docstring)."""

    def __init__(self, context: RunContext) -> None:
        super().__init__(context)
        cfg = self.cfg
        linearizer = VoltageLinearizer(context.scenario) if cfg.voltage else None
        self.shared = SharedConstraints(
            tuple(self.names), self.limit_kw, self.forecaster.horizon, cfg.peak_price_per_kw, linearizer
        )
        self.settings = AdmmSettings(
            rho=cfg.rho,
            eps_abs=cfg.eps_abs,
            eps_rel=cfg.eps_rel,
            max_iterations=cfg.max_iterations,
            deadline_s=cfg.step_deadline_s,
        )
        self.coordinator: Coordinator | None = None
        self.agents: list[AdmmAgent] = []

    def step(
        self, step: ControlStep, received: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, BuildingSetpoints]:
        measured = self._measured(step, received)
        coupling: Coupling = self.shared.coupling(
            [measured[n] for n in self.names], self._batteries(previous)
        )
        if self.coordinator is None:
            self.coordinator = Coordinator(coupling, self.settings)
        data = with_plans(self.context, self._data(step, measured), step.time_s)
        if not self.agents:
            self.agents = build_agents(data, self.coordinator)
        refreshed = coupling if self.shared.linearizer is not None else None
        screen = self.defence.screen(step.time_s, self._trusted(step, data)) if self.defence.active else None
        result = run_control_step(
            self.agents, self.coordinator, step.index, data, coupling=refreshed, screen=screen
        )
        plans = [plan_fallback(a, result.decision, p) for a, p in zip(self.agents, result.plans, strict=True)]
        self._record(step, result, data)
        if self.defence.active:
            self._detect(step, received)
        return {
            name: BuildingSetpoints(
                battery_p_kw=plan.battery_p_kw, hp_p_kw=plan.hp_p_kw, tank_p_th_kw=plan.tank_p_th_kw
            )
            for name, plan in zip(self.names, plans, strict=True)
        }

    def _record(self, step: ControlStep, result: Any, data: list[AgentData]) -> None:
        d = result.decision
        check: dict[str, float | None] = {}
        if self.cfg.centralised_check:
            check = central_gap(data, self.limit_kw, self.cfg.peak_price_per_kw, result.objective)
        writer = self.context.writer
        writer.add_rows("admm_iterations", iteration_rows(step.time_s, step.timestamp, result.history))
        fallback = None
        if d.fallback is not None:
            fallback = "plan" if any(tracks_plan(a) for a in self.agents) else str(d.fallback)
        writer.add_rows(
            "admm_steps",
            [
                {
                    "time_s": step.time_s,
                    "timestamp": step.timestamp,
                    "entity": "coordinator",
                    "iterations": d.iterations,
                    "converged": bool(d.converged),
                    "fallback": fallback,
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


class MqttAdmm(_Forecasting):
    """ADMM over MQTT (see the module docstring). No final clock: an ADMM agent's step runs in
    rounds after its measurement, which a final clock would cut short."""

    def __init__(self, context: RunContext) -> None:
        super().__init__(context)
        self.exchange = MqttExchange(context, final_clock=False)
        self.data: list[AgentData] = []
        self.shared: SharedConstraints | None = None
        if self.cfg.voltage:
            self.shared = SharedConstraints(
                tuple(self.names),
                self.limit_kw,
                self.forecaster.horizon,
                self.cfg.peak_price_per_kw,
                VoltageLinearizer(context.scenario),
            )
        # filled on the bridge's thread: tick -> the rounds of the step, the coordinator's report
        self._rounds: dict[int, list[dict[str, float]]] = {}
        self._stats: dict[int, AdmmStatsBody] = {}
        self.exchange.bridge.watch(Kind.ADMM_Z, COORDINATOR_ID, self._on_coordinator)
        self.exchange.bridge.watch(Kind.ADMM_STATS, COORDINATOR_ID, self._on_coordinator)
        # with detection, every agent's round updates as they arrive (their step 0: what they claim)
        self._claims: dict[str, tuple[int, int, float]] = {}  # agent → (tick, round, step-0 kW)
        if self.defence.detectors:
            for name in self.names:
                self.exchange.bridge.watch(Kind.ADMM_X, name, self._on_update)

    def _on_coordinator(self, message: Message) -> None:
        """Keep a step's rounds (from the coordinator's decision) and its report."""
        if isinstance(message, AdmmZMessage) and isinstance(message.body, AdmmDecisionBody):
            self._rounds[message.tick] = wire_round_rows(message.body.rounds)
        elif isinstance(message, AdmmStatsMessage):
            self._stats[message.tick] = message.body

    def _on_update(self, message: Message) -> None:
        """Keep each agent's latest claim of its step 0 (on the bridge's thread)."""
        if isinstance(message, AdmmXMessage) and message.body.p_net_kw:
            key = (message.tick, message.iteration or 0)
            held = self._claims.get(message.sender)
            if held is None or held[:2] <= key:
                self._claims[message.sender] = (*key, float(message.body.p_net_kw[0]))

    def _forecasts(
        self, step: ControlStep, measured: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, Series]:
        self.data = self._data(step, measured)
        series: dict[str, Series] = {d.name: agent_data_to_series(d) for d in self.data}
        if self.shared is not None:
            coupling = self.shared.coupling([measured[n] for n in self.names], self._batteries(previous))
            for name in self.names:
                series[name]["coupling"] = [float(v) for v in coupling.column(name)]
            series[COORDINATOR_ID] = coupling_to_series(coupling)
        if self.defence.quarantined:  # the coordinator takes their trusted estimates instead
            trusted = self._trusted(step, self.data)
            quarantine = {
                f"{QUARANTINE_PREFIX}{n}": [float(v) for v in trusted(n)] for n in self.defence.quarantined
            }
            series[COORDINATOR_ID] = {**series.get(COORDINATOR_ID, {}), **quarantine}
        return series

    def step(
        self, step: ControlStep, received: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, BuildingSetpoints]:
        measured = self._measured(step, received)
        result = self.exchange.exchange(step, step.wire(received), self._forecasts(step, measured, previous))
        self._record(step, result.tick, COORDINATOR_ID in result.late_agents, result.timings.total_s)
        setpoints = {n: BuildingSetpoints.from_values(result.setpoints.get(n) or {}) for n in received}
        if self.defence.detectors:
            claims, self._claims = self._claims, {}
            for name, (tick, _round, kw) in claims.items():
                if tick == result.tick:
                    self.defence.reported_kw[name] = kw
            self._detect(step, received)
        return setpoints

    def _check(self, time_s: int, objective: float | None) -> dict[str, float | None]:
        """The centralised optimum of this step's data (with the plans the agents track)."""
        if not self.cfg.centralised_check or not self.data:
            return {}
        data = with_plans(self.context, self.data, time_s)
        return central_gap(data, self.limit_kw, self.cfg.peak_price_per_kw, objective)

    def _record(self, step: ControlStep, tick: int, late: bool, wall_s: float) -> None:
        writer = self.context.writer
        rounds = self._rounds.pop(tick, [])
        stats = self._stats.pop(tick, None)
        self._rounds.clear()  # decisions that came after the bridge had given up on their step
        self._stats.clear()
        late = late or stats is None
        if rounds and not late:
            writer.add_rows("admm_iterations", round_rows(step.time_s, step.timestamp, rounds))
        fallback = None if stats is None or stats.fallback is None else str(Fallback(stats.fallback))
        if fallback is not None and self.context.schedules:
            fallback = "plan"  # the agents with a handed-down plan apply it (controllers.admm.tracking)
        objective = None if stats is None else stats.objective
        writer.add_rows(
            "admm_steps",
            [
                {
                    "time_s": step.time_s,
                    "timestamp": step.timestamp,
                    "entity": COORDINATOR_ID,
                    "iterations": None if stats is None else float(stats.iterations),
                    "converged": stats is not None and stats.converged and not late,
                    "fallback": "coordinator late" if late else fallback,
                    "reason": "coordinator late" if late else None,
                    "objective": objective,
                    "max_violation_kw": None if stats is None else stats.max_violation_kw,
                    "wall_time_ms": wall_s * 1e3,
                    "rounds_wall_ms": None if stats is None else stats.rounds_wall_ms,
                    "sum_solve_time_ms": None if stats is None else stats.sum_solve_time_ms,
                    "parallel_time_ms": None,
                    "p_planned_step0_kw": None if stats is None else stats.p_planned_step0_kw,
                    **self._check(step.time_s, None if late else objective),
                }
            ],
        )
