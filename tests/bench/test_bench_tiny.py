"""`cosim bench tiny`: every run's KPIs in the table and the HTML report are the run's kpis.json, the
normalisation and the score follow their definitions, and a rerun reuses the finished runs."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.bench.conftest import BenchRun, run_bench

pytestmark = pytest.mark.slow

# the table's KPIs and where kpis.json has them, written out here apart from cosim.bench.table
KPIS_JSON = {
    "energy_cost_eur": ("cost", "total"),
    "co2_kg": ("co2", "co2_kg"),
    "peak_import_kw": ("peak", "peak_import_kw"),
    "daily_peak_mean_kw": ("peak", "daily_peak_mean_kw"),
    "ramping_kw": ("peak", "ramping_kw"),
    "one_minus_load_factor": ("peak", "one_minus_load_factor"),
    "discomfort_kh": ("comfort", "discomfort_kh"),
    "voltage_violation_bus_h": ("grid", "voltage_violation_bus_h"),
    "trafo_overload_h": ("grid", "trafo_overload_h"),
    "limit_exceeded_h": ("limit", "exceeded_h"),
    "losses_kwh": ("energy", "losses_kwh"),
    "admm_iterations_mean": ("admm", "iterations_mean"),
}
RATIOS = {"energy_cost_eur", "co2_kg", "peak_import_kw", "daily_peak_mean_kw", "ramping_kw",
          "one_minus_load_factor", "losses_kwh"}


def _kpis(run_dir: str) -> dict[str, Any]:
    return dict(json.loads((Path(run_dir) / "kpis.json").read_text()))


class _Cells(HTMLParser):
    """The report's table cells: (scenario, controller, kpi, column) -> value."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str, str], float] = {}
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and "data-kpi" in a:
            key = (str(a["data-scenario"]), str(a["data-controller"]), str(a["data-kpi"]),
                   str(a["data-column"]))
            self.cells[key] = float(str(a["data-value"]))
        if tag == "img":
            self.images.append(str(a.get("src")))


def test_the_table_holds_every_run_and_its_kpis(tiny_bench: BenchRun) -> None:
    t = tiny_bench.table
    for name in ("kpis.csv", "kpis.parquet", "kpis.md", "report.html"):
        assert (tiny_bench.out / name).stat().st_size > 0
    assert list(dict.fromkeys(t["controller"])) == ["none", "rule_based", "mpc", "admm"]
    assert set(t["status"]) == {"ok"}
    assert set(t["scenario"]) == {"tiny"}
    checked = 0
    for row in t.itertuples():
        if row.kpi not in KPIS_JSON:
            continue
        group, name = KPIS_JSON[row.kpi]
        expected = _kpis(row.run_dir).get(group, {}).get(name)
        if expected is None:
            assert math.isnan(row.value), row
            continue
        assert row.value == pytest.approx(expected, rel=1e-12, abs=1e-12), row
        checked += 1
    assert checked >= 4 * 11  # eleven KPIs of every run, ADMM's iterations of one
    # the parquet table is the same table
    parquet = pd.read_parquet(tiny_bench.out / "kpis.parquet")
    assert parquet["value"].to_numpy() == pytest.approx(t["value"].to_numpy(), nan_ok=True)


def test_the_html_report_shows_the_runs_numbers(tiny_bench: BenchRun) -> None:
    t = tiny_bench.table
    parser = _Cells()
    report = (tiny_bench.out / "report.html").read_text()
    parser.feed(report)
    compared = 0
    for row in t[t["kpi"].isin(KPIS_JSON)].itertuples():
        group, name = KPIS_JSON[row.kpi]
        expected = _kpis(row.run_dir).get(group, {}).get(name)
        shown = parser.cells.get(("tiny", row.controller, row.kpi, "value"))
        if expected is None:
            continue
        assert shown == pytest.approx(expected, rel=1e-12, abs=1e-12), row
        compared += 1
    assert compared >= 4 * 11
    assert len(parser.images) == 3 and all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert "http://" not in report and "https://" not in report and "<script" not in report  # self-contained


def test_normalisation_and_score_follow_their_definitions(tiny_bench: BenchRun) -> None:
    t = tiny_bench.table.set_index(["controller", "kpi"])
    for (_controller, kpi), row in t.iterrows():
        if kpi in RATIOS:
            base = t.loc[("none", kpi)]
            assert base["value"] > 0
            assert row["normalisation"] == "ratio"
            assert row["normalised"] == pytest.approx(row["value"] / base["value"])
        elif kpi in ("discomfort_kh", "voltage_violation_bus_h", "trafo_overload_h", "net_export_kwh"):
            base = t.loc[("none", kpi)]
            assert row["normalisation"] == "difference"
            assert row["normalised"] == pytest.approx(row["value"] - base["value"])
    assert t.loc[("none", "score"), "value"] == pytest.approx(1.0)
    for controller in ("rule_based", "mpc", "admm"):
        ratios = [t.loc[(controller, k), "normalised"] for k in RATIOS]
        runs = _kpis(t.loc[(controller, "score"), "run_dir"])["run"]
        days = runs["steps"] * runs["step_s"] / 86400
        extra_discomfort = t.loc[(controller, "discomfort_kh"), "normalised"] / (runs["buildings"] * days)
        expected = sum(ratios) / len(ratios) + 0.1 * extra_discomfort
        assert t.loc[(controller, "score"), "value"] == pytest.approx(expected)
    # the optimising controllers do better than no control on this district's cost
    assert t.loc[("mpc", "energy_cost_eur"), "normalised"] < 0.95
    assert t.loc[("admm", "energy_cost_eur"), "normalised"] < 0.95


def test_a_rerun_reuses_the_finished_runs(tiny_bench: BenchRun) -> None:
    again = run_bench(tiny_bench.out, "tiny", "--controllers", "none,rule_based,mpc,admm")
    assert again.output.count("cached") == 4
    assert set(again.table["cached"]) == {True}
    pd.testing.assert_frame_equal(again.table.drop(columns="cached"), tiny_bench.table.drop(columns="cached"))
