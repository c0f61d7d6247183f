"""Hot-water tanks and standalone batteries are operated (issue 15, item 1: nothing was connected to
their setpoints, so a tank's `p_th_kw` stayed 0 and a community battery's `p_kw` too).

Each purpose is checked against the same run without the unit's control: a standalone battery
lowers the feeder's peak; a tank moves the heat pump's hot-water load into PV-rich hours. Energy
conservation at the feeder and the storage equation are checked on the runs' own tables. Over MQTT:
the shared small scenario (a tank and a community battery, MQTT by default) operates both, and
`test_mqtt_run` holds it equal to the same scenario in process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import load_scenario
from tests.cosim.conftest import write_scenario

WINTER: dict[str, Any] = {
    "name": "winter-feeder",
    "start": "2024-01-16T00:00:00",
    "duration": "3d",
    "step": "15min",
    "seed": 5,
    "sources": {"prices": {"kind": "tou"}},
    "buildings": [
        {"name": "hp", "count": 6, "pv_kwp": 3},
        {"name": "flats", "type": "multi_family"},
    ],
    "storage": [{"name": "community", "capacity_kwh": 80, "bus": 5}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"kind": "rule_based", "transport": "inprocess"},
}

SPRING_TANKS: dict[str, Any] = {
    "name": "spring-tanks",
    "start": "2024-04-22T00:00:00",
    "duration": "2d",
    "step": "15min",
    "seed": 8,
    "sources": {"prices": {"kind": "tou"}},
    "buildings": [{"name": "house", "count": 3, "pv_kwp": 6, "tank": {"capacity_kwh": 8, "soc_init": 0.2}}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"kind": "rule_based", "transport": "inprocess"},
}


def _run(tmp: Path, data: dict[str, Any], name: str) -> RunSummary:
    folder = tmp / name
    folder.mkdir()
    return run_scenario(load_scenario(write_scenario(folder, data)), folder / "out")


@pytest.fixture(scope="module")
def winter_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunSummary, RunSummary]:
    tmp = tmp_path_factory.mktemp("winter")
    without = {k: v for k, v in WINTER.items() if k != "storage"}
    return _run(tmp, WINTER, "with"), _run(tmp, without, "without")


@pytest.fixture(scope="module")
def tank_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunSummary, RunSummary]:
    tmp = tmp_path_factory.mktemp("tanks")
    idle = {**SPRING_TANKS, "controller": {"kind": "none", "transport": "inprocess"}}
    return _run(tmp, SPRING_TANKS, "rule_based"), _run(tmp, idle, "idle")


def _series(run: RunSummary, table: str, entity: str, column: str) -> pd.Series:
    frame = read_table(run.out_dir, table)
    rows = frame[frame["entity"] == entity].sort_values("time_s")
    return pd.Series(rows[column].to_numpy(dtype=float), index=rows["time_s"].to_numpy())


def _check_storage_equation(batteries: pd.DataFrame, capacity_kwh: float, step_h: float, eta: float,
                            loss_per_h: float, e0_kwh: float) -> None:
    """e⁺ = (1 − loss·Δt)·e + Δt·(η·p_ch − p_dis/η) on every step of the run's table."""
    p = batteries["p_kw"].to_numpy()
    e = batteries["e_kwh"].to_numpy()
    before = np.concatenate([[e0_kwh], e[:-1]])
    stored = eta * np.maximum(p, 0) - np.maximum(-p, 0) / eta
    expected = (1 - loss_per_h * step_h) * before + step_h * stored
    np.testing.assert_allclose(e, expected, atol=1e-9)
    np.testing.assert_allclose(batteries["soc"].to_numpy(), e / capacity_kwh, atol=1e-12)


def test_a_standalone_battery_lowers_the_feeder_peak(winter_runs: tuple[RunSummary, RunSummary]) -> None:
    with_battery, without = winter_runs
    feeder = _series(with_battery, "grid", "grid", "p_ext_kw")
    reference = _series(without, "grid", "grid", "p_ext_kw")
    battery = _series(with_battery, "batteries", "community", "p_kw")
    assert battery.max() > 1.0 and battery.min() < -1.0  # it charges and discharges
    assert feeder.max() < reference.max() - 2.0, (feeder.max(), reference.max())
    # the levelled load: less spread around the mean than without the battery
    assert feeder.std() < 0.9 * reference.std()


