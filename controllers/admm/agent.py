"""ADMM agent: one building or storage unit, its local QP built once and re-solved with OSQP.

Local update of sharing ADMM (Boyd et al. 2011, §7.3) with the coupling column a_i:

    x_i⁺ = argmin f_i(x_i) + (ρ/2) Σ_k ‖a_i (x_i,k − x_i,k^old) + x̄_k − z̄_k + u_k‖²
         = argmin f_i(x_i) + (ρ‖a_i‖²/2) ‖x_i − c‖²,   c_k = x_i,k^old − a_iᵀ(x̄_k − z̄_k + u_k) / ‖a_i‖²

so each round changes only q (and P's p_net diagonal when ρ changes, which refactorises OSQP).

Cold start (`own_optimum_start`, default on): round 0 of an agent's first control step solves its
problem without the proximal term, so x⁰ is the agent's own optimum (any x⁰ is a valid ADMM start).
From x⁰ = 0 the agents would spend their first rounds crawling towards that optimum in steps
limited by ρ; the cold step's rounds then grow with N (the farthest agent sets the pace).
After the coordinator's verdict, a converged step's final plan is the agreed round solved once
more with OSQP's polishing (`OsqpSettings.polish_final`): near-LP local problems (small ρ) are
otherwise solved to their residual tolerance but not to their objective.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import osqp
import piqp
import scipy.sparse as sp

from controllers.admm import alm_qp
from controllers.admm.base import AgentBase
from controllers.admm.data import AgentData, FloatArray
from controllers.admm.local_qp import QpLayout, QpMatrices, build_local_qp, diagonal_csc, shift_blocks
from controllers.admm.messages import AgentPlan, CoordinatorBroadcast, Fallback, LocalUpdate, StepDecision

SOLVED_STATUSES = ("solved", "solved inaccurate")
# the Newton solver stops at this fraction of the eps settings: its last steps converge quadratically,
# so the extra digits cost ~0.1 Newton step a solve, and its decisions stay as close to the optimum
# as OSQP's (whose iterates are usually more accurate than its stopping test says)
ALM_EPS_FACTOR = 0.01


@dataclass(frozen=True)
class OsqpSettings:
    """Settings of the local OSQP solver (its own internal ρ is unrelated to the ADMM ρ).

    `solver`: "alm" (default) solves the warm-started rounds with the semismooth Newton augmented
    Lagrangian of `controllers.admm.alm_qp` (numba; OSQP takes over a problem it does not solve, so
    failures are OSQP's), "osqp" with OSQP alone. The eps settings mean the same for both;
    OSQP-only settings (rho, adaptive_rho…, check_termination) apply to OSQP's solves.
    `first_solve_interior`: an agent's first solve, which has no warm start, goes to PIQP (see
    `LocalQp.solve`); `polish_final`: a converged step's plan is re-solved with OSQP's polishing
    (with "alm": to `polish_eps` instead, where the Newton method is exact on its active set).
    Inexact early rounds: round k of a control step is solved to max(eps, eps_round0 · decay^k)
    (absolute and relative), summable errors as inexact ADMM's convergence asks; from round 9 on
    (defaults) it is `eps_abs` / `eps_rel`. `eps_round0 = 0` solves every round to `eps_abs`.
    """

    eps_abs: float = 5e-5
    eps_rel: float = 5e-5
    max_iter: int = 20000
    polishing: bool = False
    rho: float = 0.02  # OSQP's own step size (its default 0.1 adapts down to 0.003–0.08 here)
    adaptive_rho: bool = True
    adaptive_rho_interval: int = 25  # OSQP's default 50
    check_termination: int = 5
    polish_final: bool = True
    first_solve_interior: bool = True
    eps_round0: float = 1e-3
    eps_decay_per_round: float = 0.7
    solver: str = "alm"
    polish_eps: float = 1e-7
    alm_max_newton: int = 200

    def __post_init__(self) -> None:
        if self.solver not in ("alm", "osqp"):
            raise ValueError(f"OsqpSettings.solver must be 'alm' or 'osqp', not {self.solver!r}")

    @property
    def final_eps(self) -> tuple[float, float]:
        """(eps_abs, eps_rel) of the late rounds, the final plan and a solve without ADMM."""
        return self.eps_abs, self.eps_rel

    def round_eps(self, iteration: int) -> tuple[float, float]:
        """(eps_abs, eps_rel) for ADMM round `iteration` of a control step."""
        loose = self.eps_round0 * self.eps_decay_per_round**iteration
        return max(self.eps_abs, loose), max(self.eps_rel, loose)

    def as_kwargs(self) -> dict[str, float | int | bool]:
        return {
            "eps_abs": self.eps_abs,
            "eps_rel": self.eps_rel,
            "max_iter": self.max_iter,
            "polishing": self.polishing,
            "rho": self.rho,
            "adaptive_rho": self.adaptive_rho,
            "adaptive_rho_interval": self.adaptive_rho_interval,
            "check_termination": self.check_termination,
            "warm_starting": True,
            "verbose": False,
        }


@dataclass(frozen=True)
class LocalSolution:
    """One solve of the local QP: x (all variables), duals y, its true local cost and statistics."""

    x: FloatArray
    y: FloatArray
    local_cost: float
    status: str
    iterations: int
    solve_time_s: float


class SolverFailure(RuntimeError):
    """The local QP could not be solved (infeasible data or numerical trouble)."""


class _AlmState:
    """The Newton solver's data of one agent: A's values in CSR order, the shared symbolic
    factorisation of its layout, the warm start (x, y, Σ) and the last Cholesky factor."""

    def __init__(self, qp: QpMatrices) -> None:
        alm_qp.warm_up()
        self.pattern = alm_qp.cholesky_pattern(qp.layout, qp.a)
        n, m = qp.layout.n_var, qp.layout.n_row
        self.factor = np.zeros(self.pattern.li.shape[0])
        self.factor_active = np.zeros(m, dtype=np.int64)
        self.factor_p = np.zeros(n)
        self.factor_sigma = np.zeros(m)
        self.factor_valid = np.zeros(1, dtype=np.int64)
        self.a_csr = np.zeros(self.pattern.csr_indices.shape[0])
        self.set_matrix(qp)
        self.x = np.zeros(n)
        self.y = np.zeros(m)
        self.sigma = self.initial_sigma()
        self.last_outer = 0
        self._factor_arrays = self.pattern.factor_arrays()

    def set_matrix(self, qp: QpMatrices) -> None:
        self.a_csr[:] = qp.a.data[self.pattern.csc_to_csr]  # in place: a batch may hold a view of it
        self.a_row_norm2 = np.bincount(
            self.pattern.csr_rows, weights=self.a_csr**2, minlength=qp.layout.n_row
        )
        self.factor_valid[0] = 0

    def initial_sigma(self) -> FloatArray:
        return np.asarray(alm_qp.SIGMA_INIT / np.maximum(self.a_row_norm2, 1e-12), dtype=float)

    def solve(
        self, qp: QpMatrices, p_diag: FloatArray, q: FloatArray, eps: tuple[float, float], max_newton: int
    ) -> int | None:
        """Solve in place from the warm start (self.x, self.y); the Newton steps, or None if not
        solved (x, y and Σ are then reset: to `restart` by the caller)."""
        pat = self.pattern
        status, steps, self.last_outer = alm_qp.alm_solve(
            p_diag,
            q,
            pat.csr_indptr,
            pat.csr_indices,
            self.a_csr,
            qp.l,
            qp.u,
            self.x,
            self.y,
            self.sigma,
            self.factor,
            self.factor_active,
            self.factor_p,
            self.factor_sigma,
            self.factor_valid,
            *self._factor_arrays,
            eps[0] * ALM_EPS_FACTOR,
            eps[1] * ALM_EPS_FACTOR,
            max_newton,
        )
        if status != alm_qp.SOLVED:  # (NaN residuals never pass its test: SOLVED implies finite)
            self.failed()
            return None
        return int(steps)

    def failed(self) -> None:
        self.sigma[:] = self.initial_sigma()
        self.factor_valid[0] = 0

    def restart(self, x: FloatArray, y: FloatArray) -> None:
        """A new warm start, written in place (`controllers.admm.batched` may hold views)."""
        self.x[:] = x
        self.y[:] = y


class LocalQp:
    """One agent's QP, set up once; data, proximal term and warm start are updated.

    With `settings.solver == "alm"` the warm-started solves go to `controllers.admm.alm_qp`; OSQP
    is set up only when that solver gives up on a problem (and then decides, as without it)."""

    def __init__(self, agent: AgentData, settings: OsqpSettings | None = None) -> None:
        self.settings = settings or OsqpSettings()
        self.qp = build_local_qp(agent)
        self._prox_weight = 0.0
        self._prox_center = np.zeros(agent.horizon)
        self._p_cache: FloatArray | None = None  # P's diagonal with the proximal weight (read-only)
        self._osqp: Any = None
        self._alm = _AlmState(self.qp) if self.settings.solver == "alm" else None
        self._eps = (self.settings.eps_abs, self.settings.eps_rel)
        self.last: LocalSolution | None = None
        self.fallbacks = 0  # solves the Newton solver handed to OSQP
        if self._alm is None:
            self._osqp_solver()

    def _osqp_solver(self) -> Any:
        """OSQP with the current data (set up on first use with the "alm" solver)."""
        if self._osqp is None:
            solver = osqp.OSQP()
            kwargs = self.settings.as_kwargs() | {"eps_abs": self._eps[0], "eps_rel": self._eps[1]}
            solver.setup(diagonal_csc(self._p_diag()), self._q(), self.qp.a, self.qp.l, self.qp.u, **kwargs)
            if self.last is not None:
                solver.warm_start(x=self.last.x, y=self.last.y)
            self._osqp = solver
        return self._osqp

    def set_data(self, agent: AgentData) -> None:
        """New forecasts and initial state: update q, l, u and A's values (same sparsity)."""
        new = build_local_qp(agent)
        if new.layout != self.qp.layout:
            raise ValueError(f"agent {agent.name}: the problem structure changed; build a new agent")
        old_a = self.qp.a
        same_pattern = (new.a.indptr is old_a.indptr and new.a.indices is old_a.indices) or (
            np.array_equal(new.a.indptr, old_a.indptr) and np.array_equal(new.a.indices, old_a.indices)
        )  # (the same layout's template shares its index arrays)
        if not same_pattern:
            raise ValueError(f"agent {agent.name}: constraint sparsity changed")
        p_changed = self._osqp is not None and not np.array_equal(new.p_diag, self.qp.p_diag)
        self.qp = new
        self._p_cache = None
        if self._alm is not None:
            self._alm.set_matrix(new)
        if self._osqp is not None:
            kwargs: dict[str, FloatArray] = {"q": self._q(), "l": new.l, "u": new.u, "Ax": new.a.data}
            if p_changed:
                kwargs["Px"] = self._p_diag()
            self._osqp.update(**kwargs)

    def set_tolerance(self, eps: tuple[float, float]) -> None:
        """The (eps_abs, eps_rel) of the next solves (a setting: nothing is refactorised)."""
        if eps != self._eps:
            if self._osqp is not None:
                self._osqp.update_settings(eps_abs=eps[0], eps_rel=eps[1])
            self._eps = eps

    def set_prox(self, weight: float, center: FloatArray) -> None:
        """Add (weight/2)‖p_net − center‖² to the objective (weight ≥ 0)."""
        weight_changed = weight != self._prox_weight
        self._prox_weight = weight
        self._prox_center = center
        if weight_changed:
            self._p_cache = None
        if self._osqp is not None:
            if weight_changed:
                self._osqp.update(Px=self._p_diag())
            self._osqp.update(q=self._q())

    def _p_diag(self) -> FloatArray:
        """P's diagonal with the proximal weight (kept until the weight or the data change: callers
        must not modify it)."""
        if self._p_cache is None:
            self._p_cache = self.qp.p_diag + self._prox_weight * self.qp.p_net_mask()
        return self._p_cache

    def _q(self) -> FloatArray:
        q = self.qp.q.copy()
        q[self.qp.layout.var("p_net")] -= self._prox_weight * self._prox_center
        return q

    def _warm_start(self, x: FloatArray, y: FloatArray) -> None:
        if self._alm is not None:
            self._alm.restart(x, y)
        if self._osqp is not None:
            self._osqp.warm_start(x=x, y=y)

    def warm_start_shifted(self) -> None:
        """Warm start from the last solution shifted by one step (for the next control step)."""
        if self.last is not None:
            t = self.qp.layout.horizon
            self._warm_start(shift_blocks(self.last.x, t), shift_blocks(self.last.y, t))
            if self._alm is not None:
                self._alm.sigma[:] = self._alm.initial_sigma()

    def solve(self, polish: bool = False) -> LocalSolution:
        """Solve from the current warm start; if OSQP fails, retry once from a cold start.

        `polish`: this solve also polishes (OSQP's active-set refinement; the Newton solver solves to
        `polish_eps`), for an accurate final plan. The first solve (no warm start yet) goes to PIQP
        when `first_solve_interior` is set.
        """
        if self.last is None and self.settings.first_solve_interior:
            interior = self._solve_interior()
            if interior is not None:
                return interior
        if self._alm is not None:
            start = time.perf_counter()
            eps = (self.settings.polish_eps,) * 2 if polish else self._eps
            steps = self._alm.solve(self.qp, self._p_diag(), self._q(), eps, self.settings.alm_max_newton)
            if steps is not None:
                return self.newton_solved(steps, time.perf_counter() - start)
            return self.newton_failed(polish)
        return self._solve_osqp(polish)

    @property
    def newton_ready(self) -> bool:
        """The next solve is a warm-started Newton solve (what `controllers.admm.batched` takes)."""
        return self._alm is not None and self.last is not None

    def newton_solved(self, steps: int, elapsed_s: float) -> LocalSolution:
        """Record the Newton solver's solution (in its state's x, y) as this solve's."""
        if self._alm is None:
            raise RuntimeError("no Newton solver")
        x, y = self._alm.x.copy(), self._alm.y.copy()
        self.last = LocalSolution(x, y, self.qp.objective(x), "solved", steps, elapsed_s)
        return self.last

    def newton_failed(self, polish: bool = False) -> LocalSolution:
        """The Newton solver gave up: back to the last warm start, and OSQP decides."""
        if self._alm is None:
            raise RuntimeError("no Newton solver")
        self._alm.failed()
        if self.last is not None:
            self._alm.restart(self.last.x, self.last.y)
        else:
            self._alm.restart(np.zeros(self.qp.layout.n_var), np.zeros(self.qp.layout.n_row))
        self.fallbacks += 1
        return self._solve_osqp(polish)

    def _solve_osqp(self, polish: bool) -> LocalSolution:
        solver = self._osqp_solver()
        start = time.perf_counter()
        if polish and not self.settings.polishing:
            solver.update_settings(polishing=True)
            try:
                res = solver.solve(raise_error=False)
            finally:
                solver.update_settings(polishing=False)
        else:
            res = solver.solve(raise_error=False)
        if not _solved(res):
            solver.warm_start(x=np.zeros(self.qp.layout.n_var), y=np.zeros(self.qp.layout.n_row))
            res = solver.solve(raise_error=False)
        elapsed = time.perf_counter() - start
        if not _solved(res):
            raise SolverFailure(f"OSQP status {res.info.status!r}")
        x = np.asarray(res.x, dtype=float)
        y = np.asarray(res.y, dtype=float)
        status = str(res.info.status)
        self.last = LocalSolution(x, y, self.qp.objective(x), status, int(res.info.iter), elapsed)
        if self._alm is not None:
            self._alm.restart(x, y)
        return self.last

    def _solve_interior(self) -> LocalSolution | None:
        """The current problem (proximal term included) solved by PIQP, a proximal interior-point
        method; OSQP is then warm started from its primal and dual solution. None if PIQP fails
        (the caller falls back to OSQP).

        OSQP from zeros needs ~750 iterations (~10 ms) on these near-LP problems, PIQP ~2 ms
        including its setup, to a tighter tolerance; the later rounds stay in OSQP, warm started.
        """
        start = time.perf_counter()
        qp = self.qp
        split = _interior_split(qp)
        solver = piqp.SparseSolver()
        solver.settings.verbose = False
        solver.setup(*split.problem(qp, self._p_diag(), self._q()))
        status = solver.solve()
        elapsed = time.perf_counter() - start
        res = solver.result
        x = np.asarray(res.x, dtype=float)
        if status != piqp.PIQP_SOLVED or not np.all(np.isfinite(x)):
            return None
        y = split.osqp_duals(res)
        self._warm_start(x, y)
        self.last = LocalSolution(x, y, qp.objective(x), "solved", int(res.info.iter), elapsed)
        return self.last


