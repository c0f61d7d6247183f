"""`AgentHostProcess`: agents on one connection in a child process, against the running Mosquitto
or a spawned one; bad specs fail in the parent with the agent's name."""

from __future__ import annotations

import asyncio

import pytest

from controllers.runtime.host_process import AgentHostProcess
from cosim.mqtt.bridge_core import BridgeCore
from cosim.mqtt.brokers import provide_broker

pytestmark = [pytest.mark.network]


def test_agents_in_a_child_process_answer_and_stop() -> None:
    broker = provide_broker(None, echo=lambda _: None)
    ids = [f"w{i}" for i in range(5)]
    host = AgentHostProcess([("echo", a, {}) for a in ids], broker.url, "hostproc", prefix="t-hostproc")
    try:

        async def exchange() -> tuple[tuple[str, ...], set[str]]:
            bridge = BridgeCore(broker.url, "hostproc", ids, prefix="t-hostproc", step_timeout_s=10.0)
            await bridge.start(10.0)
            try:
                missing = await bridge.wait_ready(30.0)
                assert not missing, missing
                meas = {a: {"t_in_c": 20.0, "soc": 0.5} for a in ids}
                result = await bridge.exchange(0, meas)
                return result.late_agents, set(result.setpoints)
            finally:
                await bridge.stop()

        late, answered = asyncio.run(exchange())
        assert late == () and answered == set(ids)
        assert host.alive
    finally:
        host.close()
        broker.close()
    assert not host.alive and host.process.returncode == 0  # stopped cleanly on SIGTERM


def test_unknown_kind_fails_in_the_parent() -> None:
    with pytest.raises(KeyError, match="nope"):
        AgentHostProcess([("nope", "a1", {})], "mqtt://127.0.0.1:1", "r")
