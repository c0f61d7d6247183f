"""The OSQP local problem against the cvxpy reference formulation and hand-computed optima.

cvxpy adds auxiliary variables (sum_squares of a scaled expression) and orders rows its own way,
so `get_problem_data` cannot be compared entry by entry. Instead the test extracts, by evaluating
the cvxpy expressions at chosen points, (1) the objective's constant, q and diagonal of P (at 0 and
±e_j) plus a random-point check of the whole quadratic (this catches off-diagonal terms), and
(2) every constraint as a set of half-spaces αᵀx + β ≤ 0 (equalities as two), normalised to
‖α‖ = 1, and compares that set with the one from OSQP's (A, l, u). Both comparisons are exact up
to floating point, independent of ordering and row scaling. Optimal solutions are compared too.
"""

from __future__ import annotations

from dataclasses import replace

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

from controllers.admm import AdmmAgent, AgentData, Battery, LocalQp, OsqpSettings, build_local_qp
from controllers.admm.data import FloatArray
from controllers.admm.local_qp import QpMatrices
from controllers.mpc.formulation import DistrictModel, local_reference_problem
from experiments.synthetic_district import DistrictSpec, rc_matrices, synthetic_district

ACCURATE = OsqpSettings(eps_abs=1e-7, eps_rel=1e-7, polishing=True)


def _agents(seed: int, horizon: int = 6) -> list[AgentData]:
    spec = DistrictSpec(n_buildings=2, n_storage=1, horizon=horizon, battery_share=1.0, seed=seed)
    agents = synthetic_district(spec)
    rng = np.random.default_rng(seed)
    th = agents[1].thermal
    assert th is not None
    # exercise every family: export split, plan tracking, fixed first heat-pump step, throughput cost
    agents[1] = replace(
        agents[1],
        export_price_per_kwh=agents[1].price_per_kwh * 0.4,
        p_plan_kw=rng.uniform(0, 3, horizon),
        plan_weight_per_kw2=0.05,
        thermal=replace(th, hp_p_prev_kw=0.5 * th.hp_p_max_kw),
    )
    bat = agents[2].battery
    assert bat is not None
    agents[2] = replace(agents[2], battery=replace(bat, throughput_cost_per_kwh=0.01))
    return agents


def _set_values(model: DistrictModel, qp: QpMatrices, x: FloatArray) -> None:
    lay = qp.layout
    model.p_net.value = x[lay.var("p_net")].reshape(1, -1)
    for name, var in model.variables.items():
        var.value = x[lay.var(name)].reshape(1, -1)


def _halfspaces_cvxpy(problem: cp.Problem, model: DistrictModel, qp: QpMatrices) -> FloatArray:
    n = qp.layout.n_var

    def rows_at(x: FloatArray) -> FloatArray:
        _set_values(model, qp, x)
        out = []
        for c in problem.constraints:
            value = np.asarray(c.expr.value, dtype=float).reshape(-1)
            out.append(value)
            if isinstance(c, cp.constraints.Equality):
                out.append(-value)
        return np.concatenate(out)

    beta = rows_at(np.zeros(n))
    alpha = np.stack([rows_at(np.eye(n)[j]) - beta for j in range(n)], axis=1)
    return _normalise(alpha, beta)


def _halfspaces_osqp(qp: QpMatrices) -> FloatArray:
    a = qp.a.toarray()
    upper = np.isfinite(qp.u)
    lower = np.isfinite(qp.l)
    alpha = np.vstack([a[upper], -a[lower]])
    beta = np.concatenate([-qp.u[upper], qp.l[lower]])
    return _normalise(alpha, beta)


def _normalise(alpha: FloatArray, beta: FloatArray) -> FloatArray:
    norm = np.linalg.norm(alpha, axis=1)
    rows = np.column_stack([alpha, beta]) / norm[:, None]
    return np.asarray(np.unique(np.round(rows, 9), axis=0))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("which", [0, 1, 2], ids=["building+battery", "building+export+plan", "storage"])