@dataclass(frozen=True)
class _InteriorSplit:
    """PIQP's view of a layout's A: the general rows (the bound rows become PIQP's box), split into
    equalities (`eq_rows`) and inequalities (`ineq_rows`), with the positions of their values in A's
    data (`gather_eq`, `gather_ineq`).

    The matrices and box arrays handed to PIQP are kept here and refilled for each agent of the
    split (scipy's checks in building three CSC matrices cost about as much as PIQP's setup of a
    storage agent): PIQP copies its data in `setup`, and a process's agents solve one at a time."""

    n_rows: int
    bounded: np.ndarray
    eq_rows: np.ndarray
    ineq_rows: np.ndarray
    gather_eq: np.ndarray
    gather_ineq: np.ndarray
    p: sp.csc_matrix
    a_eq: sp.csc_matrix
    a_ineq: sp.csc_matrix
    x_lb: FloatArray
    x_ub: FloatArray

    def problem(self, qp: QpMatrices, p_diag: FloatArray, q: FloatArray) -> tuple[Any, ...]:
        """PIQP's setup arguments (P, c, A, b, G, h_l, h_u, x_l, x_u) for `qp` with P's diagonal
        `p_diag` and the linear term `q` (the arrays are this split's, refilled)."""
        self.p.data[:] = p_diag
        np.take(qp.a.data, self.gather_eq, out=self.a_eq.data)
        np.take(qp.a.data, self.gather_ineq, out=self.a_ineq.data)
        self.x_lb[self.bounded] = qp.l[self.n_rows :]
        self.x_ub[self.bounded] = qp.u[self.n_rows :]
        b = qp.u.take(self.eq_rows)
        h_l, h_u = qp.l.take(self.ineq_rows), qp.u.take(self.ineq_rows)
        return self.p, q, self.a_eq, b, self.a_ineq, h_l, h_u, self.x_lb, self.x_ub

    def osqp_duals(self, res: Any) -> FloatArray:
        """OSQP's y from PIQP's result: + where the upper bound holds, − at the lower."""
        y = np.empty(self.n_rows + self.bounded.shape[0])
        y[self.eq_rows] = res.y
        y[self.ineq_rows] = np.asarray(res.z_u) - np.asarray(res.z_l)
        y[self.n_rows :] = (np.asarray(res.z_bu) - np.asarray(res.z_bl))[self.bounded]
        return y


