"""Asynchronous sharing ADMM with a partial barrier and bounded delay (optional variant).

Following Chang et al. (2016), "Asynchronous distributed ADMM for large-scale optimization", the
coordinator does not wait for every agent. It runs a round as soon as at least
S = ⌈min_fraction · N⌉ agents have delivered an update since the last round, and no agent's
newest value is older than `max_delay_rounds` rounds (an agent that old is waited for). Agents
that are still busy keep computing on the broadcast they started from. Their result is used in a
later round (as a stale value). When a busy agent finishes, it starts at once on the newest broadcast.

This module simulates the schedule in virtual time. Each local solve really runs, but it "takes"
`solve time · slowdown_i + latency_s` of virtual time. With `min_fraction = 1` the schedule is the
synchronous one, so the two can be compared on the same clock. Convergence is declared when the
residuals meet their tolerances in each of the last `max_delay_rounds` rounds, a window in which
every agent has reported at least once.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from controllers.admm.agent import AdmmAgent
from controllers.admm.coordinator import Coordinator
from controllers.admm.data import AgentData, FloatArray
from controllers.admm.messages import CoordinatorBroadcast, LocalUpdate, StepDecision
from controllers.admm.runner import StepResult


@dataclass(frozen=True)
class PartialBarrier:
    """S = ⌈min_fraction · N⌉ arrivals trigger a round; no value may be older than max_delay_rounds."""

    min_fraction: float = 0.8
    max_delay_rounds: int = 3
    latency_s: float = 1e-3

    def __post_init__(self) -> None:
        if not 0 < self.min_fraction <= 1 or self.max_delay_rounds < 1 or self.latency_s < 0:
            raise ValueError("need 0 < min_fraction ≤ 1, max_delay_rounds ≥ 1 and latency_s ≥ 0")


@dataclass
class _Schedule:
    """Virtual-time event queue of the agents' computations."""

    agents: Sequence[AdmmAgent]
    slowdown: FloatArray
    latency_s: float
    base_time_s: float | None
    events: list[tuple[float, int, int, LocalUpdate]]
    computed_on: list[int]
    seq: int = 0

    def start(self, i: int, broadcast: CoordinatorBroadcast, now: float) -> None:
        update = self.agents[i].local_update(broadcast)
        base = update.solve_time_s if self.base_time_s is None else self.base_time_s
        done = now + base * float(self.slowdown[i]) + self.latency_s
        self.computed_on[i] = broadcast.iteration
        self.seq += 1
        heapq.heappush(self.events, (done, self.seq, i, update))


def _barrier_met(
    arrived: dict[int, LocalUpdate], received: np.ndarray, round_index: int, need: int, max_delay: int
) -> bool:
    if len(arrived) < need:
        return False
    newest = received.copy()
    for i, upd in arrived.items():
        newest[i] = max(newest[i], upd.iteration)
    return bool(np.all(round_index - newest < max_delay))


def _window_converged(coordinator: Coordinator, window: int) -> bool:
    """Residuals within tolerance in each of the last `window` rounds and every agent heard from
    in that window (with bounded delay each agent reports at least once per window)."""
    recent = coordinator.history[-window:]
    if len(recent) < window or not all(h.residuals.converged for h in recent):
        return False
    return bool(np.all(coordinator.staleness() < window))


def run_partial_barrier(
    agents: Sequence[AdmmAgent],
    coordinator: Coordinator,
    tick: int,
    slowdown: FloatArray,
    barrier: PartialBarrier | None = None,
    data: Sequence[AgentData] | None = None,
    base_time_s: float | None = None,
) -> StepResult:
    """One control step of asynchronous ADMM; `parallel_time_s` of the result is the virtual time.

    A local solve of agent i takes (measured solve time, or `base_time_s` for a reproducible
    schedule) × slowdown_i + latency of virtual time.
    """
    barrier = barrier or PartialBarrier()
    start_wall = time.perf_counter()
    n = len(agents)
    coordinator.start_step(tick)
    for i, agent in enumerate(agents):
        agent.start_step(tick, None if data is None else data[i])
    need = max(1, math.ceil(barrier.min_fraction * n))
    schedule = _Schedule(
        agents, np.asarray(slowdown, dtype=float), barrier.latency_s, base_time_s, [], [-1] * n
    )
    broadcast = coordinator.initial_broadcast()
    for i in range(n):
        schedule.start(i, broadcast, 0.0)
    clock, converged = 0.0, False
    while coordinator.out_of_time() is None and not converged:
        arrived: dict[int, LocalUpdate] = {}
        idle: list[int] = []
        while not _barrier_met(
            arrived, coordinator.received_iterations(), coordinator.iteration, need, barrier.max_delay_rounds
        ):
            clock, _, i, update = heapq.heappop(schedule.events)
            arrived[i] = update
            if schedule.computed_on[i] < broadcast.iteration:
                schedule.start(i, broadcast, clock)
            else:
                idle.append(i)
        broadcast = coordinator.coordinate(list(arrived.values()))
        for i in idle:
            schedule.start(i, broadcast, clock)
        converged = _window_converged(coordinator, barrier.max_delay_rounds)
    if converged:
        decision = StepDecision(tick, coordinator.iteration, True, None, "converged (partial barrier)")
    else:
        decision = coordinator.decision()
    plans = tuple(agent.finalize_step(decision) for agent in agents)
    p = np.stack([plan.p_net_kw for plan in plans])
    history = tuple(coordinator.history)
    return StepResult(
        decision,
        plans,
        history,
        float(sum(plan.local_cost for plan in plans)) + coordinator.coupling.shared_cost(p),
        float(coordinator.coupling.violation(p)[0].max()),
        time.perf_counter() - start_wall,
        float(sum(h.sum_solve_time_s for h in history)),
        clock,
    )
