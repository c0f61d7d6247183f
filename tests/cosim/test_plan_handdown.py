"""Plans handed down to the ADMM agents: loaded from a plan set, published as retained MQTT messages,
stored with the results, and tracked (in process and over MQTT, with the same decisions)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest

from controllers.admm.mqtt import AdmmBuildingAgent
from controllers.plans import AssetPlan, PlanSet
from controllers.runtime import AgentHost, create_agent
from controllers.runtime.broker_url import parse_broker_url
from cosim.plans.handdown import PlanError, Schedule, load_plans, publish_plans
from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario
from simulators.clock import start_timestamp
from tests.cosim.test_admm_run import DISTRICT, SLOW_MACHINE_S

pytestmark = pytest.mark.slow

PLAN_KW = 0.5  # every building is asked to hold its meter at 0.5 kW import
WEIGHT = 1.0


def _plan_set(path: Path, names: list[str], start_offset_s: int = 0, hours: int = 8) -> Path:
    start = start_timestamp(DISTRICT["start"], "Europe/Berlin").to_pydatetime() + timedelta(
        seconds=start_offset_s
    )
    plans = {
        n: AssetPlan(asset=n, kind="grid", start=start, step_s=3600, series={"p_kw": [PLAN_KW] * hours})
        for n in names
    }
    path.write_text(PlanSet(plans=plans).to_json(), encoding="utf-8")
    return path


def _names() -> list[str]:
    return [name for g in Scenario.model_validate(DISTRICT).buildings for name in g.names()]


def _scenario(plan: dict[str, Any] | None, **controller: Any) -> Scenario:
    data = {**DISTRICT, "controller": {**DISTRICT["controller"], **controller}}
    if plan is not None:
        data["plan"] = plan
    return Scenario.model_validate(data)


def _deviation_kw(run: RunSummary) -> float:
    meters = read_table(run.out_dir, "buildings").set_index(["time_s", "entity"])["p_kw"]
    batteries = read_table(run.out_dir, "batteries")
    owner = batteries["entity"].str.removesuffix(".battery")
    meters = meters.add(
        batteries.assign(entity=owner).set_index(["time_s", "entity"])["p_kw"], fill_value=0.0
    )
    return float(np.mean(np.abs(meters.to_numpy() - PLAN_KW)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSummary]:
    tmp = tmp_path_factory.mktemp("handdown")
    plan = {"file": str(_plan_set(tmp / "plans.json", _names())), "weight_per_kw2": WEIGHT}
    quiet = {"echo": lambda _t: None}
    return {
        "free": run_scenario(_scenario(None), tmp / "free", **quiet),
        "planned": run_scenario(_scenario(plan), tmp / "planned", **quiet),
    }


# a tracking agent's meter stays this much closer to its plan than a free one's; the heat pumps'
# standby and circulation pump (about 40 W per house since the buildings' physics of issue 17, in
# the uncontrollable base load) leave less to track: measured 0.2995 / 0.4735 = 0.633 (0.589 before)
TRACKING = 0.7


def test_the_agents_track_the_plan(runs: dict[str, RunSummary]) -> None:
    free, planned = _deviation_kw(runs["free"]), _deviation_kw(runs["planned"])
    assert planned < TRACKING * free, (planned, free)
    assert runs["planned"].kpis["limit"]["exceeded_h"] == 0.0  # the shared limit still holds


def test_the_plan_is_stored_with_the_results(runs: dict[str, RunSummary]) -> None:
    stored = PlanSet.from_json((runs["planned"].out_dir / "plans.json").read_bytes())
    assert sorted(stored.plans) == sorted(_names())
    assert not (runs["free"].out_dir / "plans.json").exists()


@pytest.mark.network
def test_mqtt_agents_get_the_retained_plan_and_decide_as_in_process(
    runs: dict[str, RunSummary], tmp_path: Path, session_mosquitto_url: str
) -> None:
    plan = {"file": str(_plan_set(tmp_path / "plans.json", _names())), "weight_per_kw2": WEIGHT}
    scenario = _scenario(plan, transport="mqtt", broker=session_mosquitto_url, step_timeout_s=SLOW_MACHINE_S)
    run_id = f"handdown-{tmp_path.name[-20:]}"
    mqtt = run_scenario(scenario, tmp_path / "mqtt", echo=lambda _t: None, run_id=run_id)
    for table in ("setpoints", "buildings"):
        np.testing.assert_allclose(
            read_table(mqtt.out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            read_table(runs["planned"].out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=table,
        )
    assert json.loads((mqtt.out_dir / "run.json").read_text())["status"] == "completed"
    assert asyncio.run(_retained(session_mosquitto_url, f"ucosim/{run_id}/plan/#")) == []  # cleared


async def _retained(url: str, topic_filter: str) -> list[str]:
    broker = parse_broker_url(url)
    found: list[str] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic_filter, qos=1)
        try:
            async with asyncio.timeout(1.0):
                async for message in client.messages:
                    if message.payload:
                        found.append(message.topic.value)
        except TimeoutError:
            pass
    return found


@pytest.mark.network
async def test_an_agent_that_connects_later_still_gets_its_plan(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    schedule = Schedule("hp-0", "hp-0", 3600, 900, (1.0, 2.0, 3.0))
    await asyncio.to_thread(
        publish_plans, session_mosquitto_url, "late", {"hp-0": schedule}, "p_kw", topic_prefix
    )
    agent = create_agent("admm", "hp-0")
    assert isinstance(agent, AdmmBuildingAgent)
    async with AgentHost([agent], session_mosquitto_url, "late", prefix=topic_prefix) as host:
        assert await host.wait_ready(10.0)
        async with asyncio.timeout(10.0):
            while agent.plan is None:
                await asyncio.sleep(0.02)
    assert agent.plan.start_s == 3600 and agent.plan.values["p_kw"] == [1.0, 2.0, 3.0]
    await asyncio.to_thread(_clear, session_mosquitto_url, topic_prefix)


def _clear(url: str, prefix: str) -> None:
    from cosim.plans.handdown import clear_plans

    clear_plans(url, "late", ["hp-0"], prefix)


def test_plan_file_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = _scenario({"file": str(tmp_path / "nope.json")})
    with pytest.raises(PlanError, match=r"nope\.json: plan file not found"):
        load_plans(missing)
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(PlanError, match="not a plan set"):
        load_plans(_scenario({"file": str(tmp_path / "bad.json")}))
    other = _plan_set(tmp_path / "other.json", ["elsewhere"])
    with pytest.raises(PlanError, match=r"no plan matches a building.*plan\.assets"):
        load_plans(_scenario({"file": str(other)}))
    with pytest.raises(PlanError, match="unknown buildings"):
        load_plans(_scenario({"file": str(other), "assets": {"ghost": "elsewhere"}}))
    good = _plan_set(tmp_path / "good.json", _names())
    with pytest.raises(PlanError, match="has no series 'soc'"):
        load_plans(_scenario({"file": str(good), "series": "soc"}))
    with pytest.raises(ValueError, match="plan"):
        Scenario.model_validate({**DISTRICT, "controller": {"kind": "none"}, "plan": {"file": str(good)}})


def test_schedules_are_on_the_run_clock(tmp_path: Path) -> None:
    path = _plan_set(tmp_path / "p.json", _names(), start_offset_s=1800)
    schedules = load_plans(_scenario({"file": str(path)}))
    assert set(schedules) == set(_names())
    s = schedules[_names()[0]]
    assert (s.start_s, s.step_s, s.values[0]) == (1800, 3600, PLAN_KW)


def _deviation_from_plans(run: RunSummary, plans: PlanSet) -> float:
    meters = read_table(run.out_dir, "buildings").set_index(["time_s", "entity"])["p_kw"]
    batteries = read_table(run.out_dir, "batteries")
    owner = batteries["entity"].str.removesuffix(".battery")
    meters = meters.add(
        batteries.assign(entity=owner).set_index(["time_s", "entity"])["p_kw"], fill_value=0.0
    )
    deviations = []
    for (time_s, entity), p_kw in meters.items():
        plan = plans.plans[str(entity)]
        deviations.append(abs(p_kw - plan.series["p_kw"][int(time_s) // plan.step_s]))
    return float(np.mean(deviations))


def test_the_planner_makes_the_plans_at_the_start_of_the_run(
    runs: dict[str, RunSummary], tmp_path: Path
) -> None:
    """`plan: {planner: {}}`: the energy-hub planner plans every building day-ahead (its grid
    exchange under the scenario's prices); the plans are stored and the ADMM agents track them."""
    scenario = _scenario({"planner": {}, "weight_per_kw2": WEIGHT})
    planned = run_scenario(scenario, tmp_path / "planner", echo=lambda _t: None)
    plans = PlanSet.from_json((planned.out_dir / "plans.json").read_bytes())
    assert sorted(plans.plans) == sorted(_names())
    assert all(
        p.source.startswith("planner.hub") and p.n_steps == scenario.n_steps for p in plans.plans.values()
    )
    hp_plans = [p for n, p in plans.plans.items() if n.startswith("hp")]
    assert all(max(p.series["hp_p_kw"]) > 0 for p in hp_plans)  # the hub heats the houses
    free = _deviation_from_plans(runs["free"], plans)
    tracked = _deviation_from_plans(planned, plans)
    assert tracked < 0.8 * free, (tracked, free)


def test_plan_sources_are_exclusive_and_planner_errors_are_clear(tmp_path: Path) -> None:
    good = _plan_set(tmp_path / "good.json", _names())
    with pytest.raises(ValueError, match="exactly one plan source"):
        _scenario({"file": str(good), "planner": {}})
    with pytest.raises(ValueError, match="exactly one plan source"):
        _scenario({})
    with pytest.raises(PlanError, match="unknown plan policy 'cheap'"):
        load_plans(_scenario({"planner": {"policy": "cheap"}}))


def _failing(plan: dict[str, Any], **controller: Any) -> Scenario:
    """Coordination cut short (one round per step): most steps fall back."""
    admm = {**DISTRICT["controller"]["admm"], "max_iterations": 1}  # type: ignore[dict-item]
    return _scenario(plan, admm=admm, **controller)


@pytest.fixture(scope="module")
def fallback_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunSummary, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fallback")
    plan = {"file": str(_plan_set(tmp / "plans.json", _names())), "weight_per_kw2": WEIGHT}
    return run_scenario(_failing(plan), tmp / "inproc", echo=lambda _t: None), plan


def test_the_plan_is_the_fallback_when_coordination_fails(
    runs: dict[str, RunSummary], fallback_run: tuple[RunSummary, dict[str, Any]]
) -> None:
    run, _ = fallback_run
    steps = read_table(run.out_dir, "admm_steps")
    failed = ~steps["converged"]
    assert failed.sum() >= 5  # one round rarely suffices (a warm start sometimes does)
    assert (steps.loc[failed, "fallback"] == "plan").all() and steps.loc[~failed, "fallback"].isna().all()
    # falling back, the agents still follow their plans (as closely as when coordinating)
    assert _deviation_kw(run) < TRACKING * _deviation_kw(runs["free"])
    assert _deviation_kw(run) == pytest.approx(_deviation_kw(runs["planned"]), rel=0.05)


@pytest.mark.network
def test_plan_fallback_over_mqtt_equals_in_process(
    fallback_run: tuple[RunSummary, dict[str, Any]], tmp_path: Path, session_mosquitto_url: str
) -> None:
    inproc, plan = fallback_run
    mqtt = run_scenario(
        _failing(plan, transport="mqtt", broker=session_mosquitto_url, step_timeout_s=SLOW_MACHINE_S),
        tmp_path / "mqtt",
        echo=lambda _t: None,
    )
    np.testing.assert_allclose(
        read_table(mqtt.out_dir, "setpoints").select_dtypes("number").to_numpy(dtype=float),
        read_table(inproc.out_dir, "setpoints").select_dtypes("number").to_numpy(dtype=float),
        rtol=1e-9,
        atol=1e-9,
    )
    assert (
        read_table(mqtt.out_dir, "admm_steps")["fallback"].tolist()
        == read_table(inproc.out_dir, "admm_steps")["fallback"].tolist()
    )
