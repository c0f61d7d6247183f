"""examples/external_controller.py in a secured run: over TLS with the agent host's login, every
message tagged with its agent's key, the bridge's checked (measurements by HMAC, clock and status
by Ed25519) with the standard library and `cryptography` only; a tampered or replayed message of
the bridge is dropped and counted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from controllers.messages import MessageFactory, encode
from controllers.topics import Kind, TopicScheme
from cosim.control.agents import agent_specs
from cosim.mqtt.brokers import start_mosquitto
from cosim.results.writer import read_table
from cosim.run import run_scenario
from cosim.scenario.model import load_scenario
from cosim.security import SecurityDir, init_security
from cosim.security.run import RunSecurity

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AGENTS = ["house-bat-001", "house-bat-002", "house"]


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("external_controller", EXAMPLES / "external_controller.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> SecurityDir:
    scenario = load_scenario(EXAMPLES / "external-controller.yaml")
    assert [s.agent_id for s in agent_specs(scenario)] == AGENTS
    return init_security(AGENTS, tmp_path_factory.mktemp("ext") / "sec")


def test_the_example_controls_a_secured_run(folder: SecurityDir, tmp_path: Path) -> None:
    scenario = load_scenario(EXAMPLES / "external-controller.yaml")
    scenario = scenario.model_copy(update={
        "duration": 2 * 3600,
        "controller": scenario.controller.model_copy(update={"ready_timeout_s": 30.0}),
    })
    security = RunSecurity(folder)
    run_id = f"ext-{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {}
    with start_mosquitto(security=security.broker()) as broker:
        url = f"mqtts://127.0.0.1:{broker.port}"

        def run() -> None:
            try:
                result["summary"] = run_scenario(
                    scenario, tmp_path / "out", run_id=run_id, echo=lambda _: None,
                    broker_url=f"{url}?ca={folder.ca_file}", security=security)
            except BaseException as exc:  # reported below
                result["error"] = exc

        runner = threading.Thread(target=run)
        runner.start()
        external = subprocess.run(
            [sys.executable, str(EXAMPLES / "external_controller.py"), "--broker", url, "--run", run_id,
             "--agents", ",".join(AGENTS), "--timeout-s", "90", "--security", str(folder.path)],
            capture_output=True, text=True, timeout=150,
        )
        runner.join(timeout=150)
    assert "error" not in result, result.get("error")
    assert external.returncode == 0, external.stdout + external.stderr
    assert "answered 24 measurements; run finished" in external.stdout  # 8 steps x 3 agents, none rejected
    kpis = result["summary"].kpis
    assert kpis["mqtt"]["rejected"] == {} and kpis["control"]["late_agent_steps"] == 0
    setpoints = read_table(tmp_path / "out", "setpoints")
    batteries = setpoints[setpoints["entity"].str.startswith("house-bat")]["battery_p_set_kw"]
    assert len(batteries) > 0 and batteries.notna().all() and (batteries != 0).any()


def test_the_example_drops_tampered_and_replayed_messages_of_the_bridge(folder: SecurityDir) -> None:
    example = _example()
    controller = object.__new__(example.ExternalController)  # its checks, without a connection
    controller.keys = example.Keys(folder.path, "agent-host", AGENTS)
    controller.rejected, controller.last_seen = {}, {}
    bridge = folder.client("bridge").middleware()
    scheme, factory = TopicScheme("r1"), MessageFactory("r1", "bridge")

    def wire(kind: Kind, agent: str, message: Any) -> tuple[str, bytes, dict[str, Any]]:
        topic = scheme.topic(kind, agent)
        payload = encode(bridge.outgoing("bridge", topic, message))
        return topic, payload, json.loads(payload)

    meas = wire(Kind.MEAS, "house", factory.meas(0, {"p_kw": 1.0}))
    clock = wire(Kind.CLOCK, "bridge", factory.clock(0, 0))
    assert controller.accept(*meas) and controller.accept(*clock)
    assert not controller.accept(*meas)  # the same message again: a replay
    topic, payload, _ = wire(Kind.MEAS, "house", factory.meas(1, {"p_kw": 1.0}))
    tampered = payload.replace(b"1.0", b"9.0")
    assert not controller.accept(topic, tampered, json.loads(tampered))
    other = wire(Kind.MEAS, "house-bat-001", factory.meas(1, {"p_kw": 1.0}))
    assert not controller.accept(scheme.topic(Kind.MEAS, "house"), other[1], other[2])  # another agent's key
    assert controller.rejected == {"replay": 1, "bad HMAC": 2}
