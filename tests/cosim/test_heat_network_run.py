"""The heat network in a run: `scenarios/heat-network-demo.yaml` end to end (real pandapipes, real
power flow) and the misconfigurations `cosim validate` and `cosim run` refuse alike.

From the recorded tables: the network's heat balance every step (sources = substations' demand +
pipe losses + change of the water's heat + store power − unserved + dumped), the substations
receive exactly what their buildings draw, the buildings stay comfortable, the store's energy
follows its power, the pump's power is a load on the grid at the plant's bus (the external grid
balances it), and the KPIs add up from the tables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.cli.errors import ExitCode
from cosim.results.writer import list_tables, read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import load_scenario

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "heat-network-demo.yaml"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> RunSummary:
    scenario = load_scenario(DEMO)
    return run_scenario(scenario, tmp_path_factory.mktemp("heat-network-demo"), echo=lambda _: None)


def _by_time(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.groupby("time_s")[column].sum().sort_index()


def test_heat_balance_of_the_network_every_step(demo_run: RunSummary) -> None:
    out = demo_run.out_dir
    network = read_table(out, "heat_network").set_index("time_s").sort_index()
    sources = _by_time(read_table(out, "heat_sources"), "q_kw")
    store = read_table(out, "heat_store").set_index("time_s").sort_index()
    assert len(network) == 96 and network["converged"].all()
    # the plant's header: Σ sources = heat into the network + store power − unserved + dumped
    header = network["q_network_kw"] + store["p_th_kw"] - network["unserved_kw"] + network["dumped_kw"]
    np.testing.assert_allclose(sources.to_numpy(), header.to_numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(network["q_plant_kw"].to_numpy(), sources.to_numpy(), rtol=1e-9)
    # the network: heat in = substations' demand + pipe losses + change of the water's heat
    into_network = network["q_demand_kw"] + network["q_loss_kw"] + network["q_water_kw"]
    np.testing.assert_allclose(network["q_network_kw"], into_network, rtol=1e-6)
    # the store: energy follows its power (charging efficiency and standing loss inside its model)
    # the store discharges into the network (with the heating curve this January day keeps the wood
    # boiler at its limit, so it does not recharge); the charging direction is in the simulator's tests
    assert (store["p_th_kw"] < -1.0).any()
    assert store["soc"].between(0.0, 1.0).all() and store["soc"].iloc[-1] < store["soc"].iloc[0]
    # both sources ran, cheapest first: gas only when the wood boiler was at its limit
    q = read_table(out, "heat_sources").pivot(index="time_s", columns="entity", values="q_kw")
    wood, gas = q["heat_network.wood"], q["heat_network.gas"]
    assert (gas > 0).any() and (wood[gas > 0] >= 30.0 - 1e-9).all()
    assert network["q_loss_kw"].gt(0).all() and network["t_supply_c"].between(65.0, 90.0).all()


def test_substations_get_what_their_buildings_draw_and_the_buildings_stay_comfortable(
    demo_run: RunSummary,
) -> None:
    out = demo_run.out_dir
    buildings = read_table(out, "buildings")
    substations = read_table(out, "substations")
    assert substations["entity"].nunique() == 10 == buildings["entity"].nunique()
    drawn = buildings.set_index(["time_s", "entity"])["q_district_kw"]
    received = substations.assign(entity=substations["entity"].str.removesuffix(".substation")).set_index(
        ["time_s", "entity"]
    )["q_demand_kw"]
    pd.testing.assert_series_equal(received.sort_index(), drawn.sort_index(), check_names=False)
    np.testing.assert_allclose(
        buildings["q_district_kw"], buildings["heat_th_kw"] + buildings["dhw_th_kw"], rtol=1e-12
    )
    assert (buildings["gas_kw"] == 0).all() and (buildings["hp_p_kw"] == 0).all()
    network = read_table(out, "heat_network").set_index("time_s").sort_index()
    np.testing.assert_allclose(network["q_demand_kw"], _by_time(buildings, "q_district_kw"), rtol=1e-9)
    # a winter day: the buildings heat, and they are kept at their thermostats' settings
    assert buildings.groupby("entity")["heat_th_kw"].sum().gt(0).all()
    assert buildings["comfort_violation_k"].sum() == 0.0
    assert buildings["t_in_c"].between(20.0, 22.0).all()
    # flats draw more heat than houses, substations return cooler water under load
    mean = substations.groupby("entity")["q_demand_kw"].mean()
    assert mean.filter(like="flats").min() > mean.filter(like="house").max()
    assert (substations["t_return_c"] < substations["t_supply_c"]).all()


def test_the_pump_is_a_load_on_the_grid_at_the_plant_bus(demo_run: RunSummary) -> None:
    out = demo_run.out_dir
    network = read_table(out, "heat_network").set_index("time_s").sort_index()
    grid = read_table(out, "grid").set_index("time_s").sort_index()
    connections = read_table(out, "connections")
    assert (connections.loc[connections["entity"] == "heat_network", "bus"] == 3).all()
    assert network["p_pump_kw"].gt(0).all()
    buildings = _by_time(read_table(out, "buildings"), "p_kw")
    # the grid's connections carry the buildings and the pump; losses close the external grid's balance
    np.testing.assert_allclose(
        grid["p_connections_kw"], buildings + network["p_pump_kw"], rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(grid["p_ext_kw"], grid["p_connections_kw"] + grid["losses_kw"], atol=1e-6)


def test_kpis_add_up_from_the_tables(demo_run: RunSummary) -> None:
    out = demo_run.out_dir
    kpis = json.loads((out / "kpis.json").read_text())
    heat, dt_h = kpis["heat"], 0.25
    network = read_table(out, "heat_network")
    sources = read_table(out, "heat_sources")
    assert heat["delivered_kwh"] == pytest.approx(network["q_demand_kw"].sum() * dt_h)
    assert heat["losses_kwh"] == pytest.approx(network["q_loss_kw"].sum() * dt_h)
    assert heat["losses_pct"] == pytest.approx(100 * heat["losses_kwh"] / heat["delivered_kwh"])
    assert heat["pump_kwh"] == pytest.approx(network["p_pump_kw"].sum() * dt_h)
    assert heat["unserved_kwh"] == 0.0 and heat["non_converged_steps"] == 0
    wood = sources[sources["entity"] == "heat_network.wood"]
    gas = sources[sources["entity"] == "heat_network.gas"]
    assert heat["wood_fuel_t"] == pytest.approx(wood["q_kw"].sum() * dt_h / 3000.0)
    assert heat["gas_fuel_mwh"] == pytest.approx(gas["q_kw"].sum() * dt_h / 770.0)
    assert heat["co2_kg"] == pytest.approx(heat["gas_fuel_mwh"] * 200.0) and heat["co2_kg"] > 0
    assert heat["pm_kg"] == pytest.approx(heat["wood_fuel_t"] * 1.0 + heat["gas_fuel_mwh"] * 0.0018)
    cost = kpis["cost"]
    assert cost["heat_fuel"] == pytest.approx(30.0 * (heat["wood_fuel_t"] + heat["gas_fuel_mwh"]))
    assert cost["total"] == pytest.approx(
        cost["electricity"] + cost["gas"] + cost["heat_fuel"] + cost["heat_pump_electricity"]
    )
    assert kpis["co2"]["co2_kg"] > heat["co2_kg"]  # grid electricity on top of the plant's gas
    # wall time kept apart: the network's table is reproducible
    assert "solve_time_ms" not in network and "heat_network_timing" in list_tables(out)


BASE: dict[str, Any] = {
    "name": "hn-mistake",
    "start": "2024-01-17T00:00:00",
    "duration": "1h",
    "step": "15min",
    "buildings": [{"name": "house", "count": 2, "heating": "district"}],
    "heat_network": {"length_m": 200},
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"kind": "rule_based", "transport": "inprocess"},
}
MISTAKES = {
    "no-section": ({"heat_network": None}, ("buildings.0.heating", "`heat_network` section")),
    "nobody-served": (
        {"buildings": [{"name": "house", "count": 2}]},
        ("heat_network", "no building group has `heating: district`"),
    ),
    "pump-bus": ({"heat_network": {"bus": 0}}, ("heat_network.bus", "not a low-voltage bus")),
    "too-many-streets": ({"heat_network": {"n_streets": 3}}, ("heat_network", "n_streets")),
    "unknown-key": ({"heat_network": {"length": 200}}, ("heat_network.length", "unknown key", "length_m")),
    "store-power": (
        {"heat_network": {"store": {"capacity_kwh": 100}}},
        ("heat_network.store.p_max_kw", "required"),
    ),
    "same-source-twice": (
        {"heat_network": {"sources": [{"name": "w", "q_max_kw": 50, "heat_per_unit_kwh": 3000}] * 2}},
        ("heat_network.sources", "unique"),
    ),
    "external-district": (
        {"buildings": [{"name": "house", "heating": "district", "external": True}]},
        ("buildings.0", "external building cannot be district-heated"),
    ),
}


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, re.sub(r"\s+", " ", result.output)


@pytest.mark.parametrize("change, says", MISTAKES.values(), ids=list(MISTAKES))
def test_validate_and_run_refuse_a_misconfigured_heat_network(
    tmp_path: Path, change: dict[str, Any], says: tuple[str, ...]
) -> None:
    data = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    code_validate, said_validate = _invoke("validate", str(path))
    code_run, said_run = _invoke("run", str(path), "--out", str(tmp_path / "out"), "-q")
    assert code_validate == code_run == ExitCode.INPUT
    assert said_validate == said_run and "Traceback" not in said_run
    for part in says:
        assert part in said_validate, f"{part!r} not in {said_validate!r}"
    assert list_tables(tmp_path / "out") == []


def test_the_eco_district_scenarios_are_valid() -> None:
    scenario = load_scenario(DEMO.parent / "eco-district-b.yaml")
    # 4,000 flats of 100 m² as 50 group substations of 8,000 m²; the study's annual demand
    assert scenario.n_buildings == 50 and scenario.heat_network is not None
    assert sum(g.count * g.floor_area_m2 for g in scenario.buildings) == 400_000
    assert sum(g.count * g.space_heating_kwh_a for g in scenario.buildings) == pytest.approx(4_988_000)
    params = scenario.heat_network_params()
    assert params["layout"]["total_length_m"] == 7000 and params["store"]["capacity_kwh"] == 2000
    assert params["dispatch"]["kind"] == "mpc"
    assert params["sources"][0]["q_max_kw"] == 2400  # two of the study's 1.2 MW wood boilers
    # the network's design: twin pipes of EN 253 series 2, summer bypasses at the street ends only
    assert params["layout"]["twin_pipes"] and params["layout"]["insulation_series"] == 2
    assert params["control"]["bypass"] == "ends"
    case_a = load_scenario(DEMO.parent / "eco-district-a.yaml")
    # the study's 72,000 m² of 100 Wp/m² modules; 8,000 m² of collectors and 1 MWh of store
    assert sum(g.count * g.pv_kwp for g in case_a.buildings) == pytest.approx(7200.0)
    collectors = [g.solar_thermal for g in case_a.buildings]
    assert sum(g.count * c.area_m2 for g, c in zip(case_a.buildings, collectors, strict=True) if c) == 8000
    assert sum(g.count * c.store_kwh for g, c in zip(case_a.buildings, collectors, strict=True) if c) == 1000
    # both calibrated against the site's weather with their gains, not by degree days
    assert scenario.site.heating_degree_days_kd is None and case_a.site.heating_degree_days_kd is None
    assert sum(g.count * g.appliances_kwh_a for g in case_a.buildings) == pytest.approx(8_976_000)
    for name in ("eco-district-a.yaml", "eco-district-b.yaml"):
        code, said = _invoke("validate", str(DEMO.parent / name))
        assert code == ExitCode.OK, said


HEAT_TABLES = ("heat_network", "substations", "heat_sources", "heat_store", "buildings")


def test_same_tables_byte_for_byte_in_process_and_as_separate_processes(tmp_path: Path) -> None:
    """Two runs of the same scenario write identical heat tables (wall times kept apart), whether
    the simulators run in process or each in its own process (the heat network too)."""
    scenario = load_scenario(DEMO).model_copy(update={"duration": 2 * 3600})
    execution = scenario.execution.model_copy(update={"processes": True})
    processes = scenario.model_copy(update={"execution": execution})
    run_scenario(scenario, tmp_path / "a", echo=lambda _: None)
    run_scenario(processes, tmp_path / "b", echo=lambda _: None)
    for table in HEAT_TABLES:
        a = (tmp_path / "a" / table / "all.parquet").read_bytes()
        assert a == (tmp_path / "b" / table / "all.parquet").read_bytes(), table


def test_predictive_controllers_run_with_district_heated_buildings(tmp_path: Path) -> None:
    """The centralised MPC plans the buildings' electricity; district-heated buildings have no heat
    pump to plan (their heating follows the thermostat, like a gas boiler's)."""
    data = yaml.safe_load(DEMO.read_text())
    mpc = {"kind": "mpc", "transport": "inprocess", "mpc": {"horizon": "2h"}}
    data |= {"duration": "2h", "controller": mpc}
    data["grid"] |= {"transformer_limit_kw": 60}
    path = tmp_path / "mpc.yaml"
    path.write_text(yaml.safe_dump(data))
    summary = run_scenario(load_scenario(path), tmp_path / "out", echo=lambda _: None)
    assert summary.kpis["heat"]["delivered_kwh"] > 0 and summary.kpis["comfort"]["discomfort_kh"] == 0.0
    steps = read_table(summary.out_dir, "mpc_steps")
    assert len(steps) == 8