_SPLITS: dict[tuple[QpLayout, bytes], _InteriorSplit] = {}


def _interior_split(qp: QpMatrices) -> _InteriorSplit:
    n_rows = qp.layout.n_row - qp.layout.n_bounded
    lo, hi = qp.l[:n_rows], qp.u[:n_rows]
    equal = np.isfinite(lo) & (lo == hi)
    key = (qp.layout, equal.tobytes())
    found = _SPLITS.get(key)
    if found is None:
        positions = sp.csc_matrix(
            (np.arange(1, qp.a.nnz + 1, dtype=float), qp.a.indices, qp.a.indptr), shape=qp.a.shape
        ).tocsr()[:n_rows]
        parts = []
        for rows in (equal, ~equal):
            part = sp.csc_matrix(positions[rows])
            gather = part.data.astype(np.int64) - 1
            matrix = sp.csc_matrix(
                (np.zeros(gather.shape[0]), part.indices.copy(), part.indptr.copy()), shape=part.shape
            )
            parts.append((gather, matrix))
        n = qp.layout.n_var
        found = _SPLITS[key] = _InteriorSplit(
            n_rows,
            qp.layout.bounded_indices(),
            np.flatnonzero(equal),
            np.flatnonzero(~equal),
            parts[0][0],
            parts[1][0],
            diagonal_csc(np.zeros(n)),
            parts[0][1],
            parts[1][1],
            np.full(n, -np.inf),
            np.full(n, np.inf),
        )
    return found


