"""In-process transport: runs the ADMM rounds of one control step by calling the hooks directly.

The MQTT runtime does the same with messages; `LateDelivery` imitates stragglers (a message that
misses its round is delivered in the next one, unless a newer update from that agent supersedes it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from controllers.admm.agent import AdmmAgent, OsqpSettings, SolverFailure
from controllers.admm.batched import AgentBatch
from controllers.admm.coordinator import Coordinator
from controllers.admm.coupling import Coupling
from controllers.admm.data import AgentData
from controllers.admm.messages import (
    AgentPlan,
    CoordinatorBroadcast,
    IterationRecord,
    LocalUpdate,
    StepDecision,
)


class LateDelivery:
    """Each update misses its round with probability `p_late` (seeded) and arrives one round later."""

    def __init__(self, p_late: float, seed: int = 0) -> None:
        if not 0 <= p_late < 1:
            raise ValueError("p_late must lie in [0, 1)")
        self.p_late = p_late
        self._rng = np.random.default_rng(seed)
        self._pending: list[LocalUpdate] = []
        self.n_late = 0
        self.n_total = 0

    def deliver(self, updates: Sequence[LocalUpdate]) -> list[LocalUpdate]:
        late = self._rng.random(len(updates)) < self.p_late
        self.n_late += int(late.sum())
        self.n_total += len(updates)
        arrived = self._pending + [u for u, is_late in zip(updates, late, strict=True) if not is_late]
        self._pending = [u for u, is_late in zip(updates, late, strict=True) if is_late]
        return arrived

    def reset(self) -> None:
        self._pending = []


@dataclass(frozen=True)
class StepResult:
    """Outcome of one control step (timings in seconds).

    `parallel_time_s` is the ideal wall time with every agent on its own core: per round the
    slowest local solve plus the coordinator's time.
    """

    decision: StepDecision
    plans: tuple[AgentPlan, ...]
    history: tuple[IterationRecord, ...]
    objective: float
    max_violation_kw: float
    wall_time_s: float
    sum_solve_time_s: float
    parallel_time_s: float

    @property
    def iterations(self) -> int:
        return self.decision.iterations

    def p_net_kw(self) -> np.ndarray:
        return np.stack([p.p_net_kw for p in self.plans])


def run_control_step(
    agents: Sequence[AdmmAgent],
    coordinator: Coordinator,
    tick: int,
    data: Sequence[AgentData] | None = None,
    delivery: LateDelivery | None = None,
    coupling: Coupling | None = None,
    screen: Callable[[Sequence[LocalUpdate]], list[LocalUpdate]] | None = None,
    batched: bool = False,
) -> StepResult:
    """Run the rounds of control step `tick` until convergence, the iteration limit or the deadline.

    With `data` (one per agent, same order) the agents get new forecasts first; with `coupling`
    (same agents and rows, e.g. refreshed voltage sensitivities) the coordinator and the agents
    get the new coupling map; both sides warm start from the previous step shifted by one step.
    `screen` sees every round's updates on their way to the coordinator and passes on what the
    coordinator gets (attacks on the rounds, quarantine: `cosim.control.defence`).
    `batched`: the agents' warm rounds run in one vectorised pass (`controllers.admm.batched`; the
    same updates as one `local_update` per agent, to the last bit).
    """
    start = time.perf_counter()
    if data is not None and len(data) != len(agents):
        raise ValueError("need one AgentData per agent")
    coordinator.start_step(tick, coupling)
    for i, agent in enumerate(agents):
        column = None if coupling is None else coupling.column(agent.name)
        agent.start_step(tick, None if data is None else data[i], column)
    if delivery is not None:
        delivery.reset()
    batch = AgentBatch(agents) if batched else None
    broadcast = coordinator.initial_broadcast()
    while coordinator.out_of_time() is None:
        updates = _local_updates(agents, broadcast) if batch is None else batch.local_updates(broadcast)
        arrived = updates if delivery is None else delivery.deliver(updates)
        if screen is not None:
            arrived = screen(arrived)
        broadcast = coordinator.coordinate(arrived)
        if coordinator.is_converged():
            break
    decision = coordinator.decision()
    plans = tuple(agent.finalize_step(decision) for agent in agents)
    history = tuple(coordinator.history)
    p = np.stack([plan.p_net_kw for plan in plans])
    objective = float(sum(plan.local_cost for plan in plans)) + coordinator.coupling.shared_cost(p)
    return StepResult(
        decision,
        plans,
        history,
        objective,
        float(coordinator.coupling.violation(p)[0].max()),
        time.perf_counter() - start,
        float(sum(h.sum_solve_time_s for h in history)),
        float(sum(h.max_solve_time_s + h.coordinate_time_s for h in history)),
    )


def _local_updates(agents: Sequence[AdmmAgent], broadcast: CoordinatorBroadcast) -> list[LocalUpdate]:
    """Every agent's update; an agent whose solver fails sends nothing (its last value is reused)."""
    updates = []
    for agent in agents:
        try:
            updates.append(agent.local_update(broadcast))
        except SolverFailure:
            continue
    return updates


def build_agents(
    data: Sequence[AgentData],
    coordinator: Coordinator,
    settings: OsqpSettings | None = None,
    own_optimum_start: bool = True,
) -> list[AdmmAgent]:
    """One agent per data item with its coupling column from the coordinator."""
    names = tuple(d.name for d in data)
    if names != coordinator.coupling.agents:
        raise ValueError("agent names must match the coordinator's agent order")
    return [AdmmAgent(d, coordinator.coupling.column(d.name), settings, own_optimum_start) for d in data]
