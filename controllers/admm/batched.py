"""The agents of one host solved together: a round's local QPs of all its agents in one call.

An agent host (a gateway, or the simulation of a district) that runs many `AdmmAgent`s calls
`AgentBatch(agents).local_updates(broadcast)` instead of `agent.local_update(broadcast)` for each:
the same updates, in agent order, but the warm-started Newton solves of `controllers.admm.alm_qp`
(`OsqpSettings.solver == "alm"`, the default) run in one compiled loop over the agents, without
Python and numba's call overhead per agent. Each agent's data stay its own problem: its vectors
live in its own slices of the batch's flat arrays, its symbolic factorisation is its layout's.

Everything else is the per-agent path: an agent's first solve (PIQP), an agent with
`solver == "osqp"`, and a problem the Newton solver gives up on (OSQP decides; an agent whose OSQP
fails too sends nothing, as `run_control_step` does with a `SolverFailure`). An update's
`solve_time_s` is the batch call's time shared out in proportion to the agents' Newton steps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from controllers.admm import alm_qp
from controllers.admm.agent import ALM_EPS_FACTOR, AdmmAgent, LocalSolution, SolverFailure
from controllers.admm.alm_qp import CholeskyPattern
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
        self._qp_seen: list[object] = [None] * n_agents

    def local_updates(self, broadcast: CoordinatorBroadcast) -> list[LocalUpdate]:
        """Every agent's update of this round, in agent order; an agent whose solve fails sends
        nothing (as `run_control_step`'s per-agent loop)."""
        solutions: dict[int, LocalSolution] = {}
        for agent in self.agents:
            agent.prepare_round(broadcast)
        todo = np.zeros(len(self.agents), dtype=np.int64)
        eps_abs = np.zeros(len(self.agents))
        eps_rel = np.zeros(len(self.agents))
        for i in self._members:
            local = self.agents[i].local
            if not local.newton_ready:
                continue
            todo[i] = 1
            n0, m0 = self._offsets[i, 0], self._offsets[i, 1]
            n1, m1 = self._offsets[i + 1, 0], self._offsets[i + 1, 1]
            self._p[n0:n1] = local._p_diag()
            self._q[n0:n1] = local._q()
            if self._qp_seen[i] is not local.qp:
                self._lo[m0:m1] = local.qp.l
                self._hi[m0:m1] = local.qp.u
                self._qp_seen[i] = local.qp
            eps_abs[i] = local._eps[0] * ALM_EPS_FACTOR
            eps_rel[i] = local._eps[1] * ALM_EPS_FACTOR
        status = np.zeros(len(self.agents), dtype=np.int64)
        steps = np.zeros(len(self.agents), dtype=np.int64)
        if todo.any():
            start = time.perf_counter()
            max_newton = max(self.agents[i].local.settings.alm_max_newton for i in np.flatnonzero(todo))
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
            elapsed = time.perf_counter() - start
            share = elapsed / float(np.sum((steps + 1) * todo))
            for j in (int(v) for v in np.flatnonzero(todo)):
                local = self.agents[j].local
                try:
                    if status[j] == alm_qp.SOLVED:
                        solutions[j] = local.newton_solved(int(steps[j]), share * float(steps[j] + 1))
                    else:
                        solutions[j] = local.newton_failed()
                except SolverFailure:
                    continue
        updates = []
        for i, agent in enumerate(self.agents):
            if todo[i]:
                if i not in solutions:
                    continue
                sol = solutions[i]
            else:
                try:
                    sol = agent.local.solve()
                except SolverFailure:
                    continue
            updates.append(agent.round_update(broadcast, sol))
        return updates


def _pack_patterns(patterns: list[CholeskyPattern]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The 12 index arrays of every pattern concatenated, and each pattern's start in each."""
    offsets = np.zeros((len(patterns) + 1, len(_PATTERN_ARRAYS)), dtype=np.int64)
    flat = []
    for j, name in enumerate(_PATTERN_ARRAYS):
        arrays = [np.asarray(getattr(p, name), dtype=np.int64) for p in patterns]
        offsets[1:, j] = np.cumsum([a.shape[0] for a in arrays])
        flat.append(np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64))
    return tuple(flat), offsets
