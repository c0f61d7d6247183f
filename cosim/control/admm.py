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

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from controllers.detection import Observation
from controllers.measurements import BuildingSetpoints
from controllers.messages import (
    AdmmDecisionBody,
    AdmmStatsBody,
    AdmmStatsMessage,
    AdmmXBatchMessage,
    AdmmXMessage,
    AdmmZMessage,
    Message,
)
from controllers.topics import Kind
from cosim.control.adapter import ControlStep, DistrictController, Values
from cosim.control.admm_check import central_gap
from cosim.control.defence import Defence, peer_residuals
from cosim.control.exchange import MqttExchange
from cosim.control.forecast import DistrictForecaster, StateTracker
from cosim.control.sensors import meter_sigma_kw
from cosim.control.storage_data import StorageData
from cosim.control.voltage import SharedConstraints, VoltageLinearizer
from cosim.plans.replan import replan_if_due
from cosim.scenario.attacks import sensor_noise
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


@dataclass(frozen=True)
class _Pending:
    """A step's values for the anomaly checks, kept until its batteries' powers come in."""

    time_s: int
    meter_kw: dict[str, float]
    bus_kw: dict[str, float | None]
    soc: dict[str, float | None]
    claims: dict[str, float]
    claims_before: dict[str, float]  # the claims for this step made one step earlier
    messages: dict[str, tuple[tuple[str, int], ...]]
    planned_kw: float | None
    dual_residual_kw: float | None  # how far the coordinator's broadcasts broke their dual update


def _counts(heard: list[tuple[int, int]], tick: int, rounds: int) -> Counter[str]:
    """An agent's round messages of step `tick` as the bridge heard them (`message_check`): fresh
    (distinct rounds of this step), duplicates, updates of an earlier step, rounds not answered."""
    now = [key for key in heard if key[0] == tick]
    fresh = len(set(now))
    return Counter({
        "fresh": fresh, "duplicate": len(now) - fresh, "stale": sum(1 for t, _ in heard if t < tick),
        "missing": max(rounds - fresh, 0),
    })


