"""Rolling day-ahead re-planning (scenario `plan.planner.replan_hour`): a 2-day run re-plans every
day at the hour on the forecasts issued then, each plan sees only the data before its issue time,
and the ADMM agents (in process and over MQTT) track the new plan from its first step."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cosim.control.forecast import MeasuredState
from cosim.plans.replan import Replanner
from cosim.plans.source import DayAheadPlanner
from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario
from planner.hub.errors import PlannerInfeasibleError
from tests.cosim.test_admm_run import DISTRICT, SLOW_MACHINE_S
from tests.cosim.test_plan_handdown import _retained

pytestmark = pytest.mark.slow

DAY_S = 86400
FORECAST: dict[str, Any] = {"kind": "gbt", "params": {"max_iter": 30, "train_rows": 3000}, "history_days": 9}
BUILDING_SERIES = ("p_base_kw", "pv_kw", "p_appliances_kw", "dhw_th_kw")


def _scenario(replan_hour: int | None = 0, plan: bool = True, forecast: dict[str, Any] | None = FORECAST,
              **controller: Any) -> Scenario:
    data: dict[str, Any] = {
        **DISTRICT,
        "start": "2024-01-16T00:00:00",
        "duration": "2d",
        "step": "1h",
        "control_step": "1h",
        "grid": {**DISTRICT["grid"], "transformer_limit_kw": 12.0},
        "controller": {"kind": "admm", "transport": "inprocess", "admm": {"horizon": "3h"}, **controller},
    }
    if forecast is not None:
        data["forecast"] = forecast
    if plan:
        data["plan"] = {"planner": {"replan_hour": replan_hour}, "weight_per_kw2": 1.0}
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSummary]:
    tmp = tmp_path_factory.mktemp("replan")
    quiet = {"echo": lambda _t: None}
    return {
        "replanned": run_scenario(_scenario(0), tmp / "replanned", **quiet),
        "once": run_scenario(_scenario(None), tmp / "once", **quiet),  # one plan at the start
    }


def _meters(run: RunSummary) -> pd.Series:
    meters = read_table(run.out_dir, "buildings").set_index(["time_s", "entity"])["p_kw"]
    batteries = read_table(run.out_dir, "batteries")
    owner = batteries["entity"].str.removesuffix(".battery")
    return meters.add(batteries.assign(entity=owner).set_index(["time_s", "entity"])["p_kw"], fill_value=0.0)


def test_one_plan_per_day_issued_at_the_hour(runs: dict[str, RunSummary]) -> None:
    plans = read_table(runs["replanned"].out_dir, "plans")
    names = sorted(read_table(runs["replanned"].out_dir, "buildings")["entity"].unique())
    assert sorted(plans["issued_s"].unique()) == [0, DAY_S]  # the start (00:00) and the next 00:00
    for issued, plan in plans.groupby("issued_s"):
        assert sorted(plan["entity"].unique()) == names
        assert plan.groupby("entity")["time_s"].agg(["min", "max", "size"]).eq(
            [issued, issued + 35 * 3600, 36]).all().all()  # 36 h from the issue time
    assert runs["replanned"].kpis["limit"]["exceeded_h"] == 0.0
    # without re-planning: the one plan made at the start, over the whole run
    once = read_table(runs["once"].out_dir, "plans")
    assert once["issued_s"].unique().tolist() == [0] and once["time_s"].max() == 47 * 3600


def test_the_agents_track_the_new_plan(runs: dict[str, RunSummary]) -> None:
    """On the second day, where the new plan asks for more (less) than the plan made at the start,
    the re-planned run's meters draw more (less) than the run that kept its first plan."""
    new = read_table(runs["replanned"].out_dir, "plans").query("issued_s == @DAY_S")
    old = read_table(runs["once"].out_dir, "plans")
    new_kw, old_kw = (p.set_index(["time_s", "entity"])["p_kw"] for p in (new, old))
    replanned, once = _meters(runs["replanned"]), _meters(runs["once"])
    day2 = [i for i in replanned.index if DAY_S <= i[0] < 2 * DAY_S]
    d_plan = (new_kw.reindex(day2) - old_kw.reindex(day2)).to_numpy()
    d_meter = (replanned.reindex(day2) - once.reindex(day2)).to_numpy()
    assert len(day2) == 24 * 7 and np.isfinite(d_plan).all() and d_plan.std() > 0.1  # the plans differ
    assert np.corrcoef(d_plan, d_meter)[0, 1] > 0.6
    # the first day, same plan inputs at the start: the runs act alike until the re-plan
    first = [i for i in replanned.index if i[0] < 3 * 3600]
    np.testing.assert_allclose(replanned.reindex(first), once.reindex(first), atol=0.5)


