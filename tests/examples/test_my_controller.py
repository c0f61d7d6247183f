"""examples/my_controller.py: a controller kind written in one file, named by a scenario in examples/,
run in process, over MQTT as tasks and as one process per agent, with identical decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario, ScenarioError, load_scenario
from tests.comparisons import comparable_kpis

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCENARIO = EXAMPLES / "my-controller.yaml"




def _variant(transport: str, **controller: Any) -> Scenario:
    scenario = load_scenario(SCENARIO)
    update = {"transport": transport, **controller}
    return scenario.model_copy(
        update={
            "duration": 18 * 3600,  # midnight to 18:00: night import, PV export at noon, the evening peak
            "controller": scenario.controller.model_copy(update=update),
        }
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSummary]:
    out = tmp_path_factory.mktemp("my-controller")
    quiet = {"echo": lambda _t: None}
    return {
        "inprocess": run_scenario(_variant("inprocess"), out / "inprocess", **quiet),
        "mqtt": run_scenario(_variant("mqtt"), out / "mqtt", **quiet),
        "processes": run_scenario(_variant("mqtt", agents="processes"), out / "processes", **quiet),
    }


@pytest.mark.slow
@pytest.mark.network
def test_the_same_kpis_in_process_and_over_mqtt(runs: dict[str, RunSummary]) -> None:
    inprocess = comparable_kpis(runs["inprocess"].kpis)
    assert comparable_kpis(runs["mqtt"].kpis) == inprocess
    assert comparable_kpis(runs["processes"].kpis) == inprocess
    for name in ("mqtt", "processes"):
        steps = read_table(runs[name].out_dir, "control_steps")
        assert (steps["late_agents"] == 0).all()  # every decision came back over the broker
    setpoints = {
        name: read_table(run.out_dir, "setpoints").sort_values(["time_s", "entity"])
        for name, run in runs.items()
    }
    columns = ["time_s", "entity", "battery_p_set_kw", "t_set_c"]
    for name in ("mqtt", "processes"):
        pd.testing.assert_frame_equal(
            setpoints[name][columns].reset_index(drop=True),
            setpoints["inprocess"][columns].reset_index(drop=True),
        )


@pytest.mark.slow
def test_the_plug_in_decides_as_written(runs: dict[str, RunSummary]) -> None:
    """Thermostats at 20 °C, raised to 21 °C in the step after one that exported; batteries
    discharge by the import over 1 kW and charge by the export."""
    out = runs["inprocess"].out_dir
    setpoints = read_table(out, "setpoints").set_index(["time_s", "entity"]).sort_index()
    buildings = read_table(out, "buildings").set_index(["time_s", "entity"]).sort_index()
    assert set(setpoints["t_set_c"].unique()) == {20.0, 21.0}
    assert (setpoints["t_set_c"] == 21.0).sum() > 0 and (setpoints["t_set_c"] == 20.0).sum() > 0
    batteries = setpoints.loc[setpoints.index.get_level_values("entity").str.startswith("house-bat")]
    p_kw = buildings.loc[batteries.index, "p_kw"]
    expected = (-(p_kw - 1.0)).where(p_kw > 1.0, (-p_kw).where(p_kw < 0, 0.0))
    assert (batteries["battery_p_set_kw"] - expected).abs().max() < 1e-9
    assert (batteries["battery_p_set_kw"] > 0).any() and (batteries["battery_p_set_kw"] < 0).any()
    plain = setpoints.loc[setpoints.index.get_level_values("entity").isin(["house-1", "house-2", "house-3"])]
    assert plain["battery_p_set_kw"].isna().all()  # no battery, no battery setpoint


def _scenario_with(tmp_path: Path, **controller: Any) -> Path:
    data = yaml.safe_load(SCENARIO.read_text())
    data["controller"] = {**data["controller"], **controller}
    (tmp_path / "my_controller.py").write_text((EXAMPLES / "my_controller.py").read_text())
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("controller", "expected"),
    [
        (
            {"params": {"import_limit_kw": -1}},
            ["controller.params", "import_limit_kw", "greater than or equal to 0"],
        ),
        (
            {"params": {"import_limit": 2}},
            ["controller.params", "import_limit: unknown parameter", "import_limit_kw, comfort_c, preheat_k"],
        ),
        (
            {"kind": "magic"},
            ["controller.kind", "unknown controller kind 'magic'", "'rule_based'", "module:Class"],
        ),
        ({"kind": "my_controller.py:Nope"}, ["controller.kind", "has no 'Nope'"]),
        ({"kind": "no_such_file.py:PeakShaver"}, ["controller.kind", "no_such_file.py not found"]),
        ({"kind": "no_such_package.mod:Ctrl"}, ["controller.kind", "cannot import 'no_such_package.mod'"]),
        (
            {"kind": "pathlib:Path"},
            ["controller.kind", "not a subclass of controllers.plugin.BuildingController"],
        ),
        (
            {"kind": "rule_based", "params": {"x": 1}},
            ["controller.params", "kind 'rule_based' takes no `params`"],
        ),
    ],
)
def test_a_bad_controller_gets_a_clear_error_naming_the_field(
    tmp_path: Path, controller: dict[str, Any], expected: list[str]
) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_scenario_with(tmp_path, **controller))
    message = str(caught.value)
    assert str(tmp_path / "scenario.yaml") in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "Traceback" not in message and "Value error," not in message


def test_the_cli_rejects_a_bad_parameter_without_a_traceback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cosim.cli.app import app

    path = _scenario_with(tmp_path, params={"preheat_k": "warm"})
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "controller.params" in result.output and "preheat_k" in result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "out").exists()
