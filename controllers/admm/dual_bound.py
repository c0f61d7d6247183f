"""A certified lower bound on the district optimum from a multiplier of the coupling rows.

The district problem that sharing ADMM solves (`controllers.admm.coordinator`) is

    J* = min  Σ_i f_i(x_i) + g(w)   subject to   w = Σ_i a_i x_i

with f_i agent i's local QP (`controllers.admm.local_qp`: ½xᵀPx + qᵀx + c subject to l ≤ Ax ≤ u,
P diagonal, +∞ outside the feasible set), a_i x_i its column of the coupling matrix times its
p_net trajectory (m rows × T steps) and g the shared part (`controllers.admm.coupling`).

**Weak duality.** For any λ (m × T), dropping w = Σ a_i x_i into the objective with λ gives

    d(λ) = Σ_i min_{x_i} [f_i(x_i) + ⟨λ, a_i x_i⟩]  +  min_w [g(w) − ⟨λ, w⟩]   ≤   J*,

since at the optimum the two added terms cancel. Every λ gives a valid bound; the one ADMM
converges to makes it tight. The coordinator's multiplier is λ = ρ·u (u the scaled dual,
`Coordinator.u_scaled`, rescaled with ρ so that ρ·u is continuous): its w-update
w = prox_{(N/ρ)g}(N(x̄ + u)) gives ρ(u + x̄ − z̄) = ρu⁺ ∈ ∂g(w), and the agents' updates give
−ρ a_iᵀu ∈ ∂f_i(x_i) at a fixed point: the KKT conditions of J* with λ = ρu (`coordinator_multipliers`).

**The shared term, g's conjugate by hand.** Row r, step k of w must lie in [lo_rk, hi_rk] (hard
rows: an indicator) or pays soft_price_r · dist(w_rk, [lo_rk, hi_rk]) (soft rows); row 0 (the
transformer, Σ_i p_net,i) also pays π · max(0, max_k w_0k) (the peak-import price). Per entry,
with λ⁺ = max(λ, 0), λ⁻ = max(−λ, 0):

* hard row: min_{lo ≤ w ≤ hi} −λw = −(λ⁺ hi − λ⁻ lo) (the bands are finite: `SharedLimits`
  requires finite values);
* soft row with price s: s·dist(w, band) − λw is bounded below iff |λ| ≤ s, and then has the same
  minimum −(λ⁺ hi − λ⁻ lo) (leaving the band costs s − |λ| ≥ 0 per unit). So λ is first
  projected onto [−s, s] on soft rows — a projection that keeps the bound valid, because the bound
  holds for every λ, and it is the *projected* λ that the local terms use too;
* row 0 with π > 0: with τ ≥ τ₀ = max(0, max_k lo_0k) the level of the peak (w_0k ≤ τ),
  min_w [π max(0, max_k w_k) − λᵀw] = min_{τ ≥ τ₀} φ(τ),
  φ(τ) = πτ − Σ_{k: λ_k > 0} λ_k min(hi_k, τ) + Σ_{k: λ_k ≤ 0} λ_k⁻ lo_k.
  φ is convex and piecewise linear, with slope π > 0 beyond max_k hi_k, so its minimum lies at τ₀
  or at a breakpoint hi_k ≥ τ₀: all of them are evaluated (exact).

**The local terms, certified.** min_x f_i(x) + ⟨λ, a_i x⟩ is agent i's QP with q_p_net += a_iᵀλ
(no proximal term). Its value from a *primal* solver would only be approximately a minimum; a lower
bound needs a dual-feasible point. Split A's rows into the bound rows (the box L ≤ x ≤ U of the
bounded families) and the general rows G (balance, dynamics, comfort, battery, tank, split). For
any y on the general rows with y_j ≤ 0 where u_j = +∞ and y_j ≥ 0 where l_j = −∞ (enforced by
clipping), and σ_j(y) = u_j y⁺ − l_j y⁻ ≥ y G_j x for every feasible x,

    f_i(x) + ⟨λ, a_i x⟩ ≥ c − Σ_j σ_j(y_j) + Σ_v min_{L_v ≤ x_v ≤ U_v} (½ P_v x_v² + r_v x_v),
    r = q + a_iᵀλ (on p_net) + Gᵀy,

a separable sum of one-dimensional minima in closed form: x_v = clip(−r_v/P_v, L_v, U_v) when
P_v > 0, min(r_v L_v, r_v U_v) when P_v = 0. Exact dual feasibility is thereby not needed where
the variable is boxed: the box absorbs any reduced cost r_v (this is what an exact dual of the
bound rows would add, but optimised). Every term must be finite, so every variable with P_v = 0
needs a finite box. The families without bound rows (p_net, t_in, t_mass: `FREE_VARIABLES`) and the
one-sided ones (p_imp, p_exp, s_lo, s_hi ≥ 0) get boxes that provably do not change J*:

* p_net,k: the balance row p_net,k = rhs_k − Σ_v A_kv x_v over boxed variables only (heat pump,
  battery, tank): interval arithmetic gives a box containing every feasible p_net;
* t_in, t_mass: the dynamics rows determine them from x0 and p_hp ∈ [L, U]: interval arithmetic
  forward in time (centre and radius: c_k = A c_{k−1} + rhs_k + β_k m_k, ρ_k = |A| ρ_{k−1} +
  |β_k| h_k) contains every feasible trajectory;
* p_imp ≤ max(0, U_p_net), p_exp ≤ max(0, −L_p_net): lowering both by min(p_imp, p_exp) keeps the
  split and does not raise the cost (export price ≤ import price is enforced by `AgentData`, and the
  regularisation is ≥ 0), so the restricted problem has the same optimum;
* s_lo ≤ max(0, t_min − L_t_in), s_hi ≤ max(0, U_t_in − t_max): lowering a slack to what the band
  needs keeps feasibility and does not raise the cost (linear and quadratic comfort prices ≥ 0).

All derived boxes are widened by 10⁻⁶ relative + 10⁻⁶ absolute against rounding. Any y gives a
valid bound; a good y makes it tight: y is the dual of the same QP solved by PIQP (an interior-point
method that returns the duals of equalities, inequalities and box) to 10⁻⁹. The residual reduced
costs r_v of the free variables (≈ solver tolerance) then cost only |r_v| times a box width.

Floating point: the terms are summed in float64; the bound subtracts n·ε·Σ|terms| (n the number of
terms, ε machine epsilon), the standard bound on the rounding error of a sum. So "certified" means:
a lower bound on J* for these data, whatever the solver's accuracy, up to nothing but that allowance.

Gap against the bound: (J_admm − d)/|d| ≥ the gap against the optimum (J_admm − J*)/|J*| whenever
J* and d have the same sign, and d > J* is impossible.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import piqp
import scipy.sparse as sp

from controllers.admm.coupling import Coupling
from controllers.admm.data import AgentData, FloatArray
from controllers.admm.local_qp import QpMatrices, build_local_qp, define_thermal_rows

EPS = float(np.finfo(float).eps)
WIDEN_REL = 1e-6
WIDEN_ABS = 1e-6


@dataclass(frozen=True)
class DualBound:
    """d(λ) ≤ J* and its parts (see the module docstring)."""

    value: float
    local_terms: FloatArray  # (N,), agent i's certified minimum of f_i + ⟨λ, a_i x_i⟩
    shared_term: float  # min_w g(w) − ⟨λ, w⟩
    multipliers: FloatArray  # (m, T), λ after the projection onto g's domain
    projected_by: float  # ‖λ_given − λ_used‖∞ (0 unless soft rows clipped it)
    rounding_allowance: float  # already subtracted from `value`
    wall_s: float

    def gap(self, objective: float) -> float:
        """(objective − d)/|d|: an upper bound on the relative gap of `objective` to J*."""
        return (objective - self.value) / abs(self.value)


def coordinator_multipliers(rho: float, u_scaled: FloatArray) -> FloatArray:
    """λ = ρ·u, the coordinator's unscaled multiplier of the coupling rows (m, T)."""
    return np.asarray(rho * u_scaled, dtype=float)


