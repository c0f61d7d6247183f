"""A hot-water tank in an ADMM agent's local problem: the storage equation, the fixed step 0, the
hot-water limit on discharging and the meter balance hold in the solution, and the tank moves the
heat pump's hot-water load into the cheap hours; its data survives the wire unchanged."""

from __future__ import annotations

import json

import numpy as np

from controllers.admm.agent import LocalQp
from controllers.admm.data import AgentData, Tank
from controllers.admm.wire import agent_data_from_series, agent_data_to_series

HORIZON = 12
DT_H = 0.5


def _agent(q0_kw: float = 0.4) -> AgentData:
    price = np.where(np.arange(HORIZON) < 6, 0.10, 0.40)  # cheap first half, dear second half
    dhw = np.full(HORIZON, 0.8)
    cop = np.linspace(2.2, 2.8, HORIZON)
    tank = Tank(capacity_kwh=6.0, e1_kwh=1.0, q0_kw=q0_kw, q_dhw_kw=dhw, cop_dhw=cop)
    base = 0.3 + dhw / cop  # appliances and the heat pump's hot-water electricity without the tank
    return AgentData("house", DT_H, price, base, np.zeros(HORIZON), tank=tank)


def _solve(agent: AgentData) -> dict[str, np.ndarray]:
    qp = LocalQp(agent)
    solution = qp.solve(polish=True)
    assert solution.status in ("solved", "solved inaccurate")
    lay = qp.qp.layout
    return {name: solution.x[lay.var(name)] for name in lay.variables}


def test_tank_solution_holds_its_equations() -> None:
    agent = _agent()
    tank = agent.tank
    assert tank is not None
    x = _solve(agent)
    charge, discharge, energy = x["q_tch"], x["q_tdis"], x["e_tank"]
    assert abs(charge[0] - 0.4) < 1e-6  # step 0 as applied
    assert abs(discharge[0]) < 1e-6 and abs(energy[0] - 1.0) < 1e-6
    keep = 1 - tank.loss_per_h * DT_H
    expected = keep * energy[:-1] + DT_H * (tank.eta_charge * charge[1:] - discharge[1:] / tank.eta_discharge)
    np.testing.assert_allclose(energy[1:], expected, atol=1e-5)
    assert np.all(discharge <= tank.q_dhw_kw + 1e-6) and np.all(charge + discharge <= tank.q_max_kw + 1e-6)
    assert np.all(energy >= -1e-6) and np.all(energy <= tank.capacity_kwh + 1e-6)
    balance = agent.p_base_kw - agent.pv_kw + (charge - discharge) / tank.cop_dhw
    np.testing.assert_allclose(x["p_net"], balance, atol=1e-5)


def test_the_tank_moves_hot_water_heating_into_cheap_hours() -> None:
    x = _solve(_agent())
    charge, discharge = x["q_tch"], x["q_tdis"]
    assert charge[1:6].sum() > 1.0  # charges while cheap (after the fixed step 0)
    assert discharge[6:].sum() > 0.6 * charge[1:6].sum()  # serves the dear hours (η² = 0.81, losses)
    assert charge[6:].sum() < 1e-3


def test_tank_data_round_trip_through_json() -> None:
    agent = _agent(q0_kw=-0.3)
    back = agent_data_from_series("house", json.loads(json.dumps(agent_data_to_series(agent))))
    assert back.tank is not None and agent.tank is not None
    for name in ("capacity_kwh", "e1_kwh", "q0_kw", "eta_charge", "loss_per_h", "c_rate_per_h"):
        assert getattr(back.tank, name) == getattr(agent.tank, name), name
    np.testing.assert_array_equal(back.tank.q_dhw_kw, agent.tank.q_dhw_kw)
    np.testing.assert_array_equal(back.tank.cop_dhw, agent.tank.cop_dhw)


def test_the_local_qp_agrees_with_the_cvxpy_reference() -> None:
    """`controllers.mpc.formulation` is the readable reference the local QP must agree with."""
    import cvxpy as cp

    from controllers.mpc.formulation import local_reference_problem

    agent = _agent()
    qp = LocalQp(agent)
    solution = qp.solve(polish=True)
    problem, model = local_reference_problem(agent)
    problem.solve(solver=cp.CLARABEL)
    assert abs(problem.value - solution.local_cost) < 1e-3 * max(1.0, abs(problem.value))
    lay = qp.qp.layout
    np.testing.assert_allclose(model.p_net.value[0], solution.x[lay.var("p_net")], atol=2e-3)
