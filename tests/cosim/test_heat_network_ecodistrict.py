"""`cosim eco-district` end to end on small versions of the two eco-district scenarios (one
building per group, 700 m of network, one winter day; real pandapipes, real power flow): the
command writes its table, its JSON and the heat-network figure, and every line is what the runs'
tables and the documented assumptions give when recomputed here independently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.heat.ecodistrict import Assumptions, annuity, within_15_pct
from cosim.heat.planning import fuel_price_per_kwh, gas_by_wood_size, plan_case_b, run_network_heat_kw
from cosim.results.writer import read_table
from cosim.scenario.model import load_scenario
from simulators.heat_network.params import NetworkParams

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _small(name: str, folder: Path) -> Path:
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / name).read_text())
    for group in data["buildings"]:
        group["count"] = 1
    if "heat_network" in data:
        data["heat_network"]["length_m"] = 700
    data["start"] = "2023-01-16T00:00:00"
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    folder = tmp_path_factory.mktemp("eco-district")
    a, b = _small("eco-district-a.yaml", folder), _small("eco-district-b.yaml", folder)
    out = folder / "out"
    result = CliRunner().invoke(
        app,
        ["eco-district", "--a", str(a), "--b", str(b), "--out", str(out), "--duration", "1d", "--no-plan"],
    )
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "eco-district.json").read_text()), result.output


@pytest.fixture(scope="module")
def small_b(comparison: tuple[Path, dict[str, Any], str]) -> Path:
    return comparison[0].parent / "eco-district-b.yaml"


def _line(table: list[dict[str, Any]], name: str, case: str) -> float:
    return float(next(row for row in table if row["line"] == name)[f"platform {case}"])


def test_the_command_prints_the_table_and_writes_the_figure(
    comparison: tuple[Path, dict[str, Any], str],
) -> None:
    out, data, said = comparison
    assert "electricity purchase" in said and "particulates" in said and "B cheaper" in said
    assert (out / "heat-network.png").stat().st_size > 10_000
    assert [row["line"] for row in data["table"]][-2:] == ["total", "CO2 (t/a)"]
    assert set(data["direction"]) == {"B cheaper", "B lower CO2"}


def test_case_b_lines_recomputed_from_the_tables(comparison: tuple[Path, dict[str, Any], str]) -> None:
    out, data, _ = comparison
    folder, year, a = out / "b", 365.0, Assumptions()
    sources = read_table(folder, "heat_sources")
    network = read_table(folder, "heat_network").set_index("time_s")
    prices = read_table(folder, "prices").set_index("time_s")
    meters = read_table(folder, "buildings").groupby("time_s")[["p_kw", "pv_kw"]].sum().sum(axis=1)
    wood = sources[sources["entity"].str.endswith("wood")]
    assert _line(data["table"], "wood", "B") == pytest.approx(
        wood["fuel"].sum() * 30.0 * year / 1e3, rel=1e-9
    )
    bought = (meters + network["p_pump_kw"]) * prices["import_per_kwh"]
    assert _line(data["table"], "electricity purchase", "B") == pytest.approx(
        bought.sum() * year / 1e3, rel=1e-9
    )
    assert _line(data["table"], "particulates", "B") == pytest.approx(
        network["pm_kg"].sum() * 10.0 * year / 1e3, rel=1e-9
    )
    invest = 700 * 400.0 + 5 * 8000.0 + 2400 * 500.0 + 3200 * 60.0 + 2000 * 25.0
    assert _line(data["table"], "capital", "B") == pytest.approx(invest * annuity(a.rate, a.years) / 1e3)
    parts = ["capital", "fixed O&M", "electricity purchase", "gas", "wood", "particulates"]
    assert _line(data["table"], "total", "B") == pytest.approx(
        sum(_line(data["table"], k, "B") for k in parts)
    )
    co2 = (meters + network["p_pump_kw"]).sum() * 0.09 + network["co2_kg"].sum()
    assert _line(data["table"], "CO2 (t/a)", "B") == pytest.approx(co2 * year / 1e3, rel=1e-9)


def test_case_a_pv_income_and_solar_thermal_saving(comparison: tuple[Path, dict[str, Any], str]) -> None:
    out, data, _ = comparison
    buildings = read_table(out / "a", "buildings")
    pv_kwh = buildings["pv_kw"].sum()
    assert pv_kwh > 0
    assert _line(data["table"], "PV feed-in income", "A") == pytest.approx(
        pv_kwh * 0.258 * 365 / 1e3, rel=1e-9
    )
    # the collectors were simulated with the houses: their heat already cut the heaters'
    # electricity, so all of the meters' consumption is bought
    q = data["quantities"]["A"]
    collectors = read_table(out / "a", "solar_thermal")
    assert q["solar thermal collected MWh"] == pytest.approx(collectors["q_collector_kw"].sum() * 365 / 1e3)
    assert q["solar thermal used MWh"] == pytest.approx(buildings["q_solar_used_kw"].sum() * 365 / 1e3)
    assert 0 < q["solar thermal used MWh"] <= q["solar thermal collected MWh"]
    gross_mwh = (buildings["p_kw"] + buildings["pv_kw"]).sum() * 365 / 1e3
    assert q["electricity bought MWh"] == pytest.approx(gross_mwh, rel=1e-9)
    # capital: the scenario's PV (5 entities of 144 kWp) and collectors (5 x 160 m2)
    a = Assumptions()
    invest = 5 * 144.0 * 1000.0 * a.pv_eur_per_wp + 5 * 160.0 * a.solar_thermal_eur_per_m2
    assert _line(data["table"], "capital", "A") == pytest.approx(invest * annuity(a.rate, a.years) / 1e3)
    assert np.isfinite(_line(data["table"], "total", "A"))


def test_planning_calibrates_checks_over_the_run_and_sizes_the_plant(
    comparison: tuple[Path, dict[str, Any], str], small_b: Path
) -> None:
    out = comparison[0]
    scenario = load_scenario(small_b)
    planning = plan_case_b(out / "b", scenario.heat_network_params(), Assumptions(), days=1)
    assert planning.calibration.iterations and np.isfinite(planning.calibration.held_out.loss_nrmse)
    assert planning.year.hours == 24 and planning.year.detailed_loss_mwh > 0
    # the aggregated model follows the detailed losses of the run (fitted on other, synthetic days)
    assert abs(planning.year.loss_energy_error) < 0.25
    network = read_table(out / "b", "heat_network")
    designs = planning.designs
    assert designs["the study's plant"].capacity_kw == pytest.approx({"wood": 1200.0, "gas": 800.0})
    own = "boilers free, the scenario's store"
    assert designs[own].store_kwh == pytest.approx(scenario.heat_network.store.capacity_kwh)
    for name in ("gas boiler free", own, "all free"):
        assert designs[name].unserved_kwh == pytest.approx(0.0, abs=1e-3)
    # freeing a capacity never makes the optimum dearer
    assert designs[own].annual_cost <= designs["gas boiler free"].annual_cost + 1e-6
    assert designs["all free"].annual_cost <= designs[own].annual_cost + 1e-6
    assert designs["gas boiler free"].capacity_kw["wood"] == pytest.approx(1200.0)
    assert (
        float(network["q_network_kw"].max())
        < 1200.0 + 700.0 + designs["gas boiler free"].capacity_kw["gas"] + 1e3
    )


def test_the_planner_prices_each_source_s_heat_with_its_fuel_and_particulates() -> None:
    """Case B's sources: wood 30 €/t at 3,000 kWh/t with 2 kg of particulates per t, gas 30 €/MWh
    at 770 kWh/MWh with 0.0018 kg per MWh; particulates at 10 €/kg (as the table counts them)."""
    scenario = load_scenario(SCENARIOS / "eco-district-b.yaml")
    params = NetworkParams.from_dict(scenario.heat_network_params(), where="case B")
    prices = fuel_price_per_kwh(params, Assumptions())
    assert prices == pytest.approx({"wood": (30.0 + 2.0 * 10.0) / 3000.0, "gas": (30.0 + 0.018) / 770.0})


def test_the_15_pct_verdict_ignores_empty_cells() -> None:
    assert within_15_pct(None, 14.0) == "yes" and within_15_pct(float("nan"), -14.9) == "yes"
    assert within_15_pct(-15.1, 2.0) == "no" and within_15_pct(None, float("nan")) == ""


def test_gas_follows_the_wood_boiler_by_hand() -> None:
    """A day at 1,000 kW with a 4-hour peak of 1,600 kW: a 1,200 kW wood boiler leaves 400 kW × 4 h
    to gas less what the store (100 kWh, 50 kW, η 0.98 each way, 0.2 %/h standing loss) gives in
    the peak: full at its start, 50 kW in the first hour, what is left in the second
    (100·0.998 − 50/0.98)·0.998·0.98 = 47.708 kW; 1,700 kW of wood leaves nothing; 900 kW leaves
    100 kW all day + 700 kW in the peak, with no spare wood to fill the store (gas through the store
    only loses)."""
    heat = np.full(24, 1000.0)
    heat[17:21] = 1600.0
    rows = gas_by_wood_size(heat, 1.0, [900.0, 1200.0, 1700.0], store_kwh=100.0, store_p_kw=50.0)
    assert [r.wood_kw for r in rows] == [900.0, 1200.0, 1700.0]
    second_hour_kw = (100.0 * 0.998 - 50.0 / 0.98) * 0.998 * 0.98
    assert rows[1].gas_heat_mwh == pytest.approx((4 * 400.0 - 50.0 - second_hour_kw) / 1e3, rel=1e-6)
    assert rows[2].gas_heat_mwh == pytest.approx(0.0, abs=1e-9)
    assert rows[0].gas_heat_mwh == pytest.approx((20 * 100.0 + 4 * 700.0) / 1e3, rel=1e-6)
    for r in rows:  # the fuel lines at the study's prices
        assert r.gas_keur == pytest.approx(r.gas_heat_mwh / 0.77 * 30.0 / 1e3)
        assert r.wood_keur == pytest.approx(r.wood_heat_mwh / 3.0 * 30.0 / 1e3)
        assert r.gas_heat_mwh + r.wood_heat_mwh >= heat.sum() / 1e3 - 1e-9


def test_gas_by_wood_size_on_the_run(comparison: tuple[Path, dict[str, Any], str]) -> None:
    heat, dt_h = run_network_heat_kw(comparison[0] / "b")
    assert len(heat) == 24 and dt_h == 1.0
    rows = gas_by_wood_size(heat, dt_h, [100.0, 200.0, 400.0], store_kwh=2000.0, store_p_kw=700.0)
    gas = [r.gas_heat_mwh for r in rows]
    assert gas[0] >= gas[1] >= gas[2] and gas[0] > 0