def project_multipliers(coupling: Coupling, lam: FloatArray) -> FloatArray:
    """λ onto the domain of g's conjugate: |λ| ≤ soft price on soft rows (hard rows: any λ)."""
    lam = np.array(lam, dtype=float)
    if coupling.soft_price is not None:
        s = coupling.soft_price[:, None]
        soft = np.isfinite(coupling.soft_price)
        lam[soft] = np.clip(lam[soft], -s[soft], s[soft])
    return lam


def shared_term(coupling: Coupling, lam: FloatArray) -> tuple[float, int]:
    """min_w g(w) − ⟨λ, w⟩ for λ in g's domain (`project_multipliers`), and the number of terms."""
    pos, neg = np.maximum(lam, 0.0), np.maximum(-lam, 0.0)
    per_entry = -(pos * coupling.hi - neg * coupling.lo)
    price = coupling.peak_price_per_kw
    if price <= 0:
        return float(per_entry.sum()), per_entry.size
    rest = float(per_entry[1:].sum())
    l0, lo0, hi0 = lam[0], coupling.lo[0], coupling.hi[0]
    tau0 = max(0.0, float(lo0.max()))
    candidates = np.concatenate([[tau0], hi0[hi0 >= tau0]])
    up = l0 > 0
    phi = (
        price * candidates
        - (l0[up][None, :] * np.minimum(hi0[up][None, :], candidates[:, None])).sum(axis=1)
        + float((neg[0][~up] * lo0[~up]).sum())
    )
    return float(phi.min()) + rest, per_entry.size + lo0.size


