"""Real-time mode: the bridge paces the run on the wall clock, late setpoints fall back, and lag and
deadline misses are recorded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cosim.results.writer import read_table
from cosim.run import run_scenario
from cosim.scenario.model import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.network]

BASE = {
    "name": "rt",
    "start": "2024-03-20T10:00:00",
    "duration": "2h",
    "step": "15min",
    "buildings": [{"name": "b", "count": 3, "pv_kwp": 5, "battery": {"capacity_kwh": 5}}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
}


def _scenario(factor: float) -> Scenario:
    controller = {"kind": "rule_based", "mode": "realtime", "realtime_factor": factor}
    return Scenario.model_validate({**BASE, "controller": controller})


def test_paced_on_the_wall_clock(tmp_path: Path) -> None:
    factor = 900 / 0.4  # a 15-minute step every 0.4 s
    started = time.monotonic()
    summary = run_scenario(_scenario(factor), tmp_path / "out", echo=lambda _t: None)
    steps = read_table(summary.out_dir, "control_steps").sort_values("time_s")
    assert time.monotonic() - started >= (len(steps) - 1) * 0.4  # it waited for the wall clock
    assert not steps["deadline_missed"].any()
    assert steps["start_lag_ms"].max() < 400  # each step started within its own slot
    assert summary.kpis["control"]["deadline_misses"] == 0


def test_missed_deadlines_fall_back_and_are_recorded(tmp_path: Path) -> None:
    summary = run_scenario(_scenario(900 / 0.0005), tmp_path / "out", echo=lambda _t: None)  # 0.5 ms per step
    steps = read_table(summary.out_dir, "control_steps")
    assert steps["deadline_missed"].any()
    assert summary.kpis["control"]["deadline_misses"] > 0
    events = read_table(summary.out_dir, "control_events")
    assert (events["kind"] == "late").all() and len(events) > 0  # the run went on with fallbacks


def test_realtime_needs_mqtt() -> None:
    with pytest.raises(ValueError, match="real-time mode"):
        Scenario.model_validate({**BASE, "controller": {"mode": "realtime", "transport": "inprocess"}})