def _efficiencies(scenario: Scenario) -> dict[str, tuple[float, float]]:
    """Each agent's battery (charging, discharging) efficiency."""
    out = {}
    for group in scenario.buildings:
        if group.battery is not None:
            for name in group.names():
                out[name] = (group.battery.eta_charge, group.battery.eta_discharge)
    for unit in scenario.storage:
        out[unit.name] = (unit.eta_charge, unit.eta_discharge)
    return out


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
        self.noise = sensor_noise(context.scenario)
        self._eta = _efficiencies(context.scenario)
        self._pv_kwp = {n: g.pv_kwp for g in context.scenario.buildings for n in g.names()}
        self._shadows: dict[str, AdmmAgent] = {}  # quarantined agents' honest twins (trusted estimates)
        self._pending: _Pending | None = None  # the last step's values, checked at the next step
        self._next_claims: dict[str, float] = {}  # the agents' claims for the next step

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

    def _detect(self, step: ControlStep, received: dict[str, Values], planned_kw: float | None) -> None:
        """The anomaly checks of the step before, now that its batteries' own powers have come in
        (`cosim.control.defence`): every agent's claim for that step, its meter then (the building's
        metered power plus its battery's), the grid side's measurement at its bus, its battery's
        state of charge at the step's start and end, its round messages; and the coordinator's
        planned total (`planned_kw`, None when it did not converge) against the true limit. This
        step's values wait for the next step."""
        bus = step.bus_kw or {}
        storage = set(self.storage.names)
        claims_before, self._next_claims = self._next_claims, self.defence.next_claims()
        pending, self._pending = self._pending, _Pending(
            step.time_s,
            {n: 0.0 if n in storage else received[n].get("p_kw") or 0.0 for n in self.names},
            {n: 0.0 if n in storage else bus.get(n) for n in self.names},
            {n: received[n].get("soc") for n in self.names},
            self.defence.claims(),
            claims_before,
            self.defence.message_counts(),
            planned_kw,
            self.defence.dual_residual_kw(),
        )
        if pending is None:
            return
        noise, step_h = self.noise, step.step_s / 3600.0
        observations = []
        for n in self.names:
            battery_kw = received[n].get("battery_p_kw") or 0.0
            bus_kw = pending.bus_kw[n]
            soc_before, soc_after = pending.soc[n], received[n].get("soc")
            capacity = received[n].get("capacity_kwh")
            expected = None
            if soc_before is not None and soc_after is not None and capacity:
                eta_charge, eta_discharge = self._eta.get(n, (1.0, 1.0))
                energy_kwh = battery_kw * step_h
                stored_kwh = energy_kwh * eta_charge if energy_kwh > 0 else energy_kwh / eta_discharge
                expected = stored_kwh / capacity
            sigma = None
            if noise is not None and bus_kw is not None:
                sigma = math.sqrt(2.0) * meter_sigma_kw(noise, bus_kw)
            observations.append(Observation(
                n, pending.time_s, pending.claims.get(n), pending.meter_kw[n] + battery_kw,
                None if bus_kw is None else bus_kw + battery_kw, sigma,
                soc_before, soc_after, expected, None if noise is None else noise.soc,
                pending.messages.get(n, ()), reported_before_kw=pending.claims_before.get(n),
            ))
        residuals = {
            o.agent: o.at_bus_kw - o.reported_kw
            for o in observations if o.reported_kw is not None and o.at_bus_kw is not None
        }
        revisions = {
            o.agent: o.reported_kw - o.reported_before_kw
            for o in observations if o.reported_kw is not None and o.reported_before_kw is not None
        }
        peers, spread = peer_residuals(residuals, self._pv_kwp)
        revised, revised_spread = peer_residuals(revisions, self._pv_kwp)
        observations = [
            dataclasses.replace(
                o, peer_residual_kw=peers.get(o.agent), peer_scale_kw=spread,
                peer_revision_kw=revised.get(o.agent), peer_revision_scale_kw=revised_spread,
            )
            for o in observations
        ]
        observations.append(Observation("coordinator", pending.time_s, pending.planned_kw, None,
                                        limit_kw=self.limit_kw, dual_residual_kw=pending.dual_residual_kw))
        self.defence.check(step.time_s, step.timestamp, pending.time_s, observations)

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
        self._false_limit = False  # the last step's coupling had a compromised coordinator's limit

    def step(
        self, step: ControlStep, received: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, BuildingSetpoints]:
        measured = self._measured(step, received)
        # the limit the coordinator works to (a compromised coordinator's false one)
        self.shared.limit_kw = self.defence.limit_kw(step.time_s, self.limit_kw)
        coupling: Coupling = self.shared.coupling(
            [measured[n] for n in self.names], self._batteries(previous)
        )
        if self.coordinator is None:
            self.coordinator = Coordinator(coupling, self.settings)
        data = with_plans(self.context, self._data(step, measured), step.time_s)
        if not self.agents:
            self.agents = build_agents(data, self.coordinator)
        # a new coupling with new voltage rows, and while a false limit holds and the step it ends
        false_limit = self.shared.limit_kw != self.limit_kw
        refresh = self.shared.linearizer is not None or false_limit or self._false_limit
        refreshed = coupling if refresh else None
        self._false_limit = false_limit
        screen = None
        coordinator: Any = self.coordinator  # as the agents see it (a WatchedCoordinator stands in for it)
        if self.defence.active:
            screen = self.defence.screen(step.time_s, step.index, self.names, self._trusted(step, data))
            coordinator = self.defence.watch(self.coordinator, step.time_s)
        result = run_control_step(
            self.agents, coordinator, step.index, data, coupling=refreshed, screen=screen
        )
        plans = [plan_fallback(a, result.decision, p) for a, p in zip(self.agents, result.plans, strict=True)]
        self._record(step, result, data)
        if self.defence.active:
            planned = float(self.coordinator.p_kw[:, 0].sum()) if result.decision.converged else None
            self._detect(step, received, planned)
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
        # agent → (tick, round, its claims for steps 0 and 1)
        self._claims: dict[str, tuple[int, int, float, float | None]] = {}
        self._seen: dict[str, list[tuple[int, int]]] = {}  # agent → (tick, round) of every update heard
        if self.defence.detectors:
            for name in self.names:
                self.exchange.bridge.watch(Kind.ADMM_X, name, self._on_update)
            # agents on one host answer in its round batches: the entries of the agents it carries
            self._carried = {host: frozenset(agents) for host, agents in context.round_hosts.items()}
            for host in self._carried:
                self.exchange.bridge.watch(Kind.ADMM_X_BATCH, host, self._on_batch)

    def _on_coordinator(self, message: Message) -> None:
        """Keep a step's rounds (from the coordinator's decision) and its report."""
        if isinstance(message, AdmmZMessage) and isinstance(message.body, AdmmDecisionBody):
            self._rounds[message.tick] = wire_round_rows(message.body.rounds)
        elif isinstance(message, AdmmStatsMessage):
            self._stats[message.tick] = message.body

    def _on_update(self, message: Message) -> None:
        """Keep each agent's latest claims of its steps 0 and 1, and note every update heard (on the
        bridge's thread)."""
        if isinstance(message, AdmmXMessage):
            self._heard(message.sender, message.tick, message.iteration or 0, message.body.p_net_kw)

    def _on_batch(self, message: Message) -> None:
        """`_on_update` for each entry of a host's round batch that the host may speak for."""
        if isinstance(message, AdmmXBatchMessage):
            carried = self._carried.get(message.sender, frozenset())
            for entry in message.body.entries():
                if entry.agent in carried:
                    self._heard(entry.agent, message.tick, message.iteration or 0, entry.p_net_kw)

    def _heard(self, agent: str, tick: int, iteration: int, p: Sequence[float] | np.ndarray) -> None:
        self._seen.setdefault(agent, []).append((tick, iteration))
        if len(p):
            key = (tick, iteration)
            held = self._claims.get(agent)
            if held is None or held[:2] <= key:
                self._claims[agent] = (*key, float(p[0]), float(p[1]) if len(p) > 1 else None)

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
        stats = self._record(step, result.tick, COORDINATOR_ID in result.late_agents, result.timings.total_s)
        setpoints = {n: BuildingSetpoints.from_values(result.setpoints.get(n) or {}) for n in received}
        if self.defence.detectors:
            claims, self._claims = self._claims, {}
            current = {name: claim for name, claim in claims.items() if claim[0] == result.tick}
            seen, self._seen = self._seen, {}
            rounds = 0 if stats is None else int(stats.iterations)
            self.defence.heard(
                {name: kw for name, (_, _, kw, _) in current.items()},
                {name: next_kw for name, (_, _, _, next_kw) in current.items() if next_kw is not None},
                {n: _counts(seen.get(n, []), result.tick, rounds) for n in self.names},
            )
            converged = stats is not None and stats.converged and stats.p_planned_step0_kw is not None
            self._detect(step, received, stats.p_planned_step0_kw if converged and stats else None)
        return setpoints

    def _check(self, time_s: int, objective: float | None) -> dict[str, float | None]:
        """The centralised optimum of this step's data (with the plans the agents track)."""
        if not self.cfg.centralised_check or not self.data:
            return {}
        data = with_plans(self.context, self.data, time_s)
        return central_gap(data, self.limit_kw, self.cfg.peak_price_per_kw, objective)

    def _record(self, step: ControlStep, tick: int, late: bool, wall_s: float) -> AdmmStatsBody | None:
        """Record the step's rounds and statistics; returns the coordinator's report (None: late)."""
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
        return stats
