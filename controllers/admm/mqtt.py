"""Sharing ADMM over MQTT: building agents and the coordinator as runtime agents.

Protocol of one control step (tick t), on top of the bridge's lockstep exchange:
1. the bridge sends every building agent its forecast (`forecast/{agent}`: the `AgentData` series of
   `controllers.admm.wire`; for the agents of an agent host it knows, in one `batch/forecast/{host}`),
   its measurement and the clock tick;
2. the coordinator (trigger: clock) starts the rounds: it publishes a broadcast (`admm/z/coordinator`,
   iteration k) and collects every agent's update (`admm/x/{agent}`, iteration k) until all have
   answered or the round timeout expires (a missing agent's last value is reused: a straggler);
3. when the residuals meet the tolerances, the iteration limit is hit or the step deadline passes,
   the coordinator publishes the decision (`admm/z`, a `decision` payload) and answers the bridge
   with its statistics (iterations, convergence, fallback, objective, limit violation);
4. every building agent applies the decision (the ADMM result or the recorded fallback) and answers
   the bridge with its setpoints: battery power for [t, t+Δ), heat-pump power for [t+Δ, t+2Δ)
   (an agent host that got its agents' forecasts in a batch answers for them in one
   `batch/setpoint/{host}`).

Hooks never wait for other messages: agents answer each broadcast as it comes, the coordinator's
rounds run as a task beside the message loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import operator
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from controllers.admm import alm_qp
from controllers.admm.agent import AdmmAgent, OsqpSettings, SolverFailure
from controllers.admm.batched import AgentBatch
from controllers.admm.coordinator import AdmmSettings, Coordinator
from controllers.admm.coupling import Coupling
from controllers.admm.data import SharedLimits
from controllers.admm.messages import CoordinatorBroadcast, LocalUpdate
from controllers.admm.params import COORDINATOR_ID, AdmmAgentParams, CoordinatorParams
from controllers.admm.tracking import plan_fallback, with_plan
from controllers.admm.wire import (
    SeriesIn,
    agent_data_from_series,
    broadcast_from_body,
    broadcast_to_body,
    coupling_from_series,
    decision_from_body,
    decision_to_body,
    update_from_body,
    update_to_body,
)
from controllers.lies import LIES, Lie, lie
from controllers.messages import (
    AdmmBroadcastBody,
    AdmmDecisionBody,
    AdmmStatsBody,
    AdmmUpdateBody,
    AdmmXBatchMessage,
    AdmmXMessage,
    AdmmZMessage,
    ClockMessage,
    ForecastBatchMessage,
    ForecastMessage,
    Message,
    PlanBody,
    PlanMessage,
    RoundUpdate,
)
from controllers.runtime.agent import Agent, Setpoints
from controllers.topics import Kind

__all__ = ["COORDINATOR_ID", "AdmmBuildingAgent", "AdmmCoordinatorAgent", "CompromisedAdmmAgent"]

log = logging.getLogger(__name__)

QUARANTINE_PREFIX = "quarantine."  # a coordinator forecast series: a quarantined agent's trusted p_net
BREATHE_S = 0.05  # a host's longest stretch of solving or building agents without the event loop

_last_breath = 0.0


async def breathe() -> None:
    """Let the event loop run if it has not for `BREATHE_S`: an agent host works through its agents
    one after the other within one message (a round's broadcast: ~0.6 ms of solving per agent) or a
    burst of messages (the step's forecasts: an agent is built on its first), so a host of 1,000
    agents would hold the loop for seconds per round — longer than 1.5 keepalives on a loaded
    machine, and the broker drops the connection. Between breaths the updates queue up and leave
    together (one write per breath)."""
    global _last_breath
    if time.perf_counter() - _last_breath >= BREATHE_S:
        await asyncio.sleep(0)
        _last_breath = time.perf_counter()


class AdmmBuildingAgent(Agent):
    """One building (or storage unit) of sharing ADMM on MQTT.

    Params (`controllers.admm.params.AdmmAgentParams`): `coordinator` (its agent id),
    `plan_weight_per_kw2` and `plan_series` (the series of a received `plan` message that the
    agent's net power tracks, default `p_kw`), `queue_updates` (default: a round's update is queued
    at QoS 0 instead of awaiting its PUBACK, on any broker: a lost one is a straggler; awaiting each
    PUBACK costs one broker round trip per agent of a host and round, and a broker without
    `set_tcp_nodelay` holds the next broadcast behind its PUBACKs until the host's delayed ACK),
    `batch_updates` (on an agent host: the host's agents answer a round in one `batch/admm-x`
    message, which the coordinator takes for the agents its `hosts` says the host carries),
    `local_solver` (`alm`, the default, or `osqp`: `controllers.admm.agent.OsqpSettings.solver`;
    the compiled `alm` solver is loaded when the agent starts, not in its first round).
    """

    kind: ClassVar[str] = "admm"

    def __init__(self, agent_id: str, **params: Any) -> None:
        super().__init__(agent_id, **params)
        p = AdmmAgentParams.model_validate(params)
        self.coordinator = p.coordinator
        self.admm: AdmmAgent | None = None
        self.tick = -1
        self.early: list[AdmmZMessage] = []  # broadcasts that overtook this tick's forecast
        self.plan_series = p.plan_series
        self.plan_weight_per_kw2 = p.plan_weight_per_kw2
        self.plan: PlanBody | None = None
        self.queue_updates = p.queue_updates
        self.batch_updates = p.batch_updates
        self.solver = OsqpSettings(solver=p.local_solver)
        # the batch this agent's rounds are solved in with its host's other agents (`on_shared_message`)
        self.round_batch: tuple[tuple[AdmmAgent, ...], AgentBatch] | None = None

    shared_kinds: ClassVar[frozenset[str]] = frozenset({Kind.ADMM_Z.value, Kind.FORECAST_BATCH.value})

    def subscriptions(self) -> Sequence[tuple[Kind, str | None]]:
        return [(Kind.FORECAST, self.agent_id), (Kind.ADMM_Z, self.coordinator)]  # plans: by default

    @classmethod
    async def on_shared_message(cls, agents: Sequence[Agent], message: Message) -> Sequence[Agent]:
        """A message to many agents of an agent host. A round's broadcast: the agents whose round
        is a warm-started Newton solve answering in the host's batch answer it together
        (`controllers.admm.batched.AgentBatch.round_updates`: the same updates as one
        `local_update` each, without the Python of a round per agent); the rest one by one. The
        host's forecast batch: each agent takes its series as arrays (no list of floats each)."""
        if isinstance(message, ForecastBatchMessage):
            for agent in agents:
                try:
                    assert isinstance(agent, AdmmBuildingAgent)
                    await agent._on_forecast(message.tick, message.body.start_s,
                                             message.body.arrays_of(agent.agent_id))
                except Exception:  # as its own on_message's failure: logged and counted, the others go on
                    log.exception("%s: forecast of tick %d not taken", agent.agent_id, message.tick)
                    agent.ctx.count_hook_error()
            return ()
        if not (isinstance(message, AdmmZMessage) and isinstance(message.body, AdmmBroadcastBody)
                and message.iteration is not None):
            return agents
        together: list[AdmmBuildingAgent] = []
        alone: list[Agent] = []
        for agent in agents:
            if isinstance(agent, AdmmBuildingAgent) and agent._answers_with_batch(message.tick):
                together.append(agent)
            else:
                alone.append(agent)
        if len(together) < 2:
            return agents
        await breathe()
        batch = _round_batch(together)
        ready = [i for i in range(len(together)) if batch.vector_ready(i)]
        if len(ready) < len(together):
            alone += [together[i] for i in sorted(set(range(len(together))) - set(ready))]
        broadcast = _broadcast(message, message.iteration, message.body)
        for i, update in zip(ready, batch.round_updates(broadcast, ready), strict=True):
            agent = together[i]
            if update is None:
                log.warning("%s: local solve failed at tick %d, round %d", agent.agent_id, message.tick,
                            message.iteration)
                continue  # the coordinator reuses this agent's last value
            answer = RoundUpdate(update.p_net_kw, update.local_cost, update.solve_time_s,
                                 update.solver_iterations, update.solver_status)
            await agent.ctx.publish_round(message.tick, message.iteration, answer, batch=True)
        return alone

    def _answers_with_batch(self, tick: int) -> bool:
        """This agent answers a round of `tick` as `on_shared_message` does: honestly (`reported`
        not overridden), queued, in its host's batch (whether its solve is a warm-started Newton
        solve the batch takes is `AgentBatch.vector_ready`'s to say)."""
        return (
            self.admm is not None
            and tick == self.tick
            and self.batch_updates
            and self.queue_updates
            and type(self).reported is AdmmBuildingAgent.reported
        )

    async def on_start(self) -> None:
        if self.solver.solver == "alm":
            alm_qp.warm_up()  # the compiled solver loaded once per process, before the first step

    async def step(self, tick: int, measurement: Any) -> Setpoints | None:
        return None  # setpoints follow the coordinator's decision, not the measurement

    async def on_message(self, message: Message) -> None:
        if isinstance(message, PlanMessage):
            if self.plan_series not in message.body.values:
                log.warning("%s: plan without series %r ignored", self.agent_id, self.plan_series)
            else:
                self.plan = message.body
        elif isinstance(message, ForecastMessage):
            await self._on_forecast(message.tick, message.body.start_s, message.body.values)
        elif isinstance(message, AdmmZMessage):
            if message.tick > self.tick:
                self.early.append(message)  # no ordering across publishers: wait for the forecast
            elif message.tick == self.tick:
                await self._on_z(message)

    async def _on_forecast(self, tick: int, start_s: int, values: SeriesIn) -> None:
        """This step's data (`values`: the forecast's series, lists or arrays): the agent's problem
        for `tick`, then the broadcasts of `tick` that came before it."""
        await breathe()
        data = agent_data_from_series(self.agent_id, values)
        plan = self.plan
        if plan is not None:
            data = with_plan(
                data,
                plan.values[self.plan_series],
                plan.start_s,
                plan.step_s,
                start_s,
                self.plan_weight_per_kw2,
            )
        column = values.get("coupling")  # with refreshed (voltage) rows
        coupling = None if column is None else np.asarray(column, dtype=float)
        if self.admm is None:
            self.admm = AdmmAgent(data, coupling, self.solver)
        self.admm.start_step(tick, data, coupling)  # as the in-process runner does
        self.tick = tick
        early, self.early = [m for m in self.early if m.tick == self.tick], []
        for z in early:
            await self._on_z(z)

    async def _on_z(self, message: AdmmZMessage) -> None:
        if isinstance(message.body, AdmmDecisionBody):
            await self._finish(message.tick, message.body)
        else:
            await self._answer(message, message.body)

    async def _answer(self, message: AdmmZMessage, body: AdmmBroadcastBody) -> None:
        admm = self.admm
        if admm is None or message.iteration is None:
            return
        await breathe()
        broadcast = _broadcast(message, message.iteration, body)
        try:
            update = admm.local_update(broadcast)
        except SolverFailure:
            log.warning(
                "%s: local solve failed at tick %d, round %d", self.agent_id, message.tick, message.iteration
            )
            return  # the coordinator reuses this agent's last value
        update = self.reported(update)
        # in the host's batch as an array (packed there with the others), on its own topic as a body
        answer: AdmmUpdateBody | RoundUpdate = (
            RoundUpdate(update.p_net_kw, update.local_cost, update.solve_time_s, update.solver_iterations,
                        update.solver_status)
            if self.batch_updates
            else update_to_body(update)
        )
        # queued at QoS 0: a host answers for its agents in turn, one broker round trip apart if each
        # awaits its PUBACK, and without PUBACKs nothing from the broker sits in front of the next
        # broadcast to this host (Nagle on a broker without TCP_NODELAY); a lost update is a
        # straggler the coordinator covers with the last value
        if self.queue_updates:
            await self.ctx.publish_round(message.tick, message.iteration, answer, batch=self.batch_updates)
        else:
            own = answer.body() if isinstance(answer, RoundUpdate) else answer
            await self.ctx.publish(self.ctx.messages.admm_x(message.tick, message.iteration, own))

    def reported(self, update: LocalUpdate) -> LocalUpdate:
        """What the agent tells the coordinator of its update (an honest agent: the update)."""
        return update

    async def _finish(self, tick: int, body: AdmmDecisionBody) -> None:
        if self.admm is None:
            return
        decision = decision_from_body(tick, body)
        plan = plan_fallback(self.admm, decision, self.admm.finalize_step(decision))
        values = {
            "battery_p_set_kw": plan.battery_p_kw,
            "hp_p_set_kw": plan.hp_p_kw,
            "tank_p_th_set_kw": plan.tank_p_th_kw,
        }
        await self.ctx.publish_setpoints(tick, values)  # in the host's batch if the bridge batches for it


class CompromisedAdmmAgent(AdmmBuildingAgent):
    """A compromised ADMM agent (it holds the agent's valid credentials): from tick `from_tick` to
    `until_tick` (excluded; None: the end) it reports, in every round, the lie `lie` of its net
    power (`controllers.lies`: `bias` by `magnitude` kW, the default, `scale`, `random` with
    `seed`, `stealthy` with `step0_kw`), and applies its true plan (the MQTT form of the `admm_*`
    attacks, `cosim.attacks`). `under_report_kw` is the `bias` magnitude's older name."""

    kind: ClassVar[str] = "admm-compromised"

    def __init__(self, agent_id: str, **params: Any) -> None:
        self.lie: Lie = params.pop("lie", "bias")
        if self.lie not in LIES:
            raise ValueError(f"{agent_id}: lie must be one of {', '.join(LIES)}, got {self.lie!r}")
        self.magnitude = float(params.pop("magnitude", params.pop("under_report_kw", 0.0)))
        self.seed = int(params.pop("seed", 0))
        self.step0_kw = float(params.pop("step0_kw", 0.0))
        self.from_tick = int(params.pop("from_tick", 0))
        until = params.pop("until_tick", None)
        self.until_tick = None if until is None else int(until)
        super().__init__(agent_id, **params)

    def reported(self, update: LocalUpdate) -> LocalUpdate:
        active = self.from_tick <= update.tick and (self.until_tick is None or update.tick < self.until_tick)
        if not active:
            return update
        reported = lie(self.lie, update.p_net_kw, self.magnitude, seed=self.seed, tick=update.tick,
                       iteration=update.iteration, step0_kw=self.step0_kw)
        return dataclasses.replace(update, p_net_kw=reported)


def _round_batch(agents: list[AdmmBuildingAgent]) -> AgentBatch:
    """The batch of `agents` (each holds it; made again when they change, e.g. once every agent has
    made its first solve: the agents' Newton states are views of its arrays from then on)."""
    admms = tuple(agent.admm for agent in agents if agent.admm is not None)
    held = agents[0].round_batch
    if held is not None and len(held[0]) == len(admms) and all(map(operator.is_, held[0], admms)):
        return held[1]
    batch = AgentBatch(admms)
    held = (admms, batch)
    for agent in agents:
        agent.round_batch = held
    return batch


_decoded: tuple[AdmmZMessage, CoordinatorBroadcast] | None = None


def _broadcast(message: AdmmZMessage, iteration: int, body: AdmmBroadcastBody) -> CoordinatorBroadcast:
    """The round's broadcast (`iteration` and `body` are the message's, checked by the caller),
    decoded once per process: a host hands the same message object to each of its agents, and
    `local_update` does not modify the arrays."""
    global _decoded
    if _decoded is None or _decoded[0] is not message:
        broadcast = broadcast_from_body(message.tick, iteration, body)
        _decoded = (message, broadcast)
    return _decoded[1]


class AdmmCoordinatorAgent(Agent):
    """The coordinator of the shared limit: runs the rounds of every control step.

    Params (`controllers.admm.params.CoordinatorParams`): `agents` (the building agent ids),
    `limit_kw`, `horizon` (steps), `peak_price_per_kw`, `rho`, `eps_abs`, `eps_rel`,
    `max_iterations`, `round_timeout_s`, `mute_after_rounds`,
    `step_deadline_s` (wall time for all rounds of a step), `refresh` (the bridge sends each
    step's coupling map, e.g. voltage rows, as this agent's forecast); the settings not given keep
    the defaults of `AdmmSettings`.

    Quarantine: the bridge's forecast message for the coordinator may hold, per quarantined agent,
    a series `quarantine.<agent>` (its trusted net power over the horizon, `cosim.control.defence`);
    that agent's updates then enter the rounds with this series instead of what it reported.

    Batches: an agent host may answer a round for its agents in one `batch/admm-x/{host}` message;
    each entry counts as that agent's update if `hosts` lists the agent under that host (else it is
    dropped and counted as `not carried`: the host's login and signature prove only who the host
    is, `hosts` says for whom it may speak).

    The round's barrier counts distinct known agents only: an update from a sender that is not one
    of `agents`, or a second answer of the same agent to the same round, is dropped and counted
    (`rejected`). An agent that missed `mute_after_rounds` rounds in a row is muted: the rounds no
    longer wait for it and its last value stands in for it, so one silent agent costs a few round
    timeouts instead of every round; it is waited for again as soon as it answers.
    """

    kind: ClassVar[str] = "admm-coordinator"
    trigger: ClassVar[Literal["measurement", "clock"]] = "clock"  # the coordinator has no measurements

    def __init__(self, agent_id: str, **params: Any) -> None:
        super().__init__(agent_id, **params)
        p = CoordinatorParams.model_validate(params)
        self.agents = p.agents
        limits = SharedLimits.transformer(p.limit_kw, p.horizon, peak_price_per_kw=p.peak_price_per_kw)
        given: dict[str, Any] = {
            "rho": p.rho, "eps_abs": p.eps_abs, "eps_rel": p.eps_rel, "max_iterations": p.max_iterations,
            "deadline_s": p.step_deadline_s,
        }
        settings = dataclasses.replace(AdmmSettings(), **{k: v for k, v in given.items() if v is not None})
        self.coordinator = Coordinator(Coupling.from_limits(self.agents, limits), settings)
        self.settings = settings
        # with `refresh`, the bridge sends the coupling map of every step (e.g. voltage rows) as
        # the coordinator's forecast before the clock; the first one replaces the initial map
        self.refresh = p.refresh
        self.couplings: dict[int, Coupling] = {}
        self.coupling_arrived = asyncio.Event()
        self.round_timeout_s = p.round_timeout_s
        self.mute_after_rounds = p.mute_after_rounds
        self.known = frozenset(self.agents)
        self.updates: dict[str, LocalUpdate] = {}
        self.answered: set[str] = set()  # distinct known agents that answered the current round
        self.waiting: set[str] = set()  # active agents (not muted) still to answer the current round
        self.waiting_for: tuple[int, int] = (-1, -1)  # the round `waiting` belongs to
        self.missed: dict[str, int] = {}  # consecutive rounds an agent did not answer
        self.rejected: dict[str, int] = {"unknown sender": 0, "duplicate": 0, "not carried": 0}
        self.carried = {host: frozenset(agents) & self.known for host, agents in p.hosts.items()}
        self.received = {"updates": 0, "batches": 0}  # round messages taken (batches: their entries too)
        # quarantined agents' trusted net power by tick, from the bridge's forecast message
        self.quarantine: dict[int, dict[str, np.ndarray]] = {}
        self.round_key: tuple[int, int] = (-1, -1)
        self.round_done = asyncio.Event()
        self.solve_time_s = 0.0  # the agents' local solves in this step, as they report them
        self.task: asyncio.Task[None] | None = None
        self.task_tick = -1  # the tick of `task`
        self.answered_tick = -1  # the last tick whose answer (the coordinator's setpoint) was sent
        self.finishing: set[asyncio.Task[None]] = set()  # answered steps awaiting the broker's PUBACK
        self.abandoned = 0  # steps given up because the next tick arrived first

    def subscriptions(self) -> Sequence[tuple[Kind, str | None]]:
        kinds: list[tuple[Kind, str | None]] = [(Kind.ADMM_X, None), (Kind.FORECAST, self.agent_id)]
        return kinds + [(Kind.ADMM_X_BATCH, host) for host in self.carried]

    async def on_tick(self, message: ClockMessage) -> None:
        running = self.task
        if running is not None and not running.done():
            if self.answered_tick == self.task_tick:
                # its answer is out and the bridge has it: the task only awaits the broker's PUBACK
                # of it (read, but the task not resumed yet); let it end on its own
                self.finishing.add(running)
                running.add_done_callback(self.finishing.discard)
            else:
                # the bridge has moved on (it gave up waiting for the old step): so do we
                log.warning(
                    "coordinator: tick %d arrived while tick %d was still running; abandoning tick %d",
                    message.tick,
                    self.task_tick,
                    self.task_tick,
                )
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
                self.abandoned += 1
        self.task_tick = message.tick
        self.task = asyncio.create_task(self._rounds(message.tick), name=f"admm-rounds-{message.tick}")

    async def on_message(self, message: Message) -> None:
        if isinstance(message, ForecastMessage):
            values = message.body.values
            self.quarantine = {
                message.tick: {
                    k.removeprefix(QUARANTINE_PREFIX): np.asarray(v, dtype=float)
                    for k, v in values.items()
                    if k.startswith(QUARANTINE_PREFIX)
                }
            }
            if self.refresh:
                self.couplings = {message.tick: coupling_from_series(self.agents, values)}
                self.coupling_arrived.set()
        elif isinstance(message, AdmmXMessage) and message.tick == self.round_key[0]:
            if (message.iteration or 0) > self.round_key[1]:
                return
            if message.sender not in self.known:
                self.rejected["unknown sender"] += 1
                return
            iteration = message.iteration or 0
            self._take(update_from_body(message.sender, message.tick, iteration, message.body))
        elif isinstance(message, AdmmXBatchMessage) and message.tick == self.round_key[0]:
            self.received["batches"] += 1
            carried = self.carried.get(message.sender, frozenset())
            tick, iteration = message.tick, message.iteration or 0
            for entry in message.body.entries():
                if entry.agent in carried:
                    self._take(LocalUpdate(entry.agent, tick, iteration, entry.p_net_kw, entry.local_cost,
                                           entry.solve_time_s, entry.solver_iterations, entry.solver_status))
                else:
                    self.rejected["not carried"] += 1

    def _take(self, update: LocalUpdate) -> None:
        """One known agent's update to round `update.iteration` of the current step."""
        sender, tick, iteration = update.agent, update.tick, update.iteration
        if iteration > self.round_key[1]:
            return
        if iteration == self.round_key[1] and sender in self.answered:
            self.rejected["duplicate"] += 1
            return
        self.received["updates"] += 1
        trusted = self.quarantine.get(tick, {}).get(sender)
        if trusted is not None and trusted.shape == update.p_net_kw.shape:
            update = dataclasses.replace(update, p_net_kw=trusted)  # quarantined: not its report
        self.solve_time_s += update.solve_time_s
        if iteration < self.round_key[1]:
            # a straggler's answer to an earlier round: used in this round (as a stale value)
            # unless the agent's answer to this round comes in too
            held = self.updates.get(sender)
            if held is None or held.iteration < iteration:
                self.updates[sender] = update
            return
        self.updates[sender] = update
        self.answered.add(sender)
        self.missed[sender] = 0
        # the agents the round waits for are fixed when it starts (an agent muted then that
        # answers now is no longer muted, and has answered): O(1) per update, where testing
        # every agent on every update cost O(N²) a round (~10⁸ set operations at N = 10,000)
        if self.waiting_for != self.round_key:  # a round not started by `_rounds` (tests)
            self.waiting, self.waiting_for = self._active() - self.answered, self.round_key
        else:
            self.waiting.discard(sender)
        if not self.waiting:
            self.round_done.set()

    def _active(self) -> set[str]:
        """The agents a round waits for: all but the muted ones."""
        return {a for a in self.agents if self.missed.get(a, 0) < self.mute_after_rounds}

    async def _coupling(self, tick: int) -> Coupling | None:
        """This step's coupling map (None: keep the last one if it does not come in time)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.round_timeout_s):
                while tick not in self.couplings:
                    self.coupling_arrived.clear()
                    await self.coupling_arrived.wait()
        if tick not in self.couplings:
            log.warning("coordinator: no coupling map for tick %d; keeping the last one", tick)
        return self.couplings.get(tick)

    async def _rounds(self, tick: int) -> None:
        started = time.perf_counter()
        coupling = await self._coupling(tick) if self.refresh else None
        if coupling is not None and coupling.n_rows != self.coordinator.coupling.n_rows:
            self.coordinator = Coordinator(coupling, self.settings)  # the first map with all rows
        c = self.coordinator
        c.start_step(tick, coupling)
        self.solve_time_s = 0.0
        broadcast = c.initial_broadcast()
        while c.out_of_time() is None:
            self.updates, self.round_key, self.answered = {}, (tick, broadcast.iteration), set()
            self.waiting, self.waiting_for = self._active(), self.round_key
            self.round_done.clear()
            z = self.ctx.messages.admm_z(tick, broadcast.iteration, broadcast_to_body(broadcast))
            # QoS 0, queued: no PUBACK from the broker in front of the round's updates; a lost
            # broadcast costs its round the timeout (the agents' last values stand in)
            await self.ctx.publish(z, wait_for_ack=False, qos=0)
            with contextlib.suppress(TimeoutError):  # stragglers: their last values are reused
                await asyncio.wait_for(self.round_done.wait(), self.round_timeout_s)
            active = self._active()
            for agent in self.agents:
                if agent not in self.answered:
                    self.missed[agent] = self.missed.get(agent, 0) + 1
                    if self.missed[agent] == self.mute_after_rounds:
                        log.warning("coordinator: %s missed %d rounds; muted", agent, self.mute_after_rounds)
            broadcast = c.coordinate(list(self.updates.values()), expected=len(active))
            if c.is_converged():
                break
        decision = c.decision()
        await self.ctx.publish(
            self.ctx.messages.admm_z(tick, decision.iterations, decision_to_body(decision, c.history))
        )
        stats = AdmmStatsBody(
            iterations=decision.iterations,
            converged=decision.converged,
            fallback=None if decision.fallback is None else decision.fallback.value,
            objective=float(c.objective()),
            max_violation_kw=float(c.max_violation_kw()),
            p_planned_step0_kw=float(np.sum(c.p_kw[:, 0])),
            rounds_wall_ms=(time.perf_counter() - started) * 1e3,
            sum_solve_time_ms=self.solve_time_s * 1e3,
        )
        await self.ctx.publish(self.ctx.messages.admm_stats(tick, stats))
        # the coordinator's answer to the tick: the bridge has its statistics (sent first, on the same
        # connection) and the building agents their decision; from here on, the next tick may
        # arrive before this task has taken the broker's PUBACK (`on_tick`)
        self.answered_tick = tick
        await self.ctx.publish(self.ctx.messages.setpoint(tick, {}))
