"""Faults during a whole `cosim run`: an agent process crashes and rejoins; the broker restarts.
The run goes on with recorded fallbacks and every agent is back afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cosim.mqtt.brokers import MosquittoBroker
from cosim.mqtt.plane import AgentProcesses, ControlPlane
from cosim.results.writer import read_table
from cosim.run import run_scenario
from cosim.scenario.model import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.network]

STEP_S = 900


def _scenario(**controller: Any) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "faults",
            "start": "2024-03-20T10:00:00",
            "duration": "3h",
            "step": "15min",
            "buildings": [{"name": "b", "count": 3, "pv_kwp": 5, "battery": {"capacity_kwh": 5}}],
            "grid": {"network": "kerber_landnetz_kabel_1"},
            "controller": {"kind": "rule_based", "step_timeout_s": 1.5, **controller},
        }
    )


def _late_steps(out: Path) -> pd.DataFrame:
    try:
        events = read_table(out, "control_events")
    except FileNotFoundError:
        return pd.DataFrame(columns=["time_s", "entity"])
    return events[events["kind"] == "late"]


def test_agent_crash_and_rejoin(tmp_path: Path) -> None:
    planes: list[ControlPlane] = []

    def on_step(time_s: int) -> None:
        agents = planes[0].agents
        assert isinstance(agents, AgentProcesses)
        if time_s == 2 * STEP_S:
            agents.kill("b-002")  # a crash: SIGKILL, no offline message from the agent itself
        if time_s == 5 * STEP_S:
            agents.restart("b-002")
            bridge = planes[0].bridge
            assert bridge is not None
            assert not bridge.wait_ready(60.0)  # nobody missing: it rejoined

    summary = run_scenario(
        _scenario(agents="processes"),
        tmp_path / "out",
        on_step=on_step,
        on_control_plane=planes.append,
        echo=lambda _t: None,
    )
    late = _late_steps(summary.out_dir)
    assert set(late["entity"]) == {"b-002"}
    assert late["time_s"].between(3 * STEP_S, 5 * STEP_S).all()  # only while it was down
    assert len(late) >= 2
    assert summary.kpis["control"]["late_agent_steps"] == len(late)


def test_broker_restart_mid_run(tmp_path: Path, mosquitto_broker: MosquittoBroker) -> None:
    planes: list[ControlPlane] = []

    def on_step(time_s: int) -> None:
        if time_s == 2 * STEP_S:
            mosquitto_broker.stop()
        if time_s == 4 * STEP_S:
            bridge = planes[0].bridge
            assert bridge is not None
            assert bridge.core.online_agents() == frozenset()  # unknown since the connection was lost
            mosquitto_broker.start()
            # waits until the bridge has reconnected and every agent has announced itself again (it
            # used to return at once, with the bridge's view from before the restart)
            assert not bridge.wait_ready(60.0)

    summary = run_scenario(
        _scenario(),
        tmp_path / "out",
        on_step=on_step,
        on_control_plane=planes.append,
        broker_url=mosquitto_broker.url,
        echo=lambda _t: None,
    )
    late = _late_steps(summary.out_dir)
    # late only while the broker is down (the steps at 3 and 4 × 15 min); none once it is back.
    # Without the `wait_ready` above, the next step's own wait for the agents (at most one step
    # timeout, 1.5 s) would usually suffice, but not always: the clients retry with a backoff of
    # up to 2 s, so the bridge or an agent may still be waiting to reconnect when that step ends.
    assert len(late) > 0 and late["time_s"].between(3 * STEP_S, 4 * STEP_S).all()
    steps = read_table(summary.out_dir, "control_steps")
    assert (steps[steps["time_s"] > 4 * STEP_S]["late_agents"] == 0).all()  # all back after the restart
    assert json_status(summary.out_dir) == "completed"


def json_status(out: Path) -> str:
    import json

    return str(json.loads((out / "run.json").read_text())["status"])
