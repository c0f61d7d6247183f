"""Runs with the controllers as MQTT agents: same KPIs as in process, on every kind of broker and
agent deployment; every message recorded."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario
from tests.comparisons import comparable_kpis

pytestmark = [pytest.mark.slow, pytest.mark.network]




def _with(scenario: Scenario, **controller: Any) -> Scenario:
    return scenario.model_copy(update={"controller": scenario.controller.model_copy(update=controller)})


@pytest.fixture(scope="module")
def inprocess_run(small_scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> RunSummary:
    return run_scenario(_with(small_scenario, transport="inprocess"), tmp_path_factory.mktemp("inprocess"))


def test_mqtt_is_the_default_and_matches_in_process(small_run: RunSummary, inprocess_run: RunSummary) -> None:
    assert "mqtt" in small_run.kpis and "mqtt" not in inprocess_run.kpis
    assert comparable_kpis(small_run.kpis) == comparable_kpis(inprocess_run.kpis)


def _agents(scenario: Scenario) -> int:
    """The scenario's agents: one per building and one per standalone storage unit."""
    return scenario.n_buildings + len(scenario.storage)


def test_the_default_run_batches_and_equals_one_message_per_agent(
    small_run: RunSummary, per_agent_run: RunSummary, small_scenario: Scenario
) -> None:
    """Unset `batch`: agents as tasks talk to the bridge in one batch per step each way."""
    assert small_scenario.controller.batch is None and small_scenario.controller.batches
    batched, alone = small_run.kpis["mqtt"], per_agent_run.kpis["mqtt"]
    assert batched["batched_entries"] == 2 * _agents(small_scenario) * small_scenario.n_steps
    assert alone["batched_entries"] == 0 and batched["messages"] < alone["messages"]
    assert comparable_kpis(small_run.kpis) == comparable_kpis(per_agent_run.kpis)


def test_every_message_is_recorded(per_agent_run: RunSummary, small_scenario: Scenario) -> None:
    small_run = per_agent_run  # one message per agent and step each way
    messages = read_table(small_run.out_dir, "mqtt_messages")
    steps = read_table(small_run.out_dir, "control_steps")
    assert len(steps) == small_scenario.n_steps and (steps["late_agents"] == 0).all()
    agents = _agents(small_scenario)
    setpoints = messages[(messages["kind"] == "setpoint") & (messages["direction"] == "in")]
    assert len(setpoints) == agents * small_scenario.n_steps  # one answer per agent and step
    assert setpoints["rtt_s"].notna().all() and (setpoints["rtt_s"] > 0).all()
    assert small_run.kpis["mqtt"]["messages"] >= len(messages)
    assert small_run.kpis["mqtt"]["dropped"] == 0
    # per controlled agent, not per traffic key (the clock's and the bridge's own keys are no agents)
    kpis = small_run.kpis["mqtt"]
    assert kpis["messages_per_agent"] == pytest.approx(kpis["messages"] / agents)


def test_against_a_users_own_mosquitto(
    small_scenario: Scenario, inprocess_run: RunSummary, tmp_path: Path, session_mosquitto_url: str
) -> None:
    """A broker the run did not start (given by URL, as a user's own) gives the same results."""
    summary = run_scenario(small_scenario, tmp_path / "out", broker_url=session_mosquitto_url)
    assert comparable_kpis(summary.kpis) == comparable_kpis(inprocess_run.kpis)


def test_agents_as_separate_processes(
    small_scenario: Scenario, inprocess_run: RunSummary, tmp_path: Path
) -> None:
    summary = run_scenario(_with(small_scenario, agents="processes"), tmp_path / "out")
    assert comparable_kpis(summary.kpis) == comparable_kpis(inprocess_run.kpis)


def test_agents_in_one_worker_process(
    small_scenario: Scenario, inprocess_run: RunSummary, tmp_path: Path
) -> None:
    summary = run_scenario(_with(small_scenario, agents="worker"), tmp_path / "out")
    assert comparable_kpis(summary.kpis) == comparable_kpis(inprocess_run.kpis)
    steps = read_table(summary.out_dir, "control_steps")
    assert (steps["late_agents"] == 0).all()  # every agent in the worker answered every step


@pytest.mark.parametrize("agents", ["tasks", "worker"])
def test_batches_per_host_match_in_process_and_one_message_per_agent(
    small_scenario: Scenario, per_agent_run: RunSummary, inprocess_run: RunSummary, tmp_path: Path,
    agents: str,
) -> None:
    small_run = per_agent_run
    summary = run_scenario(_with(small_scenario, agents=agents, batch=True), tmp_path / "out")
    expected = comparable_kpis(inprocess_run.kpis)
    assert comparable_kpis(summary.kpis) == expected == comparable_kpis(small_run.kpis)
    steps, n_agents = small_scenario.n_steps, _agents(small_scenario)
    assert (read_table(summary.out_dir, "control_steps")["late_agents"] == 0).all()
    messages = read_table(summary.out_dir, "mqtt_messages")
    counts = messages[messages["kind"] != "status"].groupby(["direction", "kind"]).size().to_dict()
    assert counts == {("out", "batch/meas"): steps, ("in", "batch/setpoint"): steps, ("out", "clock"): steps}
    answers = messages[messages["kind"] == "batch/setpoint"]
    assert answers["rtt_s"].notna().all() and answers["dropped"].isna().all()
    mqtt, per_agent = summary.kpis["mqtt"], small_run.kpis["mqtt"]
    assert mqtt["batched_entries"] == 2 * n_agents * steps and per_agent["batched_entries"] == 0
    assert mqtt["dropped"] == 0 and mqtt["rtt_median_ms"] is not None
    assert mqtt["messages"] < per_agent["messages"]


def test_unreachable_broker_is_a_clear_error(small_scenario: Scenario, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scenario = _with(small_scenario, broker=f"mqtt://127.0.0.1:{port}")
    with pytest.raises(
        ConnectionError, match=r"cannot reach the MQTT broker at mqtt://127\.0\.0\.1:.*--broker"
    ):
        run_scenario(scenario, tmp_path / "out", broker_url=None)