@numba.njit(cache=True)
def _thermal_box(
    a: FloatArray, beta: FloatArray, rhs: FloatArray, mid: FloatArray, half: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Centre and radius of [t_in, t_mass] over the horizon for p_hp,k ∈ mid_k ± half_k."""
    t = rhs.shape[1]
    centre = np.zeros((2, t))
    radius = np.zeros((2, t))
    c0, c1, r0, r1 = 0.0, 0.0, 0.0, 0.0
    for k in range(t):
        n0 = a[0, 0] * c0 + a[0, 1] * c1 + rhs[0, k] + beta[0, k] * mid[k]
        n1 = a[1, 0] * c0 + a[1, 1] * c1 + rhs[1, k] + beta[1, k] * mid[k]
        m0 = abs(a[0, 0]) * r0 + abs(a[0, 1]) * r1 + abs(beta[0, k]) * half[k]
        m1 = abs(a[1, 0]) * r0 + abs(a[1, 1]) * r1 + abs(beta[1, k]) * half[k]
        c0, c1, r0, r1 = n0, n1, m0, m1
        centre[0, k], centre[1, k], radius[0, k], radius[1, k] = c0, c1, r0, r1
    return centre, radius


def _widen(lo: FloatArray, hi: FloatArray) -> tuple[FloatArray, FloatArray]:
    pad = WIDEN_REL * np.maximum(np.abs(lo), np.abs(hi)) + WIDEN_ABS
    return lo - pad, hi + pad


def variable_box(agent: AgentData, qp: QpMatrices) -> tuple[FloatArray, FloatArray]:
    """A box on every variable that contains every feasible point, or (the one-sided families)
    every point that can be optimal (module docstring); finite wherever P_v = 0."""
    lay = qp.layout
    lo = np.full(lay.n_var, -np.inf)
    hi = np.full(lay.n_var, np.inf)
    bounded = lay.bounded_indices()
    first_bound = lay.n_row - bounded.shape[0]
    lo[bounded], hi[bounded] = qp.l[first_bound:], qp.u[first_bound:]
    # p_net from the balance rows (coefficient 1 on p_net, the other variables boxed)
    bal = lay.row("balance")
    p_net = lay.var("p_net")
    keep = np.ones(lay.n_var)
    keep[p_net] = 0.0
    a_bal = sp.csr_matrix(qp.a[bal] @ sp.diags(keep))
    a_bal.eliminate_zeros()
    a_pos, a_neg = a_bal.maximum(0.0), a_bal.minimum(0.0)
    lo_f, hi_f = np.nan_to_num(lo, neginf=0.0), np.nan_to_num(hi, posinf=0.0)
    others = np.zeros(lay.n_var, dtype=bool)
    others[a_bal.indices] = True
    if not (np.all(np.isfinite(lo[others])) and np.all(np.isfinite(hi[others]))):
        raise ValueError(f"agent {agent.name}: a balance-row variable has no finite box")
    rhs = qp.l[bal]
    lo[p_net], hi[p_net] = _widen(rhs - (a_pos @ hi_f + a_neg @ lo_f), rhs - (a_pos @ lo_f + a_neg @ hi_f))
    if "p_imp" in lay.variables:
        hi[lay.var("p_imp")] = max(0.0, float(hi[p_net].max()))
        hi[lay.var("p_exp")] = max(0.0, float(-lo[p_net].min()))
    th = agent.thermal
    if th is not None:
        _, rhs_in, rhs_mass = define_thermal_rows(agent, lay)
        beta = th.b[:, 1][:, None] * th.cop[None, :]
        s = lay.var("p_hp")
        centre, radius = _thermal_box(
            th.a, beta, np.stack([rhs_in, rhs_mass]), 0.5 * (lo[s] + hi[s]), 0.5 * (hi[s] - lo[s])
        )
        for j, name in enumerate(("t_in", "t_mass")):
            lo[lay.var(name)], hi[lay.var(name)] = _widen(centre[j] - radius[j], centre[j] + radius[j])
        t_in = lay.var("t_in")
        hi[lay.var("s_lo")] = np.maximum(0.0, th.t_min_c - lo[t_in])
        hi[lay.var("s_hi")] = np.maximum(0.0, hi[t_in] - th.t_max_c)
    return lo, hi


def box_minimum(p: FloatArray, r: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """min over lo_v ≤ x_v ≤ hi_v of ½ p_v x_v² + r_v x_v, per v (−inf where unbounded below)."""
    out = np.empty_like(r)
    quad = p > 0
    x = np.clip(-r[quad] / p[quad], lo[quad], hi[quad])
    out[quad] = 0.5 * p[quad] * x * x + r[quad] * x
    lin = ~quad
    rl, ll, hl = r[lin], lo[lin], hi[lin]
    with np.errstate(invalid="ignore"):
        at_lo = np.where(rl > 0, rl * ll, 0.0)
        at_hi = np.where(rl < 0, rl * hl, 0.0)
    out[lin] = at_lo + at_hi
    return out


def _piqp_duals(qp: QpMatrices, q: FloatArray, lo: FloatArray, hi: FloatArray, eps: float) -> FloatArray:
    """OSQP-convention duals y of the general rows (P x + q + Gᵀy + box duals = 0) from PIQP."""
    n_general = qp.layout.n_row - qp.layout.bounded_indices().shape[0]
    g = sp.csr_matrix(qp.a)[:n_general]
    gl, gu = qp.l[:n_general], qp.u[:n_general]
    equal = np.isfinite(gl) & (gl == gu)
    solver = piqp.SparseSolver()
    solver.settings.verbose = False
    solver.settings.eps_abs = eps
    solver.settings.eps_rel = eps
    solver.setup(
        sp.diags(qp.p_diag).tocsc(),
        q,
        sp.csc_matrix(g[equal]),
        gu[equal],
        sp.csc_matrix(g[~equal]),
        gl[~equal],
        gu[~equal],
        lo,
        hi,
    )
    solver.solve()  # any status: whatever y comes back still gives a valid bound
    res = solver.result
    y = np.zeros(n_general)
    y[equal] = np.asarray(res.y)
    y[~equal] = np.asarray(res.z_u) - np.asarray(res.z_l)
    return np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)


def local_term(
    agent: AgentData, column: FloatArray, lam: FloatArray, eps: float = 1e-9, qp: QpMatrices | None = None
) -> tuple[float, float]:
    """A certified lower bound on min_x f_i(x) + ⟨λ, a_i p_net(x)⟩ and the Σ|terms| of its sum
    (for the rounding allowance); `column` is a_i (m,), λ is (m, T)."""
    qp = qp if qp is not None else build_local_qp(agent)
    lay = qp.layout
    q = qp.q.copy()
    q[lay.var("p_net")] += column @ lam
    lo, hi = variable_box(agent, qp)
    y = _piqp_duals(qp, q, lo, hi, eps)
    n_general = y.shape[0]
    gl, gu = qp.l[:n_general], qp.u[:n_general]
    y = np.where(np.isinf(gu), np.minimum(y, 0.0), y)
    y = np.where(np.isinf(gl), np.maximum(y, 0.0), y)
    support = np.where(y > 0, y * np.where(np.isinf(gu), 0.0, gu), 0.0) + np.where(
        y < 0, y * np.where(np.isinf(gl), 0.0, gl), 0.0
    )  # σ_j(y_j) = u_j y⁺ − l_j y⁻
    g = sp.csr_matrix(qp.a)[:n_general]
    r = q + g.T @ y
    inner = box_minimum(qp.p_diag, r, lo, hi)
    value = qp.constant - float(support.sum()) + float(inner.sum())
    magnitude = abs(qp.constant) + float(np.abs(support).sum() + np.abs(inner).sum())
    return value, magnitude


def dual_bound(
    agents: Sequence[AgentData], coupling: Coupling, multipliers: FloatArray, eps: float = 1e-9
) -> DualBound:
    """d(λ) ≤ J* for the agents (in `coupling.agents` order) and the coupling (module docstring)."""
    start = time.perf_counter()
    if tuple(a.name for a in agents) != coupling.agents:
        raise ValueError("agents must be given in the coupling's order")
    lam_given = np.asarray(multipliers, dtype=float)
    if lam_given.shape != (coupling.n_rows, coupling.horizon):
        raise ValueError(f"multipliers must be {(coupling.n_rows, coupling.horizon)}, got {lam_given.shape}")
    lam = project_multipliers(coupling, lam_given)
    shared, n_terms = shared_term(coupling, lam)
    locals_ = np.empty(len(agents))
    magnitude = abs(shared)
    for i, agent in enumerate(agents):
        qp = build_local_qp(agent)
        locals_[i], mag = local_term(agent, coupling.matrix[:, i], lam, eps, qp)
        magnitude += mag
        n_terms += qp.layout.n_row + qp.layout.n_var + 1
    total = float(locals_.sum()) + shared
    allowance = (n_terms + len(agents)) * EPS * (magnitude + float(np.abs(locals_).sum()))
    return DualBound(
        total - allowance,
        locals_,
        shared,
        lam,
        float(np.max(np.abs(lam - lam_given))) if lam.size else 0.0,
        allowance,
        time.perf_counter() - start,
    )