def test_standalone_battery_conserves_energy(winter_runs: tuple[RunSummary, RunSummary]) -> None:
    run = winter_runs[0]
    batteries = read_table(run.out_dir, "batteries")
    community = batteries[batteries["entity"] == "community"].sort_values("time_s")
    assert community["clipped_kw"].abs().max() < 1e-9  # the rule asks only for what it can take
    _check_storage_equation(community, 80.0, 0.25, 0.9, 1e-4, 0.5 * 80.0)
    # the feeder's connections carry the buildings and the battery, nothing lost or added
    buildings = read_table(run.out_dir, "buildings").groupby("time_s")["p_kw"].sum()
    grid = _series(run, "grid", "grid", "p_connections_kw")
    battery = _series(run, "batteries", "community", "p_kw")
    np.testing.assert_allclose(grid.to_numpy(), (buildings + battery).to_numpy(), atol=1e-6)
    setpoints = _series(run, "setpoints", "community", "battery_p_set_kw")
    np.testing.assert_allclose(setpoints.to_numpy(), battery.to_numpy(), atol=1e-9)


def test_a_tank_moves_hot_water_load_into_pv_hours(tank_runs: tuple[RunSummary, RunSummary]) -> None:
    controlled, idle = tank_runs
    tanks = read_table(controlled.out_dir, "tanks")
    assert tanks["p_th_kw"].max() > 0.5 and tanks["p_th_kw"].min() < -0.2  # charged and discharged
    assert read_table(idle.out_dir, "tanks")["p_th_kw"].abs().max() == 0.0
    b_on, b_off = read_table(controlled.out_dir, "buildings"), read_table(idle.out_dir, "buildings")
    surplus = (b_off["p_kw"] < 0).to_numpy()  # the steps that export without the tank
    hp_on, hp_off = b_on["hp_p_kw"].to_numpy(), b_off["hp_p_kw"].to_numpy()
    assert hp_on[surplus].sum() > hp_off[surplus].sum() + 1.0  # more heat-pump load in PV hours
    assert hp_on[~surplus].sum() < hp_off[~surplus].sum() - 1.0  # less outside them
    import_on = np.maximum(b_on["p_kw"].to_numpy(), 0).sum() * 0.25
    import_off = np.maximum(b_off["p_kw"].to_numpy(), 0).sum() * 0.25
    assert import_on < import_off - 1.0, (import_on, import_off)
    assert controlled.kpis["storage"]["clipped_kwh"] < 1e-6


def test_tank_storage_equation_and_delivery(tank_runs: tuple[RunSummary, RunSummary]) -> None:
    tanks = read_table(tank_runs[0].out_dir, "tanks")
    for _, rows in tanks.groupby("entity"):
        rows = rows.sort_values("time_s").rename(columns={"p_th_kw": "p_kw"})
        _check_storage_equation(rows, 8.0, 0.25, 0.9, 1e-3, 0.2 * 8.0)
    # the tank serves hot water: what it delivers beyond the step's hot-water demand (the rule
    # sizes a discharge on the step before; the excess warms the rooms) stays a small share
    buildings = read_table(tank_runs[0].out_dir, "buildings").sort_values(["entity", "time_s"])
    delivered = np.maximum(-tanks.sort_values(["entity", "time_s"])["p_th_kw"].to_numpy(), 0.0)
    beyond = np.maximum(delivered - buildings["dhw_th_kw"].to_numpy(), 0.0)
    assert delivered.sum() > 0 and beyond.sum() < 0.25 * delivered.sum()


def test_over_mqtt_the_tank_and_the_community_battery_are_operated(small_run: RunSummary) -> None:
    tanks = read_table(small_run.out_dir, "tanks")
    batteries = read_table(small_run.out_dir, "batteries")
    assert tanks["p_th_kw"].abs().max() > 0.1
    assert batteries[batteries["entity"] == "community"]["p_kw"].abs().max() > 0.1
