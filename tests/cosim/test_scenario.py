"""Scenario files: the shipped ones are valid; bad ones give errors naming file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cosim.scenario.model import ScenarioError, load_scenario, parse_duration_s

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MINIMAL = {
    "name": "t",
    "buildings": [{"name": "b", "count": 2}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    s = load_scenario(path)
    assert s.n_steps > 0 and s.n_buildings > 0


def test_demo_and_district_sizes() -> None:
    demo = load_scenario(SCENARIOS / "demo.yaml")
    assert 8 <= demo.n_buildings <= 12 and demo.duration == 86400 and demo.step == 900
    district = load_scenario(SCENARIOS / "district-100.yaml")
    assert district.n_buildings == 100 and district.duration == 7 * 86400


def test_durations() -> None:
    assert parse_duration_s("15min") == 900
    assert parse_duration_s("7d") == 604800
    assert parse_duration_s(3600) == 3600
    for bad in ("soon", -5, "0h", True):
        with pytest.raises(ValueError):
            parse_duration_s(bad)


def _error(tmp_path: Path, data: object) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message  # every error names the file
    return message


def test_missing_field(tmp_path: Path) -> None:
    message = _error(tmp_path, {"buildings": [{"name": "b"}]})
    assert "name: required field is missing" in message


def test_wrong_type(tmp_path: Path) -> None:
    message = _error(tmp_path, {**MINIMAL, "buildings": [{"name": "b", "count": "many"}]})
    assert "buildings.0.count" in message and "integer" in message


def test_unknown_key_lists_allowed_keys(tmp_path: Path) -> None:
    message = _error(tmp_path, {**MINIMAL, "buildings": [{"name": "b", "floor_area": 100}]})
    assert "buildings.0.floor_area: unknown key 'floor_area'" in message
    assert "floor_area_m2" in message  # the allowed keys are listed


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = _error(tmp_path, {**MINIMAL, "controler": "none"})
    assert "unknown key 'controler'" in message and "controller" in message


def test_unknown_network(tmp_path: Path) -> None:
    message = _error(tmp_path, {**MINIMAL, "grid": {"network": "atlantis"}})
    assert "grid.network" in message and "unknown network 'atlantis'" in message
    assert "kerber_landnetz_kabel_1" in message  # the allowed names are listed


def test_negative_area(tmp_path: Path) -> None:
    message = _error(tmp_path, {**MINIMAL, "buildings": [{"name": "b", "floor_area_m2": -50}]})
    assert "buildings.0.floor_area_m2" in message and "greater than 0" in message


def test_bad_literal_lists_allowed_values(tmp_path: Path) -> None:
    message = _error(tmp_path, {**MINIMAL, "controller": "magic"})
    assert "controller.kind" in message and "'none'" in message and "'rule_based'" in message


def test_inconsistent_steps(tmp_path: Path) -> None:
    message = _error(tmp_path, {**MINIMAL, "step": "15min", "control_step": "20min"})
    assert "control_step" in message and "multiple" in message


@pytest.mark.parametrize(
    ("controller", "expected"),
    [
        ({"batch": True, "agents": "processes"}, "agents 'processes'"),
        ({"batch": True, "transport": "inprocess"}, "transport 'inprocess'"),
    ],
)
def test_batches_need_agents_on_one_connection(tmp_path: Path, controller: dict[str, object],
                                               expected: str) -> None:
    message = _error(tmp_path, {**MINIMAL, "controller": {"kind": "rule_based", **controller}})
    assert "controller" in message and "`batch`" in message and expected in message


def test_batches_with_tasks_or_a_worker(tmp_path: Path) -> None:
    for agents in ("tasks", "worker"):
        data = {**MINIMAL, "controller": {"kind": "rule_based", "batch": True, "agents": agents}}
        assert load_scenario(_write(tmp_path, data)).controller.batch


@pytest.mark.parametrize(
    ("controller", "batches"),
    [
        ({}, True),
        ({"agents": "worker"}, True),
        ({"batch": False}, False),
        ({"agents": "processes"}, False),
        ({"transport": "inprocess"}, False),
        ({"kind": "admm", "admm": {}}, True),
        ({"kind": "admm", "admm": {}, "agents": "processes"}, False),
    ],
)
def test_batches_wherever_they_apply_unless_turned_off(tmp_path: Path, controller: dict[str, object],
                                                       batches: bool) -> None:
    data = {**MINIMAL, "controller": {"kind": "rule_based", **controller}}
    if controller.get("kind") == "admm":
        data["grid"] = {"network": "kerber_landnetz_kabel_1", "transformer_limit_kw": 50.0}
    assert load_scenario(_write(tmp_path, data)).controller.batches is batches


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    assert "not valid YAML" in _error(tmp_path, "name: [unclosed")
    assert "must be a mapping" in _error(tmp_path, "- a\n- b\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_csv_paths_resolve_relative_to_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, {**MINIMAL, "sources": {"weather": {"kind": "csv", "path": "w.csv"}}})
    assert load_scenario(path).sources.weather.path == tmp_path / "w.csv"
