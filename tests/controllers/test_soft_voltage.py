"""A soft voltage band (`VoltageSensitivity.violation_price_per_pu`): the coordinator's prox is exact,
a band that can be held gives the hard band's optimum, and a band that cannot be held gives the
centralised least-cost violation instead of rounds that never converge."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from controllers.admm import (
    AdmmAgent,
    AdmmSettings,
    AgentData,
    Coordinator,
    Coupling,
    SharedLimits,
    VoltageSensitivity,
    build_agents,
    run_control_step,
)
from controllers.admm.runner import StepResult
from controllers.admm.wire import coupling_from_series, coupling_to_series
from controllers.mpc import solve_centralised
from experiments.synthetic_district import DistrictSpec, synthetic_district

HORIZON = 24
PRICE_PER_PU = 1e3  # 4–8 CHF per kW-equivalent and step on these rows: far above the energy prices


def _district() -> tuple[list[AgentData], np.ndarray, np.ndarray]:
    agents = synthetic_district(DistrictSpec(n_buildings=6, n_storage=0, horizon=HORIZON, seed=4))
    s = np.zeros((2, 6))
    s[0, :3] = -0.004
    s[1, 3:] = -0.002
    free = np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in agents])
    return agents, s, 1.0 + s @ free


def _limits(s: np.ndarray, v_min_pu: float, price: float | None) -> SharedLimits:
    voltage = VoltageSensitivity(s, np.ones(2), np.zeros(6), v_min_pu=v_min_pu, violation_price_per_pu=price)
    return SharedLimits.transformer(1e3, HORIZON, voltage=voltage)


def _admm(agents: list[AgentData], limits: SharedLimits, max_iterations: int = 500) -> StepResult:
    coordinator = Coordinator(
        Coupling.from_limits(tuple(a.name for a in agents), limits),
        AdmmSettings(max_iterations=max_iterations),
    )
    return run_control_step(build_agents(agents, coordinator), coordinator, 0)


def _outside_pu(s: np.ndarray, p: np.ndarray, v_min_pu: float) -> float:
    return float(np.maximum(v_min_pu - (1.0 + s @ p), 0.0).sum())


def test_soft_prox_is_exact() -> None:
    """The coordinator's z-update against cvxpy: min t·g(w) + ½‖w − y‖² with the soft rows."""
    agents, s, v_free = _district()
    limits = _limits(s, float(v_free.min()) + 1e-3, PRICE_PER_PU)
    coupling = Coupling.from_limits(tuple(a.name for a in agents), limits)
    assert coupling.soft_price is not None and np.isinf(coupling.soft_price[0])
    rng = np.random.default_rng(0)
    y = coupling.aggregate(rng.normal(1.0, 3.0, size=(6, HORIZON)))
    step = 0.05
    w = cp.Variable(y.shape)
    soft = coupling.soft_price[1:, None]
    outside = cp.pos(w[1:] - coupling.hi[1:]) + cp.pos(coupling.lo[1:] - w[1:])
    objective = step * cp.sum(cp.multiply(soft, outside)) + 0.5 * cp.sum_squares(w - y)
    cp.Problem(cp.Minimize(objective), [w[0] <= coupling.hi[0], w[0] >= coupling.lo[0]]).solve("CLARABEL")
    np.testing.assert_allclose(coupling.prox(y, step), w.value, atol=1e-6)
    wire = coupling_from_series(coupling.agents, coupling_to_series(coupling))
    assert wire.soft_price is not None
    np.testing.assert_array_equal(wire.soft_price, coupling.soft_price)


def test_a_band_that_can_be_held_gives_the_hard_optimum() -> None:
    agents, s, v_free = _district()
    v_min = float(1.0 - 0.75 * (1 - v_free[0].min()))
    hard = solve_centralised(agents, _limits(s, v_min, None))
    soft = _admm(agents, _limits(s, v_min, PRICE_PER_PU))
    assert soft.decision.converged
    assert soft.objective == pytest.approx(hard.objective, rel=1e-3)
    assert _outside_pu(s, soft.p_net_kw(), v_min) <= 1e-4


def test_a_band_that_cannot_be_held_is_left_at_least_cost() -> None:
    """v_min = 1.0 pu needs every building to export at every hour, which the night loads rule out:
    the hard band stalls the rounds (and the centralised problem is infeasible); the soft band
    converges to the centralised least-cost violation."""
    agents, s, _ = _district()
    with pytest.raises(RuntimeError):
        solve_centralised(agents, _limits(s, 1.0, None))
    stalled = _admm(agents, _limits(s, 1.0, None), max_iterations=150)
    assert not stalled.decision.converged
    limits = _limits(s, 1.0, PRICE_PER_PU)
    central = solve_centralised(agents, limits)
    result = _admm(agents, limits)
    assert result.decision.converged
    assert result.objective == pytest.approx(central.objective, rel=1e-3)
    central_outside = _outside_pu(s, central.p_net_kw, 1.0)
    assert central_outside > 0.01  # the band really is left
    assert _outside_pu(s, result.p_net_kw(), 1.0) == pytest.approx(central_outside, rel=1e-2)
