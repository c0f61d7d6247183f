"""End-to-end runs: results, KPIs, energy conservation, storage equations, determinism, plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cosim.results.plots import plot_run
from cosim.results.writer import ResultsExistError, list_tables, read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario

pytestmark = pytest.mark.slow


def test_run_writes_tables_and_kpis(small_run: RunSummary, small_scenario: Scenario) -> None:
    out = small_run.out_dir
    assert {
        "buildings",
        "batteries",
        "tanks",
        "setpoints",
        "connections",
        "grid",
        "buses",
        "lines",
        "trafos",
        "weather",
        "prices",
        "entities",
    } <= set(list_tables(out))
    buildings = read_table(out, "buildings")
    assert len(buildings) == small_scenario.n_steps * small_scenario.n_buildings
    assert buildings["time_s"].nunique() == small_scenario.n_steps
    kpis = json.loads((out / "kpis.json").read_text())
    for group, keys in {
        "energy": ["imported_kwh", "exported_kwh", "losses_kwh"],
        "cost": ["total"],
        "co2": ["co2_kg"],
        "peak": ["peak_import_kw", "daily_peak_mean_kw", "ramping_kw", "one_minus_load_factor"],
        "comfort": ["discomfort_kh"],
        "grid": ["voltage_violation_bus_h", "trafo_overload_h"],
    }.items():
        for key in keys:
            assert np.isfinite(kpis[group][key]), f"{group}.{key}"
    assert json.loads((out / "run.json").read_text())["status"] == "completed"


def test_energy_conservation_every_step(small_run: RunSummary) -> None:
    """Σ building and storage powers at the connections + line and trafo losses = external grid, per step."""
    out = small_run.out_dir
    grid = read_table(out, "grid").set_index("time_s").sort_index()
    assert grid["converged"].all()
    buildings = read_table(out, "buildings").groupby("time_s")["p_kw"].sum()
    batteries = read_table(out, "batteries").groupby("time_s")["p_kw"].sum()
    injections = buildings.add(batteries, fill_value=0.0).reindex(grid.index)
    balance = injections + grid["line_losses_kw"] + grid["trafo_losses_kw"]
    np.testing.assert_allclose(balance, grid["p_ext_kw"], rtol=1e-6, atol=1e-9)
    # the grid saw exactly what the simulators produced
    np.testing.assert_allclose(grid["p_connections_kw"], injections, rtol=1e-12, atol=1e-9)


def test_battery_soc_follows_its_equation(small_run: RunSummary, small_scenario: Scenario) -> None:
    batteries = read_table(small_run.out_dir, "batteries").sort_values("time_s")
    dt_h = small_scenario.step / 3600
    for name, rows in batteries.groupby("entity"):
        capacity = 30.0 if name == "community" else 6.0
        e = (0.5 if name == "community" else 0.2) * capacity
        for p, e_reported in zip(rows["p_kw"], rows["e_kwh"], strict=True):
            e = (1 - 1e-4 * dt_h) * e + dt_h * (0.9 * max(p, 0.0) - max(-p, 0.0) / 0.9)
            assert e_reported == pytest.approx(e, rel=1e-9, abs=1e-9)
        assert rows["soc"].between(0, 1).all()
    behind_meter = batteries[batteries["entity"] != "community"]
    assert (behind_meter["p_kw"] > 0.1).any()  # rule-based self-consumption charged on PV surplus


def test_rule_based_setpoints_and_dsm(small_run: RunSummary) -> None:
    out = small_run.out_dir
    setpoints = read_table(out, "setpoints")
    bat = setpoints[setpoints["entity"].str.startswith("bat-")]
    buildings = read_table(out, "buildings").set_index(["time_s", "entity"])
    joined = bat.set_index(["time_s", "entity"]).join(buildings["p_kw"])
    # p_bat = −p_building, within what the battery could take over the step (its limits at the step's
    # start: the battery's outputs of the step before)
    limits = read_table(out, "batteries")
    limits = limits[limits["entity"].str.startswith("bat-")].sort_values(["entity", "time_s"])
    limits["entity"] = limits["entity"].str.removesuffix(".battery")
    for column in ("p_charge_max_kw", "p_discharge_max_kw"):
        limits[column] = limits.groupby("entity")[column].shift(1)
    joined = joined.join(limits.set_index(["time_s", "entity"])[["p_charge_max_kw", "p_discharge_max_kw"]])
    joined = joined.dropna(subset=["p_charge_max_kw"])  # the first step's limits come from the spec
    expected = (-joined["p_kw"]).clip(lower=-joined["p_discharge_max_kw"], upper=joined["p_charge_max_kw"])
    np.testing.assert_allclose(joined["battery_p_set_kw"], expected)
    assert (expected != -joined["p_kw"]).any() and (expected == -joined["p_kw"]).any()  # both cases occur
    flex = read_table(out, "buildings")
    flex = flex[flex["entity"].str.startswith("pv-")]
    hours = pd.to_datetime(flex["timestamp"]).dt.tz_convert("Europe/Berlin").dt.hour
    assert (flex.loc[(hours >= 10) & (hours < 12), "flex_p_kw"] < 0).all()  # curtailed in the DSM window
    assert flex["flex_p_kw"].sum() * 0.25 == pytest.approx(0.0, abs=1e-6)  # and restored within the run


def test_same_seed_same_results(small_scenario: Scenario, small_run: RunSummary, tmp_path: Path) -> None:
    again = run_scenario(small_scenario, tmp_path / "again")
    for table in ("buildings", "batteries", "grid", "buses", "setpoints"):
        a = read_table(small_run.out_dir, table).drop(columns=["pf_time_ms"], errors="ignore")
        b = read_table(again.out_dir, table).drop(columns=["pf_time_ms"], errors="ignore")
        pd.testing.assert_frame_equal(a, b)


def test_plots(small_run: RunSummary) -> None:
    paths = plot_run(small_run.out_dir)
    names = {p.name for p in paths}
    assert {"district_load.png", "voltages.png", "indoor_temperatures.png", "soc.png"} <= names
    for p in paths:
        assert p.stat().st_size > 10_000  # a real figure, not an empty canvas


def test_refuses_to_mix_runs(small_scenario: Scenario, small_run: RunSummary) -> None:
    with pytest.raises(ResultsExistError, match="--overwrite"):
        run_scenario(small_scenario, small_run.out_dir)