def _solved(res: Any) -> bool:
    return str(res.info.status) in SOLVED_STATUSES and res.x is not None and bool(np.all(np.isfinite(res.x)))


@dataclass
class _StepState:
    tick: int = -1
    cold: bool = True  # no previous control step to warm start from
    p_last_kw: FloatArray = field(default_factory=lambda: np.zeros(0))
    previous_plan: AgentPlan | None = None


class AdmmAgent(AgentBase):
    """A building or storage agent of sharing ADMM (see module docstring).

    `coupling` is the agent's column a_i of the coupling map (row 0 = transformer, = 1);
    `own_optimum_start=False` starts the first step's round 0 from x⁰ = 0 with the proximal term.
    """

    def __init__(
        self,
        data: AgentData,
        coupling: FloatArray | None = None,
        settings: OsqpSettings | None = None,
        own_optimum_start: bool = True,
    ) -> None:
        self.name = data.name
        self.own_optimum_start = own_optimum_start
        self.data = data
        self.coupling = np.ones(1) if coupling is None else np.asarray(coupling, dtype=float)
        self.a_norm2 = float(self.coupling @ self.coupling)
        if self.a_norm2 <= 0:
            raise ValueError(f"agent {data.name}: coupling column must not be zero")
        self.local = LocalQp(data, settings)
        self._state = _StepState(p_last_kw=np.zeros(data.horizon))

    def start_step(
        self, tick: int, data: AgentData | None = None, coupling: FloatArray | None = None
    ) -> None:
        """Begin control step `tick` with new data; warm start from the previous step shifted."""
        if coupling is not None:
            self.coupling = np.asarray(coupling, dtype=float)
            self.a_norm2 = float(self.coupling @ self.coupling)
        if data is not None and data is not self.data:  # the data it was built with: nothing to update
            self.data = data
            self.local.set_data(data)
        self._state.cold = self._state.tick < 0
        if not self._state.cold:
            self.local.warm_start_shifted()
            self._state.p_last_kw = shift_blocks(self._state.p_last_kw, self.data.horizon)
        self._state.tick = tick

    def local_update(self, broadcast: CoordinatorBroadcast) -> LocalUpdate:
        """Solve the local problem with the proximal term of this round."""
        self.prepare_round(broadcast)
        return self.round_update(broadcast, self.local.solve())

    def prepare_round(self, broadcast: CoordinatorBroadcast) -> None:
        """Set this round's proximal term and tolerance (the part of `local_update` before the solve;
        `controllers.admm.batched` solves many agents' rounds at once between the two)."""
        signal = _signal(broadcast)  # (m, T)
        center = self._state.p_last_kw - (self.coupling @ signal) / self.a_norm2
        self.local.set_tolerance(self.local.settings.round_eps(broadcast.iteration))
        if broadcast.iteration == 0 and self._state.cold and self.own_optimum_start:
            self.local.set_prox(0.0, center)  # x⁰ = the agent's own optimum (see module docstring)
        else:
            self.local.set_prox(broadcast.rho * self.a_norm2, center)

    def round_update(self, broadcast: CoordinatorBroadcast, sol: LocalSolution) -> LocalUpdate:
        """The update of this round from its solution (the part of `local_update` after the solve)."""
        p = sol.x[self.local.qp.layout.var("p_net")].copy()
        self._state.p_last_kw = p
        return LocalUpdate(
            self.name,
            broadcast.tick,
            broadcast.iteration,
            p,
            sol.local_cost,
            sol.solve_time_s,
            sol.iterations,
            sol.status,
        )

    def solve_alone(self) -> AgentPlan:
        """The agent's own optimum without coordination (no ADMM term)."""
        self.local.set_prox(0.0, np.zeros(self.data.horizon))
        self.local.set_tolerance(self.local.settings.final_eps)
        sol = self.local.solve()
        return self._plan(sol.x, sol.local_cost, "local_only")

    def finalize_step(self, decision: StepDecision) -> AgentPlan:
        """The plan to apply: the last ADMM iterate, or the recorded fallback."""
        last = self.local.last
        if last is None:
            raise RuntimeError(f"agent {self.name}: finalize_step before any local update")
        if decision.fallback is None and self.local.settings.polish_final:
            # the agreed round once more with OSQP's polishing; if that fails, the iterate stays
            self.local.set_tolerance(self.local.settings.final_eps)
            with contextlib.suppress(SolverFailure):
                last = self.local.solve(polish=True)
        previous = self._state.previous_plan
        if decision.fallback is Fallback.SHIFTED_PREVIOUS and previous is not None:
            plan = _shift_plan(previous, decision.tick)
        else:
            source = "admm" if decision.fallback is None else Fallback.LAST_ITERATE.value
            plan = self._plan(last.x, last.local_cost, source)
        self._state.previous_plan = plan
        return plan

    def _plan(self, x: FloatArray, cost: float, source: str) -> AgentPlan:
        lay = self.local.qp.layout

        def get(name: str) -> FloatArray | None:
            return x[lay.var(name)].copy() if name in lay.variables else None

        p_ch, p_dis = get("p_ch"), get("p_dis")
        p_bat = None if p_ch is None or p_dis is None else p_ch - p_dis
        simultaneous = 0.0 if p_ch is None or p_dis is None else float(np.max(np.minimum(p_ch, p_dis)))
        p_net = get("p_net")
        if p_net is None:
            raise RuntimeError("layout without p_net")
        q_tch, q_tdis = get("q_tch"), get("q_tdis")
        q_tank = None if q_tch is None or q_tdis is None else q_tch - q_tdis
        return AgentPlan(
            self.name,
            self._state.tick,
            source,
            p_net,
            get("p_hp"),
            get("t_in"),
            get("t_mass"),
            p_bat,
            get("e"),
            max(simultaneous, 0.0),
            cost,
            q_tank,
        )


