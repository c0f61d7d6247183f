"""Controller kind `mpc`: the centralised MPC as a controller of a run, on the ADMM test district."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario
from tests.cosim.test_admm_run import DISTRICT

pytestmark = pytest.mark.slow


def _controller(kind: str) -> dict[str, Any]:
    base = {"kind": kind, "transport": "inprocess"}
    return base | ({"admm": {"horizon": "3h"}} if kind == "admm" else {"mpc": {"horizon": "3h"}})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSummary]:
    tmp = tmp_path_factory.mktemp("mpc")
    return {
        kind: run_scenario(Scenario.model_validate({**DISTRICT, "controller": _controller(kind)}), tmp / kind,
                           echo=lambda _t: None)
        for kind in ("mpc", "admm")
    }


def test_mpc_holds_the_limit_and_its_plans_come_true(runs: dict[str, RunSummary]) -> None:
    mpc = runs["mpc"]
    assert mpc.kpis["limit"]["exceeded_h"] == 0.0
    out = mpc.out_dir
    steps = read_table(out, "mpc_steps").set_index("time_s")
    assert (steps["status"] == "optimal").all()
    meters = read_table(out, "buildings").groupby("time_s")["p_kw"].sum()
    meters = meters.add(read_table(out, "batteries").groupby("time_s")["p_kw"].sum(), fill_value=0.0)
    np.testing.assert_allclose(meters.reindex(steps.index), steps["p_planned_step0_kw"], atol=1e-3)
    assert len(read_table(out, "mpc_steps_timing")) == len(steps)


def test_mpc_and_admm_decide_alike(runs: dict[str, RunSummary]) -> None:
    """ADMM reaches the centralised optimum of every step (gap ≤ 0.01 %), so the two runs' costs and
    energy agree closely. Not their step-by-step powers: a step's optimum is degenerate (when a heat
    pump runs within its comfort band can move without changing the cost), and the two pick
    different ones (up to 1.4 kW apart in a step here), and over a receding 3 h horizon the runs
    drift apart: 0.5 % in cost with the buildings before issue 17's calibration, 2.0 % with the
    calibrated ones (2026-12-07: 5.26 against 5.37, higher winter loads in this 5 h morning)."""
    cost = {k: r.kpis["cost"]["electricity"] for k, r in runs.items()}
    assert cost["admm"] == pytest.approx(cost["mpc"], rel=3e-2, abs=1e-2)
    imported = {k: read_table(r.out_dir, "grid")["p_ext_kw"].clip(lower=0).sum() for k, r in runs.items()}
    assert imported["admm"] == pytest.approx(imported["mpc"], rel=2e-2)  # 1.2 % on 2026-12-07


@pytest.mark.parametrize(
    ("controller", "message"),
    [
        ({"kind": "mpc", "transport": "inprocess"}, "needs an `mpc` section"),
        ({"kind": "mpc", "mpc": {}}, "transport: inprocess"),
        ({"kind": "mpc", "transport": "inprocess", "mpc": {"horizon": "20min"}}, "controller.mpc.horizon"),
    ],
)
def test_bad_mpc_settings_are_named(controller: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("`", "`")):
        Scenario.model_validate({**DISTRICT, "controller": controller})


def test_mpc_needs_the_shared_limit(tmp_path: Path) -> None:
    grid = {"network": "kerber_landnetz_kabel_1"}
    with pytest.raises(ValueError, match="transformer_limit_kw"):
        Scenario.model_validate({**DISTRICT, "grid": grid, "controller": _controller("mpc")})
