"""The `cosim` command line beyond mistakes: overrides, default results folder, help, version,
KPI tables (currency, missing values), compare across periods, the temperature figure, and the
load factor of a district that exports."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.results.kpis import peak_kpis
from cosim.results.plots import temperature_figure
from cosim.run import RunSummary

QUICK = {
    "name": "quick",
    "start": "2024-03-20T10:00:00",
    "duration": "2h",
    "step": "15min",
    "buildings": [{"name": "pv", "count": 3, "pv_kwp": 6}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"kind": "rule_based", "transport": "inprocess"},
}


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_overrides_and_the_default_results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "quick.yaml").write_text(yaml.safe_dump(QUICK))
    monkeypatch.chdir(tmp_path)
    code, said = _invoke("validate", "quick.yaml", "--duration", "30min", "--seed", "9")
    assert code == 0 and "2 steps of 900 s" in said and "results to results/quick" in said
    code, said = _invoke("run", "quick.yaml", "-q", "--duration", "30min", "--seed", "9",
                         "--set", "buildings.0.count=2", "--set", "grid.transformer_limit_kw=25")
    assert code == 0, said
    out = Path("results/quick")  # no outputs.dir in the file: results/<name>
    scenario = json.loads((out / "run.json").read_text())["scenario"]
    assert (scenario["duration"], scenario["seed"], scenario["buildings"][0]["count"]) == (1800, 9, 2)
    assert scenario["grid"]["transformer_limit_kw"] == 25
    assert "plot them with: cosim plot results/quick" in said.splitlines()  # one line, whatever the width
    assert "None" not in said and "electricity (EUR)" in said


def test_help_and_version() -> None:
    code, said = _invoke("--help")
    assert code == 0 and "Exit codes:" in said and "<bool>" not in said
    for command in ("run", "validate", "kpis", "compare", "emulate-device", "plan"):
        code, said = _invoke(command, "--help")
        usage = next(line for line in said.splitlines() if "Usage:" in line)
        assert code == 0 and "<bool>" not in said and "{" not in usage and "[OPTIONS]" in usage, said
    code, said = _invoke("--version")
    assert code == 0 and re.fullmatch(r"cosim \S+\n", said)


def _copy_with_start(run: Path, target: Path, start: str) -> Path:
    shutil.copytree(run, target)
    info = json.loads((target / "run.json").read_text())
    info["scenario"]["start"] = start
    (target / "run.json").write_text(json.dumps(info))
    return target


def test_compare_warns_about_runs_of_different_periods(small_run: RunSummary, tmp_path: Path) -> None:
    same = _copy_with_start(small_run.out_dir, tmp_path / "same", "2024-03-20T06:00:00")
    code, said = _invoke("compare", str(small_run.out_dir), str(same), "--out", str(tmp_path / "a.png"))
    assert code == 0 and "warning" not in said and "None" not in said
    june = _copy_with_start(small_run.out_dir, tmp_path / "june", "2024-06-20T06:00:00")
    code, said = _invoke("compare", str(small_run.out_dir), str(june), "--out", str(tmp_path / "b.png"))
    flat = re.sub(r"\s+", " ", said)
    assert code == 0 and "warning: the runs simulate different periods" in flat
    assert "june: 2024-06-20 06:00 to 2024-06-20 14:00" in flat


def test_kpis_name_the_currency(small_run: RunSummary) -> None:
    assert small_run.kpis["run"]["currency"] == "EUR"
    code, said = _invoke("kpis", str(small_run.out_dir))
    assert code == 0 and "total (EUR)" in said and "None" not in said


def test_temperature_figure_of_many_buildings_is_a_band_with_named_extremes() -> None:
    times = pd.date_range("2024-01-15", periods=8, freq="15min", tz="Europe/Berlin")
    wide = pd.DataFrame({f"b-{k:03d}": 20.0 + 0.01 * k + np.zeros(8) for k in range(30)}, index=times)
    wide.loc[times[3], "b-007"] = 17.5
    wide.loc[times[5], "b-021"] = 25.0
    labels = temperature_figure(wide).axes[0].get_legend_handles_labels()[1]
    assert labels == ["coldest to warmest building", "10–90 % of buildings", "coldest: b-007",
                      "warmest: b-021", "mean"]
    few = temperature_figure(wide.iloc[:, :4]).axes[0].get_legend_handles_labels()[1]
    assert few == ["b-000", "b-001", "b-002", "b-003", "mean"]


def test_load_factor_of_an_exporting_district_is_taken_on_import() -> None:
    times = pd.date_range("2024-03-20", periods=4, freq="6h", tz="Europe/Berlin")
    p_kw = pd.Series([-5.0, -5.0, 2.0, 4.0], index=times)  # the day's signed mean is negative
    kpis = peak_kpis(p_kw, 6.0)
    assert kpis["one_minus_load_factor"] == pytest.approx(1 - (0 + 0 + 2 + 4) / 4 / 4)  # was 1.25
    only_export = peak_kpis(pd.Series(-1.0, index=times), 6.0)
    assert np.isnan(only_export["one_minus_load_factor"])