_last_signal: list[tuple[CoordinatorBroadcast, FloatArray]] = []


def _signal(broadcast: CoordinatorBroadcast) -> FloatArray:
    """x̄ − z̄ + u of a broadcast, computed once for the agents of a process that get the same
    broadcast object (a host's agents, the in-process runner's)."""
    if _last_signal and _last_signal[0][0] is broadcast:
        return _last_signal[0][1]
    signal = broadcast.x_mean - broadcast.z_mean + broadcast.u_scaled
    _last_signal[:] = [(broadcast, signal)]
    return signal


def _shift_plan(plan: AgentPlan, tick: int) -> AgentPlan:
    def sh(v: FloatArray | None) -> FloatArray | None:
        return None if v is None else shift_blocks(v, v.shape[0])

    p_net = sh(plan.p_net_kw)
    if p_net is None:
        raise RuntimeError("plan without p_net")
    return AgentPlan(
        plan.agent,
        tick,
        Fallback.SHIFTED_PREVIOUS.value,
        p_net,
        sh(plan.p_hp_kw),
        sh(plan.t_in_c),
        sh(plan.t_mass_c),
        sh(plan.p_bat_kw),
        sh(plan.e_kwh),
        plan.simultaneous_kw,
        plan.local_cost,
        sh(plan.q_tank_kw),
    )