def test_osqp_matrices_equal_cvxpy_reference(seed: int, which: int) -> None:
    agent = _agents(seed)[which]
    qp = build_local_qp(agent)
    rng = np.random.default_rng(seed)
    prox_w, prox_c = 0.7, rng.normal(size=agent.horizon)
    problem, model = local_reference_problem(agent, prox_w, prox_c)
    p_diag = qp.p_diag + prox_w * qp.p_net_mask()
    q = qp.q.copy()
    q[qp.layout.var("p_net")] -= prox_w * prox_c
    const = qp.constant + 0.5 * prox_w * float(prox_c @ prox_c)

    def f_cvx(x: FloatArray) -> float:
        _set_values(model, qp, x)
        return float(problem.objective.value)

    n = qp.layout.n_var
    eye = np.eye(n)
    c0 = f_cvx(np.zeros(n))
    plus = np.array([f_cvx(eye[j]) for j in range(n)])
    minus = np.array([f_cvx(-eye[j]) for j in range(n)])
    np.testing.assert_allclose(c0, const, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose((plus - minus) / 2, q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(plus + minus - 2 * c0, p_diag, rtol=1e-10, atol=1e-12)
    for _ in range(3):
        x = rng.normal(size=n) * 3
        expected = 0.5 * x @ (p_diag * x) + q @ x + const
        np.testing.assert_allclose(f_cvx(x), expected, rtol=1e-10)

    ours, theirs = _halfspaces_osqp(qp), _halfspaces_cvxpy(problem, model, qp)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-8)


@pytest.mark.parametrize("interior", [False, True], ids=["osqp", "piqp-first"])
@pytest.mark.parametrize("seed", [3, 4])
def test_osqp_optimum_equals_cvxpy_optimum(seed: int, interior: bool) -> None:
    """Both paths of a first solve: OSQP from zeros, and PIQP (`first_solve_interior`)."""
    for agent in _agents(seed, horizon=24):
        local = LocalQp(agent, replace(ACCURATE, first_solve_interior=interior))
        rng = np.random.default_rng(seed)
        center = rng.normal(0, 2, agent.horizon)
        local.set_prox(0.3, center)
        sol = local.solve()
        problem, model = local_reference_problem(agent, 0.3, center)
        problem.solve(solver="CLARABEL")
        assert problem.status == cp.OPTIMAL
        admm_term = 0.15 * float(np.sum((sol.x[local.qp.layout.var("p_net")] - center) ** 2))
        assert sol.local_cost + admm_term == pytest.approx(problem.value, rel=1e-5, abs=1e-6)
        np.testing.assert_allclose(sol.x[local.qp.layout.var("p_net")], model.p_net.value[0], atol=2e-3)


def test_interior_first_solve_warm_starts_osqp() -> None:
    """PIQP's solution, its duals mapped to OSQP's y (bounds as PIQP's box), satisfies OSQP's KKT
    conditions; OSQP, warm started from it on the same problem, stays there in a few iterations."""
    for agent in _agents(5, horizon=24):
        local = LocalQp(agent, ACCURATE)
        local.set_prox(0.02, np.full(agent.horizon, 1.0))
        first = local.solve()
        qp = local.qp
        p = qp.p_matrix(0.02)
        q = qp.q.copy()
        q[qp.layout.var("p_net")] -= 0.02
        np.testing.assert_allclose(p @ first.x + q + qp.a.T @ first.y, 0.0, atol=1e-6)  # stationarity
        ax = qp.a @ first.x
        assert np.all(ax >= qp.l - 1e-6) and np.all(ax <= qp.u + 1e-6)  # primal feasibility
        assert np.all(first.y[ax > qp.l + 1e-4] >= -1e-6) and np.all(first.y[ax < qp.u - 1e-4] <= 1e-6)
        again = local.solve()
        assert again.iterations <= 25  # from zeros: 235–1,150 iterations on these three agents
        np.testing.assert_allclose(again.x, first.x, atol=1e-3)


def test_battery_arbitrage_exact_optimum() -> None:
    """Charge 3 kW at 0.1, discharge the 2.7 kWh stored (2.43 kW after losses) at 0.5."""
    bat = Battery(capacity_kwh=10.0, e0_kwh=0.0, loss_per_h=0.0)
    agent = AgentData(
        "s", 1.0, np.array([0.1, 0.5]), np.zeros(2), np.zeros(2), battery=bat, reg_weight_per_kw2=0
    )
    plan = AdmmAgent(agent, settings=ACCURATE).solve_alone()  # the formulation's optimum, solved tightly
    assert plan.p_bat_kw is not None
    np.testing.assert_allclose(plan.p_bat_kw, [3.0, -2.43], atol=1e-4)
    assert plan.local_cost == pytest.approx(0.3 - 0.5 * 2.43, abs=1e-4)
    assert plan.simultaneous_kw < 1e-4


def test_thermal_prediction_follows_the_discrete_model() -> None:
    """With a huge comfort band the heat pump stays at its fixed first value, then off."""
    spec = DistrictSpec(n_buildings=1, n_storage=0, horizon=8, battery_share=0, seed=5)
    agent = synthetic_district(spec)[0]
    th = agent.thermal
    assert th is not None
    th = replace(th, t_min_c=np.full(8, -50.0), t_max_c=np.full(8, 80.0), hp_p_prev_kw=1.0)
    plan = AdmmAgent(replace(agent, thermal=th), settings=ACCURATE).solve_alone()
    assert plan.p_hp_kw is not None and plan.t_in_c is not None and plan.t_mass_c is not None
    np.testing.assert_allclose(plan.p_hp_kw, [1.0] + [0.0] * 7, atol=1e-5)
    x = th.x0_c.copy()
    for k in range(8):
        u = np.array([th.t_out_c[k], th.q_air_gain_kw[k] + th.cop[k] * plan.p_hp_kw[k], th.q_mass_gain_kw[k]])
        x = th.a @ x + th.b @ u
        np.testing.assert_allclose([plan.t_in_c[k], plan.t_mass_c[k]], x, atol=1e-4)


def test_synthetic_matrices_equal_the_simulator_discretisation() -> None:
    thermal = pytest.importorskip("simulators.building.thermal")
    params = thermal.calibrate(np.array([150.0]), np.array([12000.0]), 3000.0)
    model = thermal.discretise(params, 900.0)
    a, b = rc_matrices(150.0, 12000.0, 0.25)
    np.testing.assert_allclose(a, model.a[0], rtol=1e-12)
    np.testing.assert_allclose(b, model.b[0], rtol=1e-12)


def test_no_simultaneous_charge_and_discharge_with_positive_prices() -> None:
    for agent in synthetic_district(DistrictSpec(n_buildings=4, n_storage=2, horizon=24, battery_share=1.0)):
        plan = AdmmAgent(agent).solve_alone()
        assert plan.simultaneous_kw < 1e-3


def test_negative_price_with_full_battery_is_reported() -> None:
    """At a negative price a full battery can only absorb more by charging and discharging at once;
    the plan reports it and the setpoint is the net power (see docs/admm.md)."""
    bat = Battery(capacity_kwh=10.0, e0_kwh=10.0, loss_per_h=0.0)
    agent = AgentData("s", 1.0, np.array([-0.2, -0.2]), np.zeros(2), np.zeros(2), battery=bat)
    plan = AdmmAgent(agent).solve_alone()
    assert plan.p_bat_kw is not None
    assert plan.simultaneous_kw > 0.1
    assert plan.battery_p_kw == pytest.approx(plan.p_bat_kw[0])


def test_new_data_updates_in_place() -> None:
    agents = _agents(7, horizon=12)
    for agent in agents:
        local = LocalQp(agent, ACCURATE)
        local.solve()
        shifted = replace(agent, price_per_kwh=agent.price_per_kwh[::-1].copy())
        local.set_data(shifted)
        fresh = LocalQp(shifted, ACCURATE)
        # OSQP's own tolerance (1e-7 here) bounds the agreement; a wrong update would differ by far more
        assert local.solve().local_cost == pytest.approx(fresh.solve().local_cost, rel=1e-4, abs=1e-4)


def test_invalid_data_is_rejected() -> None:
    with pytest.raises(ValueError, match="p_base_kw"):
        AgentData("x", 1.0, np.ones(3), np.ones(4), np.zeros(3))
    with pytest.raises(ValueError, match="e0_kwh"):
        Battery(capacity_kwh=5.0, e0_kwh=6.0)
    with pytest.raises(ValueError, match="unbounded"):
        AgentData("x", 1.0, np.ones(3), np.ones(3), np.zeros(3), export_price_per_kwh=np.full(3, 2.0))


def test_a_is_the_matrix_scipy_builds_and_agents_share_its_read_only_pattern() -> None:
    """`csc_with_data` skips scipy's checks: A must still be the matrix scipy's constructor makes
    (values, pattern, shape, sorted indices, usable by scipy), and the index arrays shared by the
    agents of a layout must refuse in-place changes."""
    first, second = (build_local_qp(a) for a in _agents(3, horizon=8)[:2])
    for qp in (first, second):
        a = qp.a
        checked = sp.csc_matrix((a.data.copy(), a.indices.copy(), a.indptr.copy()), shape=a.shape)
        assert type(a) is type(checked) and a.shape == checked.shape and a.nnz == checked.nnz
        assert a.has_sorted_indices and a.has_canonical_format
        assert abs(a - checked).max() == 0.0
        np.testing.assert_array_equal(a.toarray(), checked.toarray())
        np.testing.assert_array_equal(a @ np.arange(a.shape[1], dtype=float), checked @ np.arange(a.shape[1]))
        np.testing.assert_array_equal(a.tocsr().toarray(), checked.toarray())
        with pytest.raises(ValueError, match="read-only"):
            a.indices[0] = 0
    again = build_local_qp(_agents(3, horizon=8)[0])
    assert again.a.indices is first.a.indices and again.a.data is not first.a.data
    assert again.layout is first.layout


def test_the_local_cost_is_half_x_p_x_plus_q_x_plus_the_constant() -> None:
    """`QpMatrices.objective` (one compiled pass) equals ½xᵀPx + qᵀx + c computed by numpy's
    products, to rounding, for every agent kind and for integer input."""
    rng = np.random.default_rng(11)
    for agent in _agents(3, horizon=8):
        qp = build_local_qp(agent)
        x = rng.normal(size=qp.layout.n_var) * 10.0
        expected = 0.5 * x @ (qp.p_diag * x) + qp.q @ x + qp.constant
        assert qp.objective(x) == pytest.approx(expected, rel=1e-12, abs=1e-9)
        ones = np.ones(qp.layout.n_var, dtype=np.int64)
        sums = 0.5 * qp.p_diag.sum() + qp.q.sum() + qp.constant
        assert qp.objective(ones) == pytest.approx(sums, rel=1e-12)
