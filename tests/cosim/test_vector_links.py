"""Vector entities (`simulators.vector`) change how values travel, not what they are (issue 22).

The same scenario run with one mosaik connection per entity (`vector_links=False`, mosaik's own
routing) and through vector entities (the default) gives the same result tables and KPIs: every
table but the timing ones, every KPI but wall times and MQTT traffic counts (their batching
depends on timing). The scenarios cover what a vector link must handle: buildings, batteries,
hot-water tanks and solar-thermal collectors of some buildings only, a standalone storage unit
(per-entity links mixed in), two sources on one grid connection, a heat network, a gas boiler
(NaN COP), MQTT and in-process controllers, the weather broadcast to every building.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import cosim.world.build as build_module
from cosim.run import run_scenario
from cosim.scenario.model import Scenario
from cosim.world.build import BuiltWorld
from simulators.vector import MISSING, InputView, Vectors
from tests.cosim.conftest import SMALL

ROOT = Path(__file__).resolve().parents[2]
TIMING_TABLES = {"control_steps", "grid_timing", "mqtt_messages"}
TIMING_KPIS = {("run", "wall_time_s"), ("mqtt",), ("control", "step_ms_median"), ("control", "step_ms_p99")}


def _run(scenario: Scenario, out: Path, vectors: bool, monkeypatch: pytest.MonkeyPatch) -> BuiltWorld:
    monkeypatch.setattr(build_module, "VECTOR_LINKS", vectors)
    built: list[BuiltWorld] = []
    run_scenario(scenario, out, echo=lambda _m: None, on_built=built.append)
    return built[0]


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {
        p.parent.name: pd.read_parquet(p)
        for p in sorted(out.rglob("*.parquet"))
        if p.parent.name not in TIMING_TABLES and not p.parent.name.endswith("_timing")
    }


def _kpis(out: Path) -> dict[str, Any]:
    kpis = json.loads((out / "kpis.json").read_text())
    for path in TIMING_KPIS:
        node = kpis
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    return dict(kpis)


def _same_results(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BuiltWorld:
    _run(scenario, tmp_path / "per-entity", False, monkeypatch)
    built = _run(scenario, tmp_path / "vector", True, monkeypatch)
    old, new = _tables(tmp_path / "per-entity"), _tables(tmp_path / "vector")
    assert old.keys() == new.keys()
    assert {"buildings", "setpoints", "connections", "grid"} <= old.keys()
    for table in old:
        pd.testing.assert_frame_equal(old[table], new[table], check_exact=True, obj=table)
    assert _kpis(tmp_path / "per-entity") == _kpis(tmp_path / "vector")
    return built


def test_small_district_over_mqtt_same_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = Scenario.model_validate({**SMALL, "duration": "4h"})
    built = _same_results(scenario, tmp_path, monkeypatch)
    vectors = [link for link in built.made if "Vector" in (link.src.type, link.dest.type)]
    assert vectors, "the small district was connected without vector entities"
    assert len(built.made) < len(built.links) / 3  # far fewer connections than per entity


def test_heat_network_and_solar_thermal_same_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = yaml.safe_load((ROOT / "scenarios/heat-network-demo.yaml").read_text())
    data.update(duration="3h")
    data.pop("outputs", None)
    data["buildings"].append(
        {"name": "solar", "count": 3, "pv_kwp": 3, "tank": {"capacity_kwh": 4},
         "solar_thermal": {"area_m2": 6, "store_kwh": 3}}
    )
    _same_results(Scenario.model_validate(data), tmp_path, monkeypatch)


def test_vector_values_and_inputs() -> None:
    vectors = Vectors()
    position = {"B_0": 0, "B_1": 1, "B_2": 2}
    with pytest.raises(ValueError, match="not entities"):
        vectors.create(1, ["B_0", "B_9"], position, "Sim-0")
    with pytest.raises(ValueError, match="once"):
        vectors.create(1, ["B_0", "B_0"], position, "Sim-0")
    (all_,) = vectors.create(1, ["B_0", "B_1", "B_2"], position, "Sim-0")
    (odd,) = vectors.create(1, ["B_2", "B_0"], position, "Sim-0")
    columns = {"p_kw": [1.0, 2.0, 3.0]}
    answer = vectors.answer({all_["eid"]: ["p_kw"], odd["eid"]: ["p_kw"]}, columns.__getitem__, position)
    assert answer[all_["eid"]]["p_kw"] is columns["p_kw"]  # the whole column, not a copy
    assert answer[odd["eid"]]["p_kw"] == [3.0, 1.0]
    # a list to its members, a single value to all; a member not covered is MISSING
    inputs = {"Vector_1": {"t": {"W-0.Weather": 5.0}, "x": {"A-0.Vector_0": [7.0, None]}}}
    view = InputView(inputs, vectors, "Sim-0")
    assert view.column("t", ["B_0", "B_1", "B_2"], position) == [5.0, MISSING, 5.0]
    assert view.column("x", ["B_0", "B_1", "B_2"], position) == [None, MISSING, 7.0]
    assert view.expanded()["B_2"] == {"t": {"W-0.Weather": 5.0}, "x": {"A-0.Vector_0": 7.0}}
    # two sources for one member: no single column, the sum where asked for
    inputs["Vector_0"] = {"x": {"C-0.Vector_0": [1.0, 1.0, 1.0]}}
    view = InputView(inputs, vectors, "Sim-0")
    assert view.column("x", ["B_0", "B_1", "B_2"], position) is None
    assert view.summed("x", ["B_0", "B_1", "B_2"], position).tolist() == [1.0, 1.0, 8.0]
    with pytest.raises(ValueError, match="2 values for 3 members"):
        InputView({"Vector_0": {"x": {"C-0.Vector_0": [1.0, 1.0]}}}, vectors, "Sim-0")


def test_recorder_rows_from_vectors_and_single_entities() -> None:
    """A table filled by a vector source and single entities (a hardware-in-the-loop device among
    simulated buildings) gets each value in its row, as over per-entity connections."""
    from cosim.world.recorder import RecorderSim, _Plan

    recorder = RecorderSim()
    recorder.create(1, "Recorder", entities={
        "B-0.Vector_0": ["buildings", ["b0", "b1"]],
        "D-0.Device_0": ["buildings", "hil"],
        "B-0.Vector_1": ["buildings", ["b2", "b3", "b4"]],
        "G-0.Grid": ["grid", "grid"],
    })
    assert recorder.names["buildings"] == ["b0", "b1", "hil", "b2", "b3", "b4"]
    # mosaik's order of the sources need not be the rows' order
    sources = {"B-0.Vector_1": [2.0, 3.0, 4.0], "D-0.Device_0": 9.0, "B-0.Vector_0": [0.0, 1.0]}
    plan = _Plan.build(tuple(sources), recorder.rows, recorder.names)
    columns: dict[str, dict[str, list[Any]]] = {"buildings": {}, "grid": {}}
    plan.fill(list(sources.values()), columns, "p_kw")
    assert columns["buildings"]["p_kw"] == [0.0, 1.0, 9.0, 2.0, 3.0, 4.0]
    # a vector that fills its whole table is the column as sent
    whole = [5.0, 6.0]
    recorder.create(1, "Recorder", entities={"B-0.Vector_0": ["buildings", ["b0", "b1"]]})
    plan = _Plan.build(("B-0.Vector_0",), recorder.rows, recorder.names)
    columns = {"buildings": {}}
    plan.fill([whole], columns, "p_kw")
    assert columns["buildings"]["p_kw"] is whole
    with pytest.raises(ValueError, match="3 values for 2 members"):
        plan.fill([[1.0, 2.0, 3.0]], columns, "p_kw")
