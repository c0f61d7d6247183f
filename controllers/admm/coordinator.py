"""The coordinator of sharing ADMM (Boyd et al. 2011, §7.3) for the shared grid constraints.

With x̃_i = a_i x_i (the agent's contribution to the m coupling rows) and the scaled dual u:

    x̄⁺ = (1/N) Σ_i a_i x_i⁺
    z̄⁺ = (1/N) prox_{(N/ρ) g}(N (x̄⁺ + u))           (clip to the bands, peak cost by water filling)
    u⁺ = u + x̄⁺ − z̄⁺

Residuals (§3.3.1) of the equivalent problem x̃_i − z_i = 0 with z_i = z̄ + x̃_i − x̄:

    r = √N ‖x̄ − z̄‖,   s = ρ (Σ_i ‖Δx̃_i − Δx̄ + Δz̄‖²)^½
    ε_pri = √(NmT) ε_abs + ε_rel max(‖x̃‖, ‖z‖),   ε_dual = √(NmT) ε_abs + ε_rel ρ √N ‖u‖

ρ is balanced (§3.4.1, on the residuals normalised by their tolerances) only every
`rho_update_every` rounds, because each change makes every agent refactorise; u is rescaled by
ρ_old/ρ_new. Agents whose update did not arrive in a round keep their last value (stragglers);
a round counts as converged only when every agent was fresh.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from controllers.admm.base import CoordinatorBase
from controllers.admm.coupling import Coupling
from controllers.admm.data import FloatArray
from controllers.admm.local_qp import shift_blocks
from controllers.admm.messages import (
    CoordinatorBroadcast,
    Fallback,
    IterationRecord,
    LocalUpdate,
    Residuals,
    StepDecision,
)


@dataclass(frozen=True)
class AdmmSettings:
    """Tolerances, iteration limits, ρ balancing and fallback of the coordinator."""

    rho: float = 0.01  # with the own-optimum start (docs/admm.md "Cold start"; 0.05 until 2026-12-03)
    eps_abs: float = 1e-4
    eps_rel: float = 1e-4
    max_iterations: int = 500
    deadline_s: float | None = None
    rho_update_every: int = 10
    rho_mu: float = 10.0
    rho_tau: float = 2.0
    rho_min: float = 1e-6
    rho_max: float = 1e6
    fallback: Fallback = Fallback.SHIFTED_PREVIOUS

    def __post_init__(self) -> None:
        if self.rho <= 0 or self.eps_abs <= 0 or self.eps_rel < 0:
            raise ValueError("ADMM needs rho > 0, eps_abs > 0 and eps_rel ≥ 0")
        if self.max_iterations < 1 or self.rho_update_every < 1:
            raise ValueError("max_iterations and rho_update_every must be ≥ 1")
        if self.rho_mu <= 1 or self.rho_tau <= 1:
            raise ValueError("rho_mu and rho_tau must exceed 1")


class Coordinator(CoordinatorBase):
    """Holds z̄, u, ρ and the last received x_i of every agent (see module docstring)."""

    def __init__(self, coupling: Coupling, settings: AdmmSettings | None = None) -> None:
        self.settings = settings or AdmmSettings()
        self.coupling = coupling
        n, m, t = len(coupling.agents), coupling.n_rows, coupling.horizon
        self._index = {name: i for i, name in enumerate(coupling.agents)}
        self.rho = self.settings.rho
        self.p_kw = np.zeros((n, t))
        self.local_cost = np.zeros(n)
        self.z_mean = np.zeros((m, t))
        self.u_scaled = np.zeros((m, t))
        self.x_mean = np.zeros((m, t))
        self._received_iteration = np.full(n, -1)
        self._a_norm2 = (coupling.matrix**2).sum(axis=0)
        self.tick = -1
        self.iteration = 0
        self.history: list[IterationRecord] = []
        self._residuals = Residuals(np.inf, np.inf, 0.0, 0.0)
        self._all_fresh = False
        self._started = time.perf_counter()

    @property
    def n_agents(self) -> int:
        return len(self.coupling.agents)

    def start_step(self, tick: int, coupling: Coupling | None = None) -> None:
        """Begin a control step: warm start from the previous one shifted by one horizon step."""
        if coupling is not None:
            if coupling.agents != self.coupling.agents or coupling.n_rows != self.coupling.n_rows:
                raise ValueError("new coupling must keep the agents and the coupling rows")
            self.coupling = coupling
            self._a_norm2 = (coupling.matrix**2).sum(axis=0)
        if self.tick >= 0:
            t = self.coupling.horizon
            self.p_kw = shift_blocks(self.p_kw.reshape(-1), t).reshape(self.p_kw.shape)
            self.z_mean = shift_blocks(self.z_mean.reshape(-1), t).reshape(self.z_mean.shape)
            self.u_scaled = shift_blocks(self.u_scaled.reshape(-1), t).reshape(self.u_scaled.shape)
        self.x_mean = self.coupling.aggregate(self.p_kw) / self.n_agents
        self.tick = tick
        self.iteration = 0
        self.history = []
        self._received_iteration[:] = -1
        self._residuals = Residuals(np.inf, np.inf, 0.0, 0.0)
        self._all_fresh = False
        self._started = time.perf_counter()

    def initial_broadcast(self) -> CoordinatorBroadcast:
        return self._broadcast()

    def _broadcast(self) -> CoordinatorBroadcast:
        return CoordinatorBroadcast(
            self.tick, self.iteration, self.rho, self.x_mean.copy(), self.z_mean.copy(), self.u_scaled.copy()
        )

    def _accept(self, updates: Sequence[LocalUpdate]) -> tuple[int, float, float]:
        """Store the newest value per agent; returns (fresh count, max and sum of solve times).
        An update of another step, of a round not newer than the agent's last, of the wrong length
        or with a value that is not finite is ignored. The values are checked and stored as arrays
        (one test and one copy for all the round's updates)."""
        shape = (self.coupling.horizon,)
        shaped = [upd for upd in updates if upd.p_net_kw.shape == shape]
        if not shaped:
            return 0, 0.0, 0.0
        values = np.stack([upd.p_net_kw for upd in shaped])
        ok_rows: list[bool] = np.asarray(np.isfinite(values).all(axis=1)).tolist()
        fresh, max_t, sum_t = 0, 0.0, 0.0
        index, received, tick, iteration = self._index, self._received_iteration, self.tick, self.iteration
        taken: dict[int, int] = {}  # agent index → the position of its newest update of these
        for k, (upd, ok) in enumerate(zip(shaped, ok_rows, strict=True)):
            i = index.get(upd.agent)
            if i is None or not ok or upd.tick != tick or upd.iteration <= received[i]:
                continue
            received[i] = upd.iteration
            taken[i] = k
            if upd.iteration == iteration:
                fresh += 1
                max_t = max(max_t, upd.solve_time_s)
                sum_t += upd.solve_time_s
        if taken:
            rows, positions = list(taken), list(taken.values())
            self.p_kw[rows] = values[positions]
            self.local_cost[rows] = [shaped[k].local_cost for k in positions]
        return fresh, max_t, sum_t

    def coordinate(self, updates: Sequence[LocalUpdate], expected: int | None = None) -> CoordinatorBroadcast:
        """One round with the updates that arrived. `expected`: how many fresh answers make the
        round complete for the convergence test (default: every agent; fewer when some agents are
        muted and their last values stand in for them, see `controllers.admm.mqtt`)."""
        start = time.perf_counter()
        n = self.n_agents
        p_old, x_old, z_old = self.p_kw.copy(), self.x_mean, self.z_mean
        fresh, max_t, sum_t = self._accept(updates)
        self.x_mean = self.coupling.aggregate(self.p_kw) / n
        w = self.coupling.prox(n * (self.x_mean + self.u_scaled), n / self.rho)
        self.z_mean = w / n
        self.u_scaled = self.u_scaled + self.x_mean - self.z_mean
        self._residuals = self._compute_residuals(self.p_kw - p_old, self.x_mean - x_old, self.z_mean - z_old)
        self._all_fresh = fresh >= (n if expected is None else expected)
        rho_used = self.rho
        round_index = self.iteration
        self.iteration += 1
        if not self.is_converged() and self.iteration % self.settings.rho_update_every == 0:
            self._balance_rho()
        elapsed = time.perf_counter() - start
        self.history.append(
            IterationRecord(round_index, rho_used, self._residuals, fresh, n - fresh, elapsed, max_t, sum_t)
        )
        return self._broadcast()

    def _compute_residuals(self, dp: FloatArray, dx: FloatArray, dz: FloatArray) -> Residuals:
        n = self.n_agents
        a2 = self._a_norm2
        size = n * self.coupling.n_rows * self.coupling.horizon
        gap = self.x_mean - self.z_mean
        primal = np.sqrt(n) * float(np.linalg.norm(gap))
        d = dx - dz
        s2 = float(a2 @ (dp**2).sum(axis=1)) - 2.0 * n * float((d * dx).sum()) + n * float((d * d).sum())
        dual = self.rho * np.sqrt(max(s2, 0.0))
        x2 = float(a2 @ (self.p_kw**2).sum(axis=1))
        z2 = x2 - 2.0 * n * float((self.x_mean * gap).sum()) + n * float((gap * gap).sum())
        eps_pri = np.sqrt(size) * self.settings.eps_abs + self.settings.eps_rel * np.sqrt(max(x2, z2, 0.0))
        eps_dual = np.sqrt(size) * self.settings.eps_abs + self.settings.eps_rel * self.rho * np.sqrt(
            n
        ) * float(np.linalg.norm(self.u_scaled))
        return Residuals(primal, dual, float(eps_pri), float(eps_dual))

    def _balance_rho(self) -> None:
        res, s = self._residuals, self.settings
        ratio = (res.primal / res.eps_primal) / max(res.dual / res.eps_dual, 1e-12)
        if ratio > s.rho_mu:
            factor = s.rho_tau
        elif ratio < 1.0 / s.rho_mu:
            factor = 1.0 / s.rho_tau
        else:
            return
        new_rho = float(np.clip(self.rho * factor, s.rho_min, s.rho_max))
        self.u_scaled = self.u_scaled * (self.rho / new_rho)
        self.rho = new_rho

    def residuals(self) -> Residuals:
        return self._residuals

    def received_iterations(self) -> np.ndarray:
        """Per agent, the round its newest accepted update was computed for (−1: none yet)."""
        return self._received_iteration.copy()

    def staleness(self) -> np.ndarray:
        """Per agent, how many rounds old its value in the last round was (0 = fresh)."""
        return (self.iteration - 1) - self._received_iteration

    def is_converged(self) -> bool:
        return self._all_fresh and self._residuals.converged

    def out_of_time(self) -> str | None:
        """Why no further round may run (iteration limit or deadline), or None."""
        if self.iteration >= self.settings.max_iterations:
            return f"max_iterations ({self.settings.max_iterations}) reached"
        deadline = self.settings.deadline_s
        if deadline is not None and time.perf_counter() - self._started >= deadline:
            return f"deadline ({deadline} s) passed"
        return None

    def decision(self) -> StepDecision:
        """The verdict after the last round: the ADMM result or the configured fallback."""
        if self.is_converged():
            return StepDecision(self.tick, self.iteration, True, None, "converged")
        reason = self.out_of_time() or "stopped before convergence"
        return StepDecision(self.tick, self.iteration, False, self.settings.fallback, reason)

    def objective(self) -> float:
        """Σ_i f_i(x_i) + peak cost of Σ_i x_i at the last received values."""
        return float(self.local_cost.sum()) + self.coupling.shared_cost(self.p_kw)

    def max_violation_kw(self) -> float:
        """Largest transformer-limit violation of the last received values (kW)."""
        return float(self.coupling.violation(self.p_kw)[0].max())
