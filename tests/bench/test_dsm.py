"""The demand-side-management study (`cosim bench-dsm`) reproduces the urban-planning study's shape:
the peak reduction grows with the controllable share and is the same for both strategies; anticipation
(strategy 2) gives a lower ramping and a smoother evening, and slightly lower losses, than cut and
restore (strategy 1). The replayed power flow is the co-simulation's own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cosim.bench.dsm import Windows, water_fill
from cosim.cli.app import app

pytestmark = pytest.mark.slow


def test_the_study_has_the_shape_of_the_urban_planning_case(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench-dsm", "--out", str(tmp_path), "--shares", "0,0.05,0.1"])
    assert result.exit_code == 0, result.output
    for name in ("dsm.csv", "dsm.md", "dsm.png"):
        assert (tmp_path / name).stat().st_size > 0
    t = pd.read_csv(tmp_path / "dsm.csv").set_index(["share", "strategy"])
    for strategy in (1, 2):
        reduction = t.xs(strategy, level="strategy")["peak_reduction_pct"]
        assert reduction.loc[0.0] == pytest.approx(0.0, abs=1e-9)
        assert 0 < reduction.loc[0.05] < reduction.loc[0.1]  # grows with the share
    for share in (0.05, 0.1):
        one, two = t.loc[(share, 1)], t.loc[(share, 2)]
        assert two["peak_reduction_pct"] == pytest.approx(one["peak_reduction_pct"], abs=0.5)  # similar
        assert two["ramping_kw"] < one["ramping_kw"]
        assert two["std_evening_kw"] < one["std_evening_kw"]
        assert two["losses_kwh"] < one["losses_kwh"]
        assert one["losses_kwh"] - two["losses_kwh"] < 0.01 * one["losses_kwh"]  # slightly
        assert two["loss_reduction_pct"] > one["loss_reduction_pct"] > 0
    # share 0 is the uncontrolled run itself: the replayed power flow gives the run's own losses
    kpis = json.loads(next((tmp_path / "runs").glob("*/kpis.json")).read_text())
    assert t.loc[(0.0, 1), "losses_kwh"] == pytest.approx(kpis["energy"]["losses_kwh"], rel=1e-6)


def test_water_filling_moves_exactly_the_energy_into_the_lowest_allowed_steps() -> None:
    level = np.array([5.0, 1.0, 3.0, 2.0, 9.0])
    allowed = np.array([True, True, True, True, False])
    x = water_fill(level, allowed, energy_kwh=1.5, dt_h=0.5)  # 3 kW over half-hour steps
    assert x.sum() * 0.5 == pytest.approx(1.5)
    assert x[4] == 0 and x[0] == 0  # not allowed; above the fill level
    assert (level + x)[1] == pytest.approx((level + x)[3]) == pytest.approx((level + x)[2])  # one level: 3
    w = Windows((18.0, 21.0))
    assert w.restore_h == (21.0, 24.0) and w.anticipate_h == (15.0, 18.0)