def _states(planner: DayAheadPlanner) -> list[MeasuredState]:
    fleet = planner.forecaster.fleet
    return [MeasuredState(20.5, 20.0, None, 4.0) for _ in range(fleet.n)]


def _plan_kw(planner: DayAheadPlanner, step: int) -> np.ndarray:
    plans = planner.plans_at(step, _states(planner))
    return np.array([plans.plans[n].series["p_kw"] for n in planner.forecaster.names])


def _poison_after(planner: DayAheadPlanner, step: int) -> None:
    issuer = planner.forecaster.issuer
    assert issuer is not None
    k = issuer.district.run_offset + step
    for name in BUILDING_SERIES:
        issuer.district.archive.values[name][k:] = 1e3


@pytest.mark.parametrize("peeking", [False, True])
def test_a_plan_uses_only_the_data_before_its_issue_time(peeking: bool) -> None:
    """The plan issued at 00:00 of day 2 does not change when every observation from then on is
    replaced by nonsense; a planner on a forecaster that reads the future (`perfect` demand) does,
    so the check would catch a peeking plan."""
    forecast = FORECAST | ({"quantities": {"p_base_kw": {"kind": "perfect"}}} if peeking else {})
    step = 24
    clean = DayAheadPlanner(_scenario(0, forecast=forecast), horizon_steps=36)
    poisoned = DayAheadPlanner(_scenario(0, forecast=forecast), horizon_steps=36)
    _poison_after(poisoned, step)
    same = np.array_equal(_plan_kw(clean, step), _plan_kw(poisoned, step))
    assert same != peeking
    if not peeking:  # and it is a plan on forecasts, not on the realised future
        exact = DayAheadPlanner(_scenario(0, forecast=None), horizon_steps=36)
        assert np.abs(_plan_kw(exact, step) - _plan_kw(clean, step)).max() > 0.05


def test_replanning_comes_at_the_hour_of_every_day() -> None:
    replanner = Replanner(_scenario(6))
    due = [k for k in range(48) if replanner.due(k)]
    assert due == [6, 30]  # 06:00 of both days (the first plans: at the start, step 0)
    with pytest.raises(ValueError, match="horizon_h"):
        Scenario.model_validate({**_scenario(0).model_dump(mode="json"),
                                 "plan": {"planner": {"replan_hour": 0, "horizon_h": 12}}})


def test_a_failed_re_plan_keeps_the_current_plans(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    replanner = Replanner(_scenario(0))
    states = _states(replanner.planner)
    context = SimpleNamespace(schedules={"kept": "plans"}, publish_plans=None)
    replanner.replan(context, 24, states)  # type: ignore[arg-type]
    assert sorted(context.schedules) == sorted(replanner.planner.forecaster.names)
    assert {s.start_s for s in context.schedules.values()} == {DAY_S} and replanner.issued == [24]

    def infeasible(*_args: object) -> None:
        raise PlannerInfeasibleError("no heat pump can hold the house")

    monkeypatch.setattr(replanner.planner, "plans_at", infeasible)
    before = context.schedules
    with caplog.at_level(logging.WARNING, logger="cosim.plans.replan"):
        replanner.replan(context, 30, states)  # type: ignore[arg-type]
    assert context.schedules is before and replanner.issued == [24]
    assert "re-plan at step 30" in caplog.text and "no heat pump can hold the house" in caplog.text


@pytest.mark.network
def test_mqtt_agents_swap_to_the_new_plan_as_in_process(
    runs: dict[str, RunSummary], tmp_path: Path, session_mosquitto_url: str
) -> None:
    """Over MQTT the re-plan is republished as retained messages before the step's forecasts:
    the agents decide exactly as in process, so every one tracked its new plan from the same step."""
    scenario = _scenario(0, transport="mqtt", broker=session_mosquitto_url, step_timeout_s=SLOW_MACHINE_S)
    run_id = f"replan-{tmp_path.name[-20:]}"
    mqtt = run_scenario(scenario, tmp_path / "mqtt", echo=lambda _t: None, run_id=run_id)
    for table in ("setpoints", "buildings", "plans"):
        np.testing.assert_allclose(
            read_table(mqtt.out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            read_table(runs["replanned"].out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=table,
        )
    assert json.loads((mqtt.out_dir / "run.json").read_text())["status"] == "completed"
    assert asyncio.run(_retained(session_mosquitto_url, f"ucosim/{run_id}/plan/#")) == []  # cleared
