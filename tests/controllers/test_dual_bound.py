"""The certified dual bound of `controllers.admm.dual_bound`: never above the optimum (every agent
kind, any multiplier), equal to it when the coupling is slack, tight at the ADMM multiplier."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

from controllers.admm import (
    AdmmAgent,
    AgentData,
    Coordinator,
    Coupling,
    SharedLimits,
    VoltageSensitivity,
    build_agents,
    run_control_step,
)
from controllers.admm.data import Tank
from controllers.admm.dual_bound import (
    coordinator_multipliers,
    dual_bound,
    local_term,
    shared_term,
)
from controllers.admm.local_qp import build_local_qp
from controllers.mpc import solve_centralised
from experiments.synthetic_district import DistrictSpec, synthetic_district

HORIZON = 24
CVX: Any = cp  # cvxpy's atoms are untyped


def _mixed_district() -> list[AgentData]:
    """Heat-pump buildings (one with a battery, one with a hot-water tank, one with an export price
    and no regularisation), a standalone battery with an export price, and plain buildings."""
    agents = synthetic_district(DistrictSpec(n_buildings=5, n_storage=1, horizon=HORIZON, seed=3))
    hours = np.arange(HORIZON)
    dhw = (0.6 + 0.5 * ((hours % 24 >= 6) & (hours % 24 < 9))).astype(np.float64)
    cop_dhw = np.full(HORIZON, 2.5)
    tank = Tank(capacity_kwh=6.0, e1_kwh=2.0, q0_kw=0.3, q_dhw_kw=dhw, cop_dhw=cop_dhw)
    agents[0] = replace(agents[0], tank=tank, p_base_kw=agents[0].p_base_kw + dhw / cop_dhw)
    if agents[1].battery is None:
        agents[1] = replace(agents[1], battery=agents[-1].battery)
    agents[2] = replace(
        agents[2], export_price_per_kwh=0.5 * agents[2].price_per_kwh, pv_kw=agents[2].pv_kw + 2.0,
        reg_weight_per_kw2=0.0,
    )  # fmt: skip
    agents[-1] = replace(agents[-1], export_price_per_kwh=0.8 * agents[-1].price_per_kwh)
    return agents


@dataclass(frozen=True)
class Case:
    agents: list[AgentData]
    limits: SharedLimits
    coupling: Coupling
    central: float
    admm: float
    lam: np.ndarray


def _case(agents: list[AgentData], limits: SharedLimits) -> Case:
    coupling = Coupling.from_limits(tuple(a.name for a in agents), limits)
    coordinator = Coordinator(coupling)
    result = run_control_step(build_agents(agents, coordinator), coordinator, 0)
    assert result.decision.converged
    lam = coordinator_multipliers(coordinator.rho, coordinator.u_scaled)
    return Case(agents, limits, coupling, solve_centralised(agents, limits).objective, result.objective, lam)


def _free_peak(agents: list[AgentData]) -> float:
    return float(np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in agents]).sum(axis=0).max())


@pytest.fixture(scope="module")
def binding() -> Case:
    agents = _mixed_district()
    limits = SharedLimits.transformer(0.8 * _free_peak(agents), HORIZON)
    return _case(agents, limits)


def test_every_agent_kind_is_present(binding: Case) -> None:
    kinds = {
        "tank": any(a.tank is not None for a in binding.agents),
        "battery": any(a.battery is not None and a.thermal is not None for a in binding.agents),
        "standalone": any(a.thermal is None for a in binding.agents),
        "export": sum(a.export_price_per_kwh is not None for a in binding.agents) == 2,
    }
    assert all(kinds.values()), kinds


def _local_optimum(agent: AgentData, column: np.ndarray, lam: np.ndarray) -> float:
    """min_x f_i(x) + ⟨λ, a_i p_net⟩ by Clarabel (cvxpy), for comparison."""
    qp = build_local_qp(agent)
    q = qp.q.copy()
    q[qp.layout.var("p_net")] += column @ lam
    x = cp.Variable(qp.layout.n_var)
    ax = qp.a @ x
    lo, hi = np.isfinite(qp.l), np.isfinite(qp.u)
    root_p = sp.diags(np.sqrt(qp.p_diag))
    problem = cp.Problem(
        cp.Minimize(0.5 * CVX.sum_squares(root_p @ x) + q @ x + qp.constant),
        [ax[np.flatnonzero(lo)] >= qp.l[lo], ax[np.flatnonzero(hi)] <= qp.u[hi]],
    )
    solve: Any = problem.solve  # untyped in cvxpy
    solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return float(problem.value)


def test_each_local_term_is_below_and_close_to_the_local_optimum(binding: Case) -> None:
    for i, agent in enumerate(binding.agents):
        column = binding.coupling.matrix[:, i]
        term, _ = local_term(agent, column, binding.lam)
        optimum = _local_optimum(agent, column, binding.lam)
        scale = max(1.0, abs(optimum))
        assert term <= optimum + 1e-7 * scale, agent.name
        assert term >= optimum - 1e-5 * scale, agent.name


def test_the_bound_lies_below_the_optimum_and_is_tight_at_the_admm_multiplier(binding: Case) -> None:
    bound = dual_bound(binding.agents, binding.coupling, binding.lam)
    assert float(np.abs(binding.lam).max()) > 1e-3  # the limit binds: a non-trivial multiplier
    assert bound.value <= binding.central <= binding.admm + 1e-6 * abs(binding.central)
    assert binding.central - bound.value <= 1e-4 * abs(binding.central)
    assert bound.gap(binding.admm) >= (binding.admm - binding.central) / abs(binding.central)
    assert bound.projected_by == 0.0


def test_a_slack_coupling_with_zero_multiplier_gives_the_optimum() -> None:
    agents = _mixed_district()
    limits = SharedLimits.transformer(1e4, HORIZON)
    coupling = Coupling.from_limits(tuple(a.name for a in agents), limits)
    central = solve_centralised(agents, limits).objective
    bound = dual_bound(agents, coupling, np.zeros((1, HORIZON)))
    assert bound.value <= central
    assert bound.value == pytest.approx(central, rel=1e-6)
    assert bound.shared_term == 0.0


@pytest.mark.parametrize("kind", ["negated", "tenfold", "random"])
def test_a_wrong_multiplier_still_gives_a_lower_bound(binding: Case, kind: str) -> None:
    rng = np.random.default_rng(0)
    lam = {
        "negated": -binding.lam,
        "tenfold": 10.0 * binding.lam,
        "random": rng.normal(0.0, 0.3, binding.lam.shape),
    }[kind]
    good = dual_bound(binding.agents, binding.coupling, binding.lam).value
    wrong = dual_bound(binding.agents, binding.coupling, lam).value
    assert wrong <= binding.central
    assert wrong < good


def test_the_peak_price_bound_is_below_and_close_to_the_optimum() -> None:
    agents = _mixed_district()
    case = _case(agents, SharedLimits.transformer(1e3, HORIZON, peak_price_per_kw=0.5))
    bound = dual_bound(agents, case.coupling, case.lam)
    assert bound.value <= case.central
    assert case.central - bound.value <= 1e-3 * abs(case.central)
    zero = dual_bound(agents, case.coupling, np.zeros_like(case.lam)).value
    assert zero <= bound.value  # λ = 0 ignores the peak price: a weaker bound


def test_the_peak_term_is_the_minimum_over_a_grid_of_profiles() -> None:
    """min_w π max(0, max w) − λᵀw over the box, against brute force on a grid (T = 3)."""
    limits = SharedLimits(np.array([2.0, 1.0, 3.0]), np.array([-1.0, -2.0, 0.0]), peak_price_per_kw=1.5)
    coupling = Coupling.from_limits(("a",), limits)
    rng = np.random.default_rng(1)
    axes = [np.linspace(lo, hi, 31) for lo, hi in zip(limits.p_min_kw, limits.p_max_kw, strict=True)]
    w = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    for _ in range(20):
        lam = rng.normal(0.0, 1.0, (1, 3))
        value, _ = shared_term(coupling, lam)
        brute = float((1.5 * np.maximum(0.0, w.max(axis=1)) - w @ lam[0]).min())
        assert value == pytest.approx(brute, abs=1e-9)  # the grid holds every breakpoint


def test_soft_voltage_rows_clip_the_multiplier_and_stay_below_the_optimum() -> None:
    agents = synthetic_district(DistrictSpec(n_buildings=6, n_storage=0, horizon=HORIZON, seed=4))
    s = np.zeros((2, 6))
    s[0, :3] = -0.004
    s[1, 3:] = -0.002
    v_free = 1.0 + s @ np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in agents])
    voltage = VoltageSensitivity(
        s, np.ones(2), np.zeros(6), v_min_pu=float(1.0 - 0.75 * (1 - v_free[0].min())),
        violation_price_per_pu=50.0,
    )  # fmt: skip
    case = _case(agents, SharedLimits.transformer(1e3, HORIZON, voltage=voltage))
    bound = dual_bound(agents, case.coupling, case.lam)
    assert bound.value <= case.central
    assert case.central - bound.value <= 1e-3 * abs(case.central)
    assert case.coupling.soft_price is not None
    huge = case.lam.copy()
    huge[1:] = 1e3  # beyond the soft price: g's conjugate would be −∞ without the projection
    clipped = dual_bound(agents, case.coupling, huge)
    assert clipped.projected_by > 0
    assert np.isfinite(clipped.value) and clipped.value <= case.central
