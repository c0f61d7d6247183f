"""A sweep file (a grid over scenario fields) through `cosim bench`: one scenario per point, each run
with its values, a column per swept field; and a wrong sweep is one clear message, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cosim.cli.app import app
from tests.bench.conftest import run_bench

pytestmark = pytest.mark.slow
TINY = Path(__file__).resolve().parents[2] / "scenarios" / "bench" / "tiny.yaml"


def test_a_grid_sweep_runs_every_point(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"sweep:\n  scenario: {TINY}\n  controllers: [rule_based]\n  grid:\n"
                     "    buildings.0.flex_share: [0.0, 0.2]\n    grid.transformer_limit_kw: [12]\n")
    bench = run_bench(tmp_path / "out", str(sweep))
    t = bench.table
    points = ["tiny[flex_share=0.0,transformer_limit_kw=12]", "tiny[flex_share=0.2,transformer_limit_kw=12]"]
    assert list(dict.fromkeys(t["scenario"])) == points
    assert set(t["controller"]) == {"none", "rule_based"} and set(t["status"]) == {"ok"}
    assert sorted(set(t["buildings.0.flex_share"])) == [0.0, 0.2]
    for row in t.drop_duplicates(["scenario", "controller"]).itertuples():
        scenario = json.loads((Path(row.run_dir) / "run.json").read_text())["scenario"]
        assert scenario["buildings"][0]["flex_share"] == t.loc[row.Index, "buildings.0.flex_share"]
    # the DSM of rule_based acts only where there is flexible load to cut
    rows = t[(t["controller"] == "rule_based") & (t["kpi"] == "peak_import_kw")]
    peak = rows.set_index("scenario")["value"]
    assert peak[points[0]] != peak[points[1]]


def test_a_wrong_sweep_is_one_message(tmp_path: Path) -> None:
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(f"sweep:\n  scenario: {TINY}\n  grid:\n    buildings.0.no_such_field: [1]\n")
    result = CliRunner().invoke(app, ["bench", str(sweep), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "no_such_field" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["bench", "nosuchsuite", "--controllers", "none"])
    assert result.exit_code != 0 and "not a suite (tiny, quick, full, attack)" in result.output
