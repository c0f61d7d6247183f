"""Every scenario in examples/ validates; the CSV example runs on its files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.results.writer import read_table
from cosim.run import run_scenario
from cosim.scenario.model import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_scenario_validates(path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_the_csv_example_runs_on_its_files(tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "csv-sources.yaml")
    summary = run_scenario(
        scenario.model_copy(update={"duration": 6 * 3600}), tmp_path / "out", echo=lambda _t: None
    )
    with (EXAMPLES / "weather.csv").open() as f:
        first_hours = [float(row["t_out_c"]) for _, row in zip(range(7), csv.DictReader(f), strict=False)]
    weather = read_table(summary.out_dir, "weather").sort_values("time_s")
    hourly = weather[weather["time_s"] % 3600 == 0]["t_out_c"].tolist()
    assert hourly == pytest.approx(first_hours[: len(hourly)], abs=1e-9)  # the file's values at the hours
    prices = read_table(summary.out_dir, "prices").sort_values("time_s")
    assert prices["import_per_kwh"].iloc[0] == pytest.approx(0.18)  # midnight off-peak, from the file
