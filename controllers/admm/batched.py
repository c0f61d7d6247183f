"""The agents of one host solved together: a round's local QPs of all its agents in one call.

An agent host (a gateway, or the simulation of a district) that runs many `AdmmAgent`s calls
`AgentBatch(agents).local_updates(broadcast)` instead of `agent.local_update(broadcast)` for each
(or `round_updates(broadcast, members)` for some of them): the same updates, in agent order, to
the last bit. For the agents whose round is a warm-started Newton solve (`OsqpSettings.solver ==
"alm"`, the default, after an agent's first solve) the whole round runs on the batch's flat
arrays: the proximal centres of all agents in one matrix product, their P diagonals and q vectors
in a few vector operations, the Newton solves of `controllers.admm.alm_qp` in one compiled loop,
the local costs in another, and the solutions copied once for all of them; what is left per agent
is recording its solution (its `LocalQp.last`, its last net power) and its update. Each agent's
data stay its own problem: its vectors live in its own slices of the flat arrays, its symbolic
factorisation is its layout's.

Everything else is the per-agent path: an agent's first solve (PIQP), an agent with
`solver == "osqp"` or with an OSQP solver set up by an earlier fallback, and a problem the Newton
solver gives up on (OSQP decides; an agent whose OSQP fails too sends nothing, as
`run_control_step` does with a `SolverFailure`). An update's `solve_time_s` is the batch call's
time shared out in proportion to the agents' Newton steps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from controllers.admm import alm_qp
from controllers.admm.agent import (
    ALM_EPS_FACTOR,
    AdmmAgent,
    LocalSolution,
    OsqpSettings,
    SolverFailure,
    _signal,
)
from controllers.admm.alm_qp import CholeskyPattern
from controllers.admm.kernels import segment_quadratics
from controllers.admm.local_qp import QpMatrices
from controllers.admm.messages import CoordinatorBroadcast, LocalUpdate

_PATTERN_ARRAYS = (
    "iperm", "lp", "li", "row_ptr", "row_pos", "row_col", "pair_ptr", "pair_pos", "pair_a", "pair_b",
    "csr_indptr", "csr_indices",
)  # fmt: skip


class AgentBatch:
    """Holds the Newton state of `agents` in flat arrays (each agent's state becomes views of its
    slices, so the per-agent path keeps working on the same numbers)."""

    def __init__(self, agents: Sequence[AdmmAgent]) -> None:
        self.agents = list(agents)
        alm_qp.warm_up()
        states = [a.local._alm for a in self.agents]
        self._members = [i for i, s in enumerate(states) if s is not None]
        n_agents = len(self.agents)
        sizes = np.zeros((n_agents, 4), dtype=np.int64)
        patterns: list[CholeskyPattern] = []
        self._pattern_of = np.zeros(n_agents, dtype=np.int64)
        for i in self._members:
            st = states[i]
            assert st is not None
            sizes[i] = (st.x.shape[0], st.y.shape[0], st.a_csr.shape[0], st.factor.shape[0])
            ids = [id(p) for p in patterns]
            if id(st.pattern) not in ids:
                patterns.append(st.pattern)
            self._pattern_of[i] = [id(p) for p in patterns].index(id(st.pattern))
        self._offsets = np.zeros((n_agents + 1, 4), dtype=np.int64)
        self._offsets[1:] = np.cumsum(sizes, axis=0)
        total = self._offsets[-1]
        n_tot, m_tot, a_tot, f_tot = (int(v) for v in total)
        self._p, self._q = np.zeros(n_tot), np.zeros(n_tot)
        self._lo, self._hi = np.zeros(m_tot), np.zeros(m_tot)
        self._x, self._y, self._sigma = np.zeros(n_tot), np.zeros(m_tot), np.zeros(m_tot)
        self._factor_p, self._factor_sigma = np.zeros(n_tot), np.zeros(m_tot)
        self._a_csr, self._factor = np.zeros(a_tot), np.zeros(f_tot)
        self._factor_active = np.zeros(m_tot, dtype=np.int64)
        self._factor_valid = np.zeros(n_agents, dtype=np.int64)
        for i in self._members:
            st = states[i]
            assert st is not None
            n0, m0, a0, f0 = self._offsets[i]
            n1, m1, a1, f1 = self._offsets[i + 1]
            for name, flat, lo, hi in (
                ("x", self._x, n0, n1),
                ("y", self._y, m0, m1),
                ("sigma", self._sigma, m0, m1),
                ("factor", self._factor, f0, f1),
                ("factor_p", self._factor_p, n0, n1),
                ("factor_sigma", self._factor_sigma, m0, m1),
                ("a_csr", self._a_csr, a0, a1),
                ("factor_active", self._factor_active, m0, m1),
                ("factor_valid", self._factor_valid, i, i + 1),
            ):
                view = flat[lo:hi]
                view[:] = getattr(st, name)
                setattr(st, name, view)
        self._patterns = patterns
        self._pattern_flat, self._pattern_offsets = _pack_patterns(patterns)
        # each agent's QP without the ADMM term (P's diagonal, q, constant), copied in when it changes
        self._qp_seen: list[object] = [None] * n_agents
        self._p_base, self._q_base = np.zeros(n_tot), np.zeros(n_tot)
        self._constant = np.zeros(n_agents)
        # the positions of every member's p_net in the flat x (one row per agent of equal horizon)
        horizons = {self.agents[i].local.qp.layout.horizon for i in self._members}
        self._horizon = horizons.pop() if len(horizons) == 1 else 0
        self._p_net = np.zeros((n_agents, self._horizon), dtype=np.int64)
        if self._horizon:
            for i in self._members:
                span = self.agents[i].local.qp.layout.var("p_net")
                self._p_net[i] = self._offsets[i, 0] + np.arange(span.start, span.stop)
        self._bounds = np.stack([self._offsets[:-1, 0], self._offsets[1:, 0]], axis=1)
        # the agents' distinct solver settings (equal ones: the same entry), and which is each agent's
        self._settings: list[OsqpSettings] = []
        self._settings_of: list[int] = []
        for agent in self.agents:
            if agent.local.settings not in self._settings:
                self._settings.append(agent.local.settings)
            self._settings_of.append(self._settings.index(agent.local.settings))
        # each agent's x and y slices as Python ints (n0, n1, m0, m1)
        self._spans = [
            (int(a[0]), int(b[0]), int(a[1]), int(b[1]))
            for a, b in zip(self._offsets[:-1], self._offsets[1:], strict=True)
        ]

    def vector_ready(self, i: int) -> bool:
        """Agent i's next round is a warm-started Newton solve that `round_updates` takes whole:
        its Newton state is the batch's (a new `LocalQp` would not be) and no OSQP is set up."""
        local = self.agents[i].local
        return (
            bool(self._horizon)
            and local.newton_ready
            and local._osqp is None
            and local._alm is not None
            and local._alm.x.base is self._x
        )

    def local_updates(self, broadcast: CoordinatorBroadcast) -> list[LocalUpdate]:
        """Every agent's update of this round, in agent order; an agent whose solve fails sends
        nothing (as `run_control_step`'s per-agent loop)."""
        ready = [i for i in range(len(self.agents)) if self.vector_ready(i)]
        taken = dict(zip(ready, self.round_updates(broadcast, ready), strict=True))
        updates = []
        for i, agent in enumerate(self.agents):
            if i in taken:
                update = taken[i]
                if update is not None:
                    updates.append(update)
                continue
            try:
                updates.append(agent.local_update(broadcast))
            except SolverFailure:
                continue
        return updates

    def round_updates(
        self, broadcast: CoordinatorBroadcast, members: Sequence[int]
    ) -> list[LocalUpdate | None]:
        """The updates of agents `members` (indices, each `vector_ready`) to `broadcast`, as
        `AdmmAgent.local_update` gives them (None: the agent's solve failed and OSQP's too)."""
        if not members:
            return []
        idx = np.asarray(members, dtype=np.int64)
        agents = [self.agents[i] for i in members]
        locals_ = [a.local for a in agents]
        for i, local in zip(members, locals_, strict=True):
            if local.qp is not self._qp_seen[i]:
                self._take_qp(i, local.qp)
        # the proximal term of every member (AdmmAgent.prepare_round, LocalQp.set_prox)
        signal = _signal(broadcast)
        coupling = np.stack([a.coupling for a in agents])
        a_norm2 = np.array([a.a_norm2 for a in agents])
        p_last = np.stack([a._state.p_last_kw for a in agents])
        centers = p_last - (coupling @ signal) / a_norm2[:, None]
        if broadcast.iteration == 0:
            own_optimum = np.array([a._state.cold and a.own_optimum_start for a in agents], dtype=bool)
            weights = np.where(own_optimum, 0.0, broadcast.rho * a_norm2)
        else:
            weights = broadcast.rho * a_norm2
        p_net = self._p_net[idx]
        self._p[:] = self._p_base
        self._p[p_net] += weights[:, None]
        self._q[:] = self._q_base
        self._q[p_net] -= weights[:, None] * centers
        # the round's tolerances, once per distinct settings (one for a host's agents, usually)
        round_eps = [settings.round_eps(broadcast.iteration) for settings in self._settings]
        eps = [round_eps[self._settings_of[i]] for i in members]
        max_newton = max(self._settings[k].alm_max_newton for k in {self._settings_of[i] for i in members})
        todo = np.zeros(len(self.agents), dtype=np.int64)
        todo[idx] = 1
        eps_abs = np.zeros(len(self.agents))
        eps_rel = np.zeros(len(self.agents))
        eps_abs[idx] = [e[0] * ALM_EPS_FACTOR for e in eps]
        eps_rel[idx] = [e[1] * ALM_EPS_FACTOR for e in eps]
        status = np.zeros(len(self.agents), dtype=np.int64)
        steps = np.zeros(len(self.agents), dtype=np.int64)
        start = time.perf_counter()
        self._solve(todo, eps_abs, eps_rel, max_newton, status, steps)
        elapsed = time.perf_counter() - start
        share = elapsed / float(np.sum((steps + 1) * todo))
        costs = np.zeros(len(members))
        segment_quadratics(self._p_base, self._q_base, self._x, self._bounds[idx], costs)
        costs += self._constant[idx]
        x, y = self._x.copy(), self._y.copy()  # the solutions, one copy for all (LocalQp.last's)
        p_now = x[p_net]
        updates: list[LocalUpdate | None] = []
        tick, iteration = broadcast.tick, broadcast.iteration
        solved = alm_qp.SOLVED
        status_of, steps_of = status.tolist(), steps.tolist()
        for j, (i, agent, local, weight, cost) in enumerate(
            zip(members, agents, locals_, weights.tolist(), costs.tolist(), strict=True)
        ):
            local.set_prox(weight, centers[j])  # (no OSQP to update: `vector_ready`)
            local.set_tolerance(eps[j])
            if status_of[i] != solved:
                try:
                    sol = local.newton_failed()
                except SolverFailure:
                    updates.append(None)
                    continue
                updates.append(agent.round_update(broadcast, sol))
                continue
            n0, n1, m0, m1 = self._spans[i]
            n_steps = steps_of[i]
            solve_time_s = share * (n_steps + 1)
            local.last = LocalSolution(x[n0:n1], y[m0:m1], cost, "solved", n_steps, solve_time_s)
            p = p_now[j]
            agent._state.p_last_kw = p
            updates.append(LocalUpdate(agent.name, tick, iteration, p, cost, solve_time_s, n_steps, "solved"))
        return updates

    def _take_qp(self, i: int, qp: QpMatrices) -> None:
        n0, n1, m0, m1 = self._spans[i]
        self._p_base[n0:n1] = qp.p_diag
        self._q_base[n0:n1] = qp.q
        self._lo[m0:m1] = qp.l
        self._hi[m0:m1] = qp.u
        self._constant[i] = qp.constant
        self._qp_seen[i] = qp

    def _solve(self, todo: np.ndarray, eps_abs: np.ndarray, eps_rel: np.ndarray, max_newton: int,
               status: np.ndarray, steps: np.ndarray) -> None:
        alm_qp.alm_solve_batch(
            todo,
            self._pattern_of,
            self._pattern_offsets,
            *self._pattern_flat,
            self._offsets,
            self._p,
            self._q,
            self._a_csr,
            self._lo,
            self._hi,
            self._x,
            self._y,
            self._sigma,
            self._factor,
            self._factor_active,
            self._factor_p,
            self._factor_sigma,
            self._factor_valid,
            eps_abs,
            eps_rel,
            max_newton,
            status,
            steps,
        )


def _pack_patterns(patterns: list[CholeskyPattern]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The 12 index arrays of every pattern concatenated, and each pattern's start in each."""
    offsets = np.zeros((len(patterns) + 1, len(_PATTERN_ARRAYS)), dtype=np.int64)
    flat = []
    for j, name in enumerate(_PATTERN_ARRAYS):
        arrays = [np.asarray(getattr(p, name), dtype=np.int64) for p in patterns]
        offsets[1:, j] = np.cumsum([a.shape[0] for a in arrays])
        flat.append(np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64))
    return tuple(flat), offsets
