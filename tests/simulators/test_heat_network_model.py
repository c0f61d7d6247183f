"""Physics of the heat-network model, on real pandapipes solutions: mass balance at every node,
the heat balance of every step (plant = demand + losses + storage change), pipe losses against a
one-pipe case computed by hand, a calculation that does not converge, and the plant's dispatch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.heat_network.hydraulics import Fluid, PipeNetwork
from simulators.heat_network.layout import Topology, build_district, segment_street
from simulators.heat_network.model import HeatNetworkModel, HeatNetworkStep
from simulators.heat_network.params import NetworkParams
from simulators.heat_network.plant import GAS_BOILER, WOOD_BOILER, Plant
from simulators.storage.model import StorageSpec

N_SUB = 24
PARAMS = NetworkParams.from_dict({
    "layout": {"n_substations": N_SUB, "total_length_m": 2400.0, "design_kw": 25.0},
    "store": {"capacity_kwh": 400.0, "p_max_kw": 150.0, "soc_init": 0.5},
    "sources": [
        {"name": "wood", "q_max_kw": 300.0, "heat_per_unit_kwh": 3000.0, "fuel_unit": "t",
         "price_per_unit": 30.0, "pm_kg_per_unit": 1.0},
        {"name": "gas", "q_max_kw": 400.0, "heat_per_unit_kwh": 770.0, "price_per_unit": 30.0,
         "co2_kg_per_unit": 200.0},
    ],
})


def _demands(rng: np.random.Generator, t_out_c: float) -> np.ndarray:
    """Heat demand per substation (kW): an energy signature with building-to-building scatter."""
    share = np.clip((15.0 - t_out_c) / 27.0, 0.0, 1.0)
    return np.asarray(np.clip(25.0 * share + rng.normal(1.5, 2.0, N_SUB), 0.0, None))


@pytest.fixture(scope="module")
def run() -> tuple[HeatNetworkModel, list[HeatNetworkStep]]:
    """Eight hourly steps through a cold morning and a mild afternoon (store charging and
    discharging, supply temperature moving, the gas boiler on and off)."""
    model = HeatNetworkModel(PARAMS)
    rng = np.random.default_rng(3)
    steps = []
    for t_out in (-10.0, -8.0, -3.0, 2.0, 8.0, 12.0, 4.0, -6.0):
        steps.append(model.step(_demands(rng, t_out), t_out, 7.0, 1.0))
    return model, steps


def test_every_step_converges_without_events(run: tuple[HeatNetworkModel, list[HeatNetworkStep]]) -> None:
    _, steps = run
    assert all(s.converged and not s.events for s in steps)
    stores = [s.plant.p_store_kw for s in steps]
    assert min(stores) < -1.0 and max(stores) > 1.0  # the store both charges and discharges
    assert len({round(s.t_supply_set_c, 3) for s in steps}) > 4  # the heating curve moves


def test_mass_balance_at_every_node(run: tuple[HeatNetworkModel, list[HeatNetworkStep]]) -> None:
    model, steps = run
    topo = model.topology
    parent = np.asarray(topo.parent)
    nodes = np.asarray(topo.substation_node)
    for s in steps:
        f = s.flow
        for side, m_pipe in (("supply", f.m_segment_kg_s), ("return", f.m_return_kg_s)):
            # outflow of every node (supply: to its children and its substation; return: the reverse)
            out_of = np.zeros(topo.n_nodes)
            np.add.at(out_of, parent, m_pipe)
            np.add.at(out_of, nodes, f.m_sub_kg_s)
            into = np.concatenate([[f.m_pump_kg_s], m_pipe])
            assert np.max(np.abs(out_of - into)) <= 1e-6 * f.m_pump_kg_s, side
        assert f.m_sub_kg_s == pytest.approx(s.m_sub_kg_s, rel=1e-9)  # the flows the substations set


def test_heat_balance_of_every_step(run: tuple[HeatNetworkModel, list[HeatNetworkStep]]) -> None:
    model, steps = run
    e_store = [PARAMS.store.capacity_kwh * PARAMS.store.soc_init] + [s.plant.e_store_kwh for s in steps]
    for k, s in enumerate(steps):
        p = s.plant
        demand, losses = float(s.q_demand_kw.sum()), s.q_loss_kw
        storage_change = p.p_store_kw + s.q_water_kw  # heat store (incl. its own losses) + water in the pipes
        plant = float(p.q_source_kw.sum())
        assert p.unserved_kw == 0.0 and p.dumped_kw == 0.0
        assert plant == pytest.approx(demand + losses + storage_change, rel=1e-6)
        # the parts: the pump's heat is demand + pipe losses; the store's power is its energy change + loss
        assert s.flow.q_pump_kw == pytest.approx(demand + losses, rel=1e-6)
        assert p.p_store_kw == pytest.approx(e_store[k + 1] - e_store[k] + p.store_loss_kw, abs=1e-6)
        if k:
            assert s.q_water_kw == pytest.approx(s.e_water_kwh - steps[k - 1].e_water_kwh, rel=1e-9)
    assert losses > 0 and model.topology.total_length_m == pytest.approx(2400.0)


def test_pipe_loss_equals_u_l_mean_temperature_excess_on_one_pipe() -> None:
    """Plant → one 500 m DN100 pipe → one substation → 500 m return pipe, by hand."""
    u, length, d_mm = 0.3, 500.0, 107.1  # W/(m·K), m, mm
    topo = Topology(parent=(0,), length_m=(length,), diameter_mm=(d_mm,), u_w_per_mk=(u,),
                    substation_node=(1,), design_kw=(200.0,), street=(0,))
    cp = Fluid().cp_j_kgk  # the model's constant heat capacity, 4185 J/(kg·K)
    m, q_kw, t_in, t_ground = 1.5, 150.0, 85.0, 8.0
    flow = PipeNetwork(topo).solve(np.array([m]), np.array([q_kw]), t_in, t_ground)
    assert flow.converged
    # supply pipe: exponential decay of the excess over ground along the pipe
    t_out = t_ground + (t_in - t_ground) * math.exp(-u * length / (m * cp))
    loss_hand_kw = u * length * ((t_in + t_out) / 2.0 - t_ground) / 1e3
    assert flow.t_sub_in_c[0] == pytest.approx(t_out, abs=1e-6)
    assert flow.loss_supply_kw[0] == pytest.approx(loss_hand_kw, rel=1e-3)
    # return pipe: starts at the substation's outlet, T_out − Q / (ṁ c_p)
    t_ret_in = t_out - q_kw * 1e3 / (m * cp)
    t_ret_out = t_ground + (t_ret_in - t_ground) * math.exp(-u * length / (m * cp))
    assert flow.loss_return_kw[0] == pytest.approx(u * length * ((t_ret_in + t_ret_out) / 2 - t_ground) / 1e3,
                                                   rel=1e-3)
    assert flow.t_return_c[0] == pytest.approx(t_ret_out, abs=1e-6)
    # Darcy–Weisbach on the same pipe: p_in − p_out = λ (l/d) ρ v² / 2, λ from Nikuradse (fully rough)
    rho, d_m = Fluid().rho_kg_m3, d_mm / 1e3
    v = m / (rho * math.pi * d_m**2 / 4)
    lam = (-2 * math.log10(0.05e-3 / (3.71 * d_m))) ** -2
    re = rho * v * d_m / Fluid().mu_pa_s
    dp_bar = (lam + 64 / re) * length / d_m * rho * v**2 / 2 / 1e5  # pandapipes adds the laminar term
    assert flow.p_supply_bar[0] - flow.p_supply_bar[1] == pytest.approx(dp_bar, rel=1e-3)


def test_a_calculation_that_does_not_converge_is_an_event_and_the_next_step_runs() -> None:
    """A 10 MW demand at a 25 kW substation: pandapipes' hydraulic Newton iteration does not converge
    within its limit (a real failure, no mock)."""
    model = HeatNetworkModel(PARAMS)
    rng = np.random.default_rng(5)
    first = model.step(_demands(rng, 0.0), 0.0, 7.0, 1.0)
    spike = _demands(rng, 0.0)
    spike[7] = 1e7
    failed = model.step(spike, 0.0, 7.0, 1.0)
    after = model.step(_demands(rng, 0.0), 0.0, 7.0, 1.0)
    assert first.converged and after.converged and not failed.converged
    assert failed.events[0].kind == "not_converged"
    assert "did not converge" in failed.events[0].message
    assert np.isnan(failed.flow.t_sub_in_c).all() and math.isnan(failed.q_loss_kw)
    # the plant still accounts for the step: the demand plus the last converged losses
    assert failed.q_network_kw == pytest.approx(spike.sum() + first.q_loss_kw)
    assert after.q_loss_kw == pytest.approx(first.q_loss_kw, rel=0.05)


def test_non_finite_demand_is_an_event_and_counts_as_zero() -> None:
    model = HeatNetworkModel(PARAMS)
    q = np.full(N_SUB, 10.0)
    q[2] = math.inf
    step = model.step(q, 0.0, 7.0, 1.0)
    assert step.converged and step.events[0].kind == "non_finite_input"
    assert step.q_demand_kw[2] == 0.0 and step.q_demand_kw.sum() == pytest.approx(10.0 * (N_SUB - 1))


def test_return_temperatures_meet_their_load_dependent_targets(
        run: tuple[HeatNetworkModel, list[HeatNetworkStep]]) -> None:
    model, steps = run
    tol = PARAMS.control.return_tol_k
    for s in steps:
        regulating = s.m_sub_kg_s > PARAMS.control.m_min_share * model.m_design_kg_s * 1.000001
        miss = np.abs(s.flow.t_sub_out_c - s.t_return_target_c)[regulating]
        assert s.solves < PARAMS.control.max_solves and miss.max() <= tol
        assert (s.flow.dp_sub_bar >= PARAMS.solver.dp_min_bar - 1e-9).all()
        assert s.flow.dp_sub_bar.min() == pytest.approx(PARAMS.solver.dp_min_bar)  # the pump's control
    cold, mild = steps[0], steps[5]
    assert cold.t_return_target_c.mean() > mild.t_return_target_c.mean()  # lower load, lower return
    # heating curve at -10 °C: 70 °C at 15 °C rising to 90 °C at -12 °C
    assert cold.t_supply_set_c == pytest.approx(70.0 + 20.0 * 25.0 / 27.0)
    assert cold.p_pump_kw == pytest.approx(cold.flow.p_pump_hyd_kw / 0.6)


def test_plant_merit_order_store_and_emissions() -> None:
    plant = Plant([GAS_BOILER, WOOD_BOILER], StorageSpec(kind="tank", capacity_kwh=2000.0, c_rate_per_h=0.35,
                                                         soc_init=0.5, eta_charge=1.0, eta_discharge=1.0,
                                                         loss_per_h=0.0))
    assert plant.names == ["wood", "gas"]  # wood heat is cheaper (10 vs 39 €/MWh)
    low = plant.dispatch(900.0, 1.0)  # wood covers it and charges the store with its spare 300 kW
    assert low.q_source_kw.tolist() == pytest.approx([1200.0, 0.0])
    assert low.p_store_kw == pytest.approx(300.0)
    high = plant.dispatch(1700.0, 1.0)  # 500 kW beyond wood: the store gives it before gas runs
    assert high.q_source_kw.tolist() == pytest.approx([1200.0, 0.0])
    assert high.p_store_kw == pytest.approx(-500.0)
    peak = plant.dispatch(2500.0, 1.0)  # store at its 700 kW limit, gas covers the rest
    assert peak.q_source_kw.tolist() == pytest.approx([1200.0, 600.0])
    assert peak.p_store_kw == pytest.approx(-700.0)
    assert peak.fuel.tolist() == pytest.approx([1200.0 / 3000.0, 600.0 / 770.0])  # t of wood, MWh of gas
    assert peak.co2_kg.tolist() == pytest.approx([0.0, 600.0 / 770.0 * 200.0])
    assert peak.pm_kg[0] == pytest.approx(0.4 * 1.0)
    over = plant.dispatch(5000.0, 1.0)
    assert over.unserved_kw == pytest.approx(5000.0 + over.p_store_kw - over.q_source_kw.sum())
    assert over.q_source_kw.tolist() == pytest.approx([1200.0, 800.0]) and over.unserved_kw > 0


def test_district_builder() -> None:
    for n in (10, 100, 500):
        topo = build_district(n, 7000.0, design_kw=20.0)
        assert topo.n_substations == n and topo.total_length_m == pytest.approx(7000.0)
        assert len(set(topo.substation_node)) == n
        diameters = np.asarray(topo.diameter_mm)
        feeding = np.maximum(np.asarray(topo.parent) - 1, 0)  # the segment that feeds each segment
        assert (diameters <= diameters[feeding]).all()  # a pipe is never wider than the one feeding it
        assert diameters[-1] < diameters[0]
        streets = segment_street(topo)
        n_streets = round(math.sqrt(n))
        assert (streets[: n_streets - 1] == -1).all()  # the trunk serves several streets (its last: one)
        assert (streets[n_streets:] >= 0).all()
    with pytest.raises(ValueError, match="n_substations"):
        build_district(0, 100.0)


def test_the_light_pipeflow_gives_pandapipes_pipeflow_bit_for_bit() -> None:
    """After its first solve `PipeNetwork` runs pandapipes' calculation without filling the result
    tables and reads the pit (hydraulics.py): every field of every solution equals the whole
    `pipeflow`'s, over steps where the demands, the supply and ground temperatures and the pump's
    lift move, one that does not converge, and the steps after it."""
    plans = []
    rng = np.random.default_rng(11)
    for k, t_out in enumerate((-10.0, -3.0, 8.0, 12.0, -6.0, 0.0, 4.0)):
        q = _demands(rng, t_out)
        if k == 4:
            q[7] = 1e7  # does not converge
        plans.append((q, t_out, 5.0 + k))

    def solutions(full: bool) -> list[HeatNetworkStep]:
        model = HeatNetworkModel(PARAMS)
        model.network.full_pipeflow = full
        return [model.step(q, t_out, t_ground, 1.0) for q, t_out, t_ground in plans]

    light, whole = solutions(False), solutions(True)
    assert [s.converged for s in light] == [True, True, True, True, False, True, True]
    assert sum(s.solves for s in light) > len(plans)  # the return-temperature loop re-solves too
    for a, b in zip(light, whole, strict=True):
        for name in a.flow.__dataclass_fields__:
            if name != "solve_time_ms":
                np.testing.assert_array_equal(getattr(a.flow, name), getattr(b.flow, name), err_msg=name)
        assert a.q_network_kw == b.q_network_kw or (math.isnan(a.q_network_kw) and math.isnan(b.q_network_kw))
        np.testing.assert_array_equal(a.plant.q_source_kw, b.plant.q_source_kw)
