"""`cosim plan` through typer's CliRunner on the real `cosim` app."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cosim.cli.app import app
from tests.planner.test_plans_and_outputs import EXAMPLE


def test_plan_command_writes_summary_and_prints_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["plan", str(EXAMPLE), "--policy", "tou", "-p", "fit", "--out", str(out),
                                      "--no-figures", "--plans-day", "2021-03-30T00:00"])
    assert result.exit_code == 0, result.output
    assert "total cost kCHF" in result.output and "chp_kwe" in result.output
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["policy"]) == ["tou", "fit"]
    assert (out / "dispatch.parquet").is_file()
    assert (out / "plans_tou_20210330T0000.json").is_file()


def test_plan_command_reports_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["plan", str(EXAMPLE), "--policy", "feed-in", "--out", str(tmp_path)])
    assert unknown.exit_code == 2 and "unknown policy 'feed-in'" in " ".join(unknown.output.split())
    missing = runner.invoke(app, ["plan", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "no such case file" in " ".join(missing.output.split())
