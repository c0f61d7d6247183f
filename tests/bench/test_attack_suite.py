"""Attack scenarios in the benchmark: the attack-fdi feeder (one compromised ADMM agent, the
plan_consistency guard) for 6 hours, with and without detection. The security KPIs in the table and
the HTML report are the run's kpis.json; controllers the ADMM attack and the detection do not apply to
run the feeder without them (same sensor noise) and their security cells say n/a; `cosim validate`
refuses the attack on such a controller, so the bench must leave it out."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cosim.bench.spec import resolve
from cosim.cli.app import app
from tests.bench.conftest import BenchRun, run_bench

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "bench" / "attack-fdi.yaml"
# the table's security KPIs and their names in kpis.json["security"], written out apart from the code
SECURITY = ("detected_share", "false_positive_rate", "steps_to_detect_median", "alarms",
            "quarantined_agent_steps")


@pytest.fixture(scope="module")
def attack_bench(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    folder = tmp_path_factory.mktemp("bench-attack")
    suite = folder / "suite.yaml"
    suite.write_text(yaml.safe_dump({"scenarios": [
        {"file": str(SCENARIO), "name": "fdi", "set": {"duration": "6h"}},
        {"file": str(SCENARIO), "name": "fdi-undetected", "set": {"duration": "6h", "detection": None}},
    ]}))
    return run_bench(folder / "out", str(suite), "--controllers", "none,rule_based,admm")


def _kpis(run_dir: str) -> dict[str, Any]:
    return dict(json.loads((Path(run_dir) / "kpis.json").read_text()))


class _Cells(HTMLParser):
    """The report's value cells: (scenario, controller, kpi) -> (data-value, shown text)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._open: tuple[str, str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and a.get("data-column") == "value":
            self._open = (str(a["data-scenario"]), str(a["data-controller"]), str(a["data-kpi"]))
            self.cells[self._open] = (float(str(a["data-value"])), "")

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            value, text = self.cells[self._open]
            self.cells[self._open] = (value, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._open = None


def test_security_kpis_are_the_runs_and_na_where_the_attack_does_not_apply(attack_bench: BenchRun) -> None:
    t = attack_bench.table
    assert set(t["status"]) == {"ok"}
    fdi = t[t["scenario"] == "fdi"].set_index(["controller", "kpi"])
    security = _kpis(fdi.loc[("admm", "score"), "run_dir"])["security"]
    assert security["detected_share"] == 1.0 and security["alarms"] > 0  # the lie is caught
    for kpi in SECURITY:
        row = fdi.loc[("admm", kpi)]
        assert row["value"] == pytest.approx(security[kpi], rel=1e-12, abs=1e-12), kpi
        assert row["normalisation"] == "raw (baseline has none)"  # `none` runs no detector
        for controller in ("none", "rule_based"):
            other = fdi.loc[(controller, kpi)]
            assert math.isnan(other["value"])
            assert other["normalisation"].startswith("n/a: attacks.0 admm_bias (needs admm)"), other
    for controller in ("none", "rule_based"):
        run_dir = fdi.loc[(controller, "score"), "run_dir"]
        assert not _kpis(run_dir).get("security")  # no attack, no detector: empty
        scenario = json.loads((Path(run_dir) / "run.json").read_text())["scenario"]
        # run without the attack and the detection, with the attacked scenario's sensor noise
        assert scenario["attacks"] == [] and scenario["detection"] is None
        assert scenario["sensors"]["noise"]["p_kw_rel"] > 0
        assert "detection (watches ADMM agents)" in fdi.loc[(controller, "score"), "not_applied"]
    assert not isinstance(fdi.loc[("admm", "score"), "not_applied"], str)  # empty: nothing left out


def test_detection_holds_the_limit_the_undetected_lie_breaks(attack_bench: BenchRun) -> None:
    t = attack_bench.table.set_index(["scenario", "controller", "kpi"])
    assert t.loc[("fdi", "none", "limit_exceeded_h"), "value"] == 0.0
    assert t.loc[("fdi", "admm", "limit_exceeded_h"), "value"] == 0.0
    assert t.loc[("fdi-undetected", "admm", "limit_exceeded_h"), "value"] >= 1.0
    # no detector in the undetected scenario: no security KPI rows there
    assert not any(k in SECURITY for _s, _c, k in t.loc[["fdi-undetected"]].index)
    # the other controllers ran the same feeder in both scenarios (the attack left out of both)
    for controller in ("none", "rule_based"):
        for kpi in ("energy_cost_eur", "peak_import_kw", "losses_kwh"):
            same = t.loc[("fdi-undetected", controller, kpi), "value"]
            assert t.loc[("fdi", controller, kpi), "value"] == same


def test_the_report_shows_the_security_kpis_and_na(attack_bench: BenchRun) -> None:
    report = (attack_bench.out / "report.html").read_text()
    parser = _Cells()
    parser.feed(report)
    fdi = attack_bench.table[attack_bench.table["scenario"] == "fdi"].set_index(["controller", "kpi"])
    security = _kpis(fdi.loc[("admm", "score"), "run_dir"])["security"]
    for kpi in SECURITY:
        value, _text = parser.cells[("fdi", "admm", kpi)]
        assert value == pytest.approx(security[kpi], rel=1e-12, abs=1e-12)
        for controller in ("none", "rule_based"):
            value, text = parser.cells[("fdi", controller, kpi)]
            assert math.isnan(value) and text == "n/a"
    assert "<b>rule_based</b> ran the scenario without attacks.0 admm_bias (needs admm)" in report
    assert "its security KPIs are n/a" in report
    markdown = (attack_bench.out / "kpis.md").read_text()
    assert "attacks detected" in markdown and "| n/a |" in markdown


def test_validate_refuses_what_the_bench_leaves_out(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(SCENARIO), "--set", "controller.kind=rule_based"])
    assert result.exit_code == 2
    assert "attacks.0: kind 'admm_bias' attacks a 'admm' controller" in result.output
    runs = {r.controller: r for r in resolve("attack", "rule_based").runs if r.scenario == "attack-fdi"}
    assert runs["rule_based"].data["attacks"] == [] and runs["rule_based"].data["detection"] is None
    assert runs["rule_based"].not_applied == ("attacks.0 admm_bias (needs admm)",
                                              "detection (watches ADMM agents)")
    quick = {r.scenario for r in resolve("quick", "none").runs}
    assert {"attack-fdi", "attack-fdi-undetected"} <= quick
