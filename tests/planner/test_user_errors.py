"""What a user meets at `cosim plan`: input mistakes as one clear message with exit code 2, no HiGHS
banner, whole numbers in a narrow console, and a prompt Ctrl-C (issue 15's planner bullets).

The reference-format folders here are tiny stand-ins written by the tests (the reference data itself
is never copied)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.cli.plan import _tables
from planner.hub.case_file import case_from_file
from planner.hub.errors import PlannerInputError
from planner.hub.reference import CASE_FILES
from planner.hub.results import PlanResult
from planner.hub.solve import plan_case
from tests.planner.builders import boiler, catalogue, synthetic_series, tiny_case
from tests.planner.test_plans_and_outputs import EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
HOURS = 48


def _reference_like(folder: Path, leave_out: str = "") -> Path:
    """A two-day folder in the reference format (10 header rows; one column per price file)."""
    header = "".join(f"header {i}\n" for i in range(10))
    rows = {
        "case_data/demand_data.csv": header + "".join(
            f"{1 + h // 24:02d}.01.2016 {h % 24:02d}:00,500,400\n" for h in range(HOURS)),
        "case_data/energy_inputs_data.csv": header + "".join(
            f"{1 + h // 24:02d}.01.2016 {h % 24:02d}:00,{max(0, 600 - 100 * abs(h % 24 - 12))}\n"
            for h in range(HOURS)),
        "case_data/node_data.csv": "Usable roof area,1000\n",
    }
    for name in CASE_FILES:
        if name.startswith("price_time_series/"):
            rows[name] = "0.2\n" * HOURS
    for name, text in rows.items():
        if name != leave_out:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("missing", ["case_data/node_data.csv", "case_data/demand_data.csv",
                                     "price_time_series/TOU_prices.csv"])
def test_a_case_folder_missing_a_file_names_it_and_exits_2(tmp_path: Path, missing: str) -> None:
    folder = _reference_like(tmp_path / "case", leave_out=missing)
    result = CliRunner().invoke(app, ["plan", str(folder), "--policy", "fit", "--out", str(tmp_path / "o")])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert missing in text and "not a case folder" not in text
    assert "Traceback" not in result.output


def test_a_bad_roof_area_is_named(tmp_path: Path) -> None:
    folder = _reference_like(tmp_path / "case")
    (folder / "case_data/node_data.csv").write_text("Usable roof area,lots\n")
    result = CliRunner().invoke(app, ["plan", str(folder), "--policy", "fit", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "'lots', not a number" in " ".join(result.output.split())


def _case_file(tmp_path: Path, times: list[str], extra: str = "") -> Path:
    (tmp_path / "ts.csv").write_text("time,heat_demand_kw,elec_demand_kw,irradiance_w_per_m2\n" + "".join(
        f"{t},10,5,0\n" for t in times))
    path = tmp_path / "case.yaml"
    path.write_text(f"name: x\ntimeseries: ts.csv\n{extra}")
    return path


def test_shuffled_rows_are_reported_as_unsorted(tmp_path: Path) -> None:
    path = _case_file(tmp_path, ["2021-01-01 00:00", "2021-01-01 02:00", "2021-01-01 01:00"])
    with pytest.raises(PlannerInputError, match=r"not sorted by time: 2021-01-01 01:00:00 \(data row 3\)"):
        case_from_file(path)
    path = _case_file(tmp_path, ["2021-01-01 00:00", "2021-01-01 01:00", "2021-01-01 01:00"])
    with pytest.raises(PlannerInputError, match="duplicate times, first 2021-01-01 01:00:00"):
        case_from_file(path)


def test_a_typo_in_a_key_gets_the_allowed_keys(tmp_path: Path) -> None:
    path = _case_file(tmp_path, ["2021-01-01 00:00", "2021-01-01 01:00"], "grid: {max_imprt_kw: 5}\n")
    with pytest.raises(PlannerInputError, match=r"grid\.max_imprt_kw: .*allowed here: co2_kg_per_kwh, "
                                                r"max_import_kw, max_export_kw"):
        case_from_file(path)
    path.write_text("name: x\ntimeseries: ts.csv\npolicies: {add: {p: {import_price: {flat_per_kwh: 1}, "
                    "feedin: {flat_per_kwh: 0.1}}}}\n")
    with pytest.raises(PlannerInputError, match=r"policies\.add\.p\.feedin: .*allowed here: label, "
                                                r"import_price, feed_in, other_export, net_metering"):
        case_from_file(path)


def _results(n: int) -> list[PlanResult]:
    example = plan_case(tiny_case([10.0, 20.0], cat=catalogue({"boiler": boiler()})), "flat")
    costs = replace(example.costs, capex_chf=example.costs.capex_chf + 1_234_567.0)  # seven-digit totals
    return [replace(example, policy=f"policy{i}", costs=costs) for i in range(n)]


@pytest.mark.parametrize("width", [80, 120])
def test_the_cost_table_is_never_cut_in_a_narrow_console(width: int) -> None:
    results = _results(7)
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False)
    for table in _tables(results, width):
        console.print(table)
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    total = f"{results[0].costs.total_chf / 1e3:,.1f}"
    total_rows = [line for line in text.splitlines() if "total cost kCHF" in line]
    assert sum(line.count(total) for line in total_rows) == 7 and all(r.policy in text for r in results)


def _cosim(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "cosim", *args]
    proc: subprocess.Popen[str] = subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc


def test_plan_output_has_no_solver_banner(tmp_path: Path) -> None:
    proc = _cosim("plan", str(EXAMPLE), "--policy", "tou", "--no-figures", "--out", str(tmp_path))
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    assert "HiGHS" not in output and "Copyright" not in output
    assert "total cost kCHF" in output


def _year_case(folder: Path) -> Path:
    """A synthetic 8760-hour case file: its LP keeps HiGHS busy for seconds in one call."""
    series = synthetic_series(8760, seed=1)
    time_index = pd.date_range("2021-01-01", periods=8760, freq="h")
    pd.DataFrame({"time": time_index, "heat_demand_kw": series["heat"], "elec_demand_kw": series["elec"],
                  "irradiance_w_per_m2": series["irradiance"], "price_tou": series["tou"]}).to_csv(
        folder / "year.csv", index=False)
    path = folder / "year.yaml"
    path.write_text("name: year\ntimeseries: year.csv\nroof_area_m2: 2000\n")
    return path


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_stops_planning_at_once(tmp_path: Path) -> None:
    case = _year_case(tmp_path)
    proc = _cosim("plan", str(case), "--policy", "tou", "--no-figures", "--out", str(tmp_path / "out"))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("planning"), line
    time.sleep(5.0)  # past loading and the probe, into the year's LP (one long HiGHS call)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    waited_s = time.monotonic() - sent
    assert proc.returncode == 130, output
    assert "interrupted" in output and "Traceback" not in output
    assert waited_s < 3.0
    assert not (tmp_path / "out" / "summary.csv").exists()


def test_run_time_planning_has_no_solver_banner() -> None:
    """`cosim run scenarios/admm-planned.yaml` plans every house before the run (cosim.plans.source)."""
    code = ("from cosim.scenario.model import load_scenario\n"
            "from cosim.plans.source import planner_plans\n"
            "print(len(planner_plans(load_scenario('scenarios/admm-planned.yaml')).plans), 'plans')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "18 plans"
    assert "HiGHS" not in done.stdout + done.stderr
