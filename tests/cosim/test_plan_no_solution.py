"""`cosim plan` of a planning problem without a solution ends with its own exit code (4), not the
internal error's (1), and says what to change (issue 15). The exit codes of `cosim` are the ones
documented in docs/cli.md and `cosim --help`."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.cli.errors import EXIT_CODES_HELP, ExitCode

ROOT = Path(__file__).resolve().parents[2]
SERIES = """time,heat_demand_kw,elec_demand_kw,irradiance_w_per_m2
2021-03-29 00:00:00,10,50,0
2021-03-29 01:00:00,10,5,0
2021-03-29 02:00:00,10,5,100
2021-03-29 03:00:00,10,5,200
"""


def _case(folder: Path, max_import_kw: float) -> Path:
    """Four hours, a boiler only: electricity comes from the grid, capped at `max_import_kw`; the
    first hour needs 50 kW."""
    (folder / "series.csv").write_text(SERIES)
    path = folder / "case.yaml"
    path.write_text(f"name: capped\ntimeseries: series.csv\nstep_h: 1\n"
                    f"grid: {{max_import_kw: {max_import_kw}}}\ntechnologies: {{use: [boiler]}}\n")
    return path


def _plan(case: Path, out: Path) -> tuple[int, str]:
    args = ["plan", str(case), "--policy", "none", "--no-figures", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_an_infeasible_planning_problem_has_its_own_exit_code_and_says_what_to_change(tmp_path: Path) -> None:
    case = _case(tmp_path, max_import_kw=10)
    code, said = _plan(case, tmp_path / "out")
    assert code == ExitCode.NO_SOLUTION == 4
    assert code not in (ExitCode.INTERNAL, ExitCode.INPUT)
    flat = " ".join(said.split())
    assert "the planning problem has no solution" in flat
    assert "elec demand 50 kW at 2021-03-29 00:00:00" in flat and "grid import capped at 10" in flat
    assert f"Change {case} so that every demand can be met" in flat and "grid.max_import_kw" in flat
    assert "Traceback" not in said and "internal error" not in said
    assert not (tmp_path / "out" / "summary.csv").exists()
    # doing what the message says solves it
    code, said = _plan(_case(tmp_path, max_import_kw=60), tmp_path / "out")
    assert code == ExitCode.OK, said
    assert (tmp_path / "out" / "summary.csv").exists()


def test_every_exit_code_is_documented() -> None:
    table = (ROOT / "docs" / "cli.md").read_text()
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}
    for code in ExitCode:
        assert re.search(rf"(^|; ){int(code)} ", EXIT_CODES_HELP.replace("Exit codes: ", "")), code
