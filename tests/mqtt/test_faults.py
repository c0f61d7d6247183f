"""Faults: an agent process that crashes and rejoins; a broker restart survived by reconnecting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest

from controllers.runtime import AgentGroup, AgentRunner, MqttConnection
from controllers.runtime.connection import Backoff
from cosim.mqtt.bridge_core import BridgeCore
from cosim.mqtt.brokers import MosquittoBroker
from tests.mqtt.helpers import RUN, TIMEOUT_S, echo_runners, meas

pytestmark = [pytest.mark.network, pytest.mark.slow]


def agent_process(url: str, prefix: str, agent: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "controllers.agent", "--broker", url, "--run", RUN,
                             "--agent", agent, "--kind", "echo", "--prefix", prefix])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


async def test_agent_crash_and_rejoin(session_mosquitto_url: str, topic_prefix: str,
                                      processes: list[subprocess.Popen[bytes]]) -> None:
    url, ids = session_mosquitto_url, ["steady", "crashy"]
    group = AgentGroup(echo_runners(url, topic_prefix, ["steady"]))
    processes.append(agent_process(url, topic_prefix, "crashy"))
    bridge = BridgeCore(url, RUN, ids, prefix=topic_prefix, step_timeout_s=TIMEOUT_S)
    async with group:
        await bridge.start(TIMEOUT_S)
        try:
            assert await bridge.wait_ready(TIMEOUT_S * 2) == frozenset()
            assert (await bridge.exchange(0, meas(ids, 0))).all_on_time

            processes[0].kill()  # SIGKILL: no clean disconnect, the broker sends the last will
            processes[0].wait()
            assert await bridge.wait_for_state("crashy", "offline", TIMEOUT_S)
            crashed = await bridge.exchange(1, meas(ids, 1), timeout_s=0.5)
            assert crashed.late_agents == ("crashy",)
            assert crashed.fallback_sources == {"crashy": "last"}
            assert crashed.setpoints["crashy"] == meas(ids, 0)["crashy"]
            assert crashed.setpoints["steady"] == meas(ids, 1)["steady"]

            processes.append(agent_process(url, topic_prefix, "crashy"))  # rejoin
            assert await bridge.wait_for_state("crashy", "online", TIMEOUT_S)
            rejoined = await bridge.exchange(2, meas(ids, 2))
            assert rejoined.all_on_time and rejoined.setpoints == meas(ids, 2)
        finally:
            await bridge.stop()
    offline = [e for e in bridge.status_events if e.agent == "crashy" and e.state == "offline"]
    assert offline and offline[0].detail == "connection lost"


async def wait_all(events: list[asyncio.Event]) -> None:
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), TIMEOUT_S)


async def test_broker_restart_mid_run(mosquitto_broker: MosquittoBroker, topic_prefix: str) -> None:
    url, ids = mosquitto_broker.url, ["a0", "a1", "a2"]
    runners = echo_runners(url, topic_prefix, ids)
    bridge = BridgeCore(url, RUN, ids, prefix=topic_prefix, step_timeout_s=TIMEOUT_S)
    async with AgentGroup(runners):
        await bridge.start(TIMEOUT_S)
        connections: list[MqttConnection] = [bridge.connection, *(r.connection for r in runners)]
        try:
            assert await bridge.wait_ready(TIMEOUT_S) == frozenset()
            assert (await bridge.exchange(0, meas(ids, 0))).all_on_time

            mosquitto_broker.stop()
            await wait_all([c.disconnected for c in connections])
            down = await bridge.exchange(1, meas(ids, 1), timeout_s=0.3)
            assert down.late_agents == tuple(ids) and down.measurements_published == 0
            assert set(down.fallback_sources.values()) == {"last"}

            mosquitto_broker.start()  # same port
            await wait_all([c.connected for c in connections])
            for tick in (2, 3):
                result = await bridge.exchange(tick, meas(ids, tick))
                assert result.all_on_time and result.setpoints == meas(ids, tick)
        finally:
            await bridge.stop()
    assert all(c.stats.connects >= 2 for c in connections)
    assert all(r.stats.steps == 3 for r in runners)  # ticks 0, 2, 3


SLOW_AGENTS = Backoff(initial_s=0.5, max_s=0.5)  # agents come back well after the bridge
QUICK_BRIDGE = Backoff(initial_s=0.01, max_s=0.05)


async def _restart_broker(broker: MosquittoBroker, bridge: BridgeCore, runners: list[AgentRunner]) -> None:
    """Stop the broker, wait until every client has noticed, start it again (same port)."""
    broker.stop()
    await wait_all([bridge.connection.disconnected, *(r.connection.disconnected for r in runners)])
    # whatever the broker said on its way down (Mosquitto sends the agents' last wills to whoever is
    # still connected), the bridge hears nothing from now on: it knows nothing about anyone
    assert bridge.online_agents() == frozenset()
    assert {bridge.agent_states[a] for a in bridge.agents} == {"unknown"}
    broker.start()


async def test_first_step_after_broker_restart_waits_for_agents(
    mosquitto_broker: MosquittoBroker, topic_prefix: str
) -> None:
    """The bridge reconnects before its agents; its first step waits until they have announced
    themselves again (on their own reconnect, or asked by the bridge's `waiting`), then is on time."""
    url, ids = mosquitto_broker.url, ["a0", "a1", "a2"]
    runners = echo_runners(url, topic_prefix, ids, backoff=SLOW_AGENTS)
    bridge = BridgeCore(url, RUN, ids, prefix=topic_prefix, step_timeout_s=TIMEOUT_S, backoff=QUICK_BRIDGE)
    async with AgentGroup(runners):
        await bridge.start(TIMEOUT_S)
        try:
            assert await bridge.wait_ready(TIMEOUT_S) == frozenset()
            assert (await bridge.exchange(0, meas(ids, 0))).all_on_time
            bridge.recorder.drain()  # from here on, the records of the restart

            await _restart_broker(mosquitto_broker, bridge, runners)
            assert await bridge.connection.wait_connected(TIMEOUT_S)
            result = await bridge.exchange(1, meas(ids, 1))
            assert result.all_on_time and result.setpoints == meas(ids, 1)
            assert result.timings.total_s >= result.timings.resync_s > 0
            assert bridge.online_agents() == frozenset(ids)

            assert (await bridge.exchange(2, meas(ids, 2))).timings.resync_s == 0  # only once
        finally:
            await bridge.stop()
    asked = [r for r in bridge.recorder.drain() if r.direction == "out" and r.kind == "status"]
    assert asked, "the bridge did not ask the agents to announce themselves after reconnecting"
    assert all(r.stats.steps == 3 and r.connection.stats.connects == 2 for r in runners)


async def test_wait_ready_after_broker_restart_waits_for_agents(
    mosquitto_broker: MosquittoBroker, topic_prefix: str
) -> None:
    """`wait_ready` right after a broker restart returns once every agent is back, not at once
    with the view from before the restart."""
    url, ids = mosquitto_broker.url, ["a0", "a1", "a2"]
    runners = echo_runners(url, topic_prefix, ids, backoff=SLOW_AGENTS)
    bridge = BridgeCore(url, RUN, ids, prefix=topic_prefix, step_timeout_s=TIMEOUT_S, backoff=QUICK_BRIDGE)
    async with AgentGroup(runners):
        await bridge.start(TIMEOUT_S)
        try:
            assert await bridge.wait_ready(TIMEOUT_S) == frozenset()
            await _restart_broker(mosquitto_broker, bridge, runners)
            assert await bridge.wait_ready(TIMEOUT_S) == frozenset()
            assert all(r.connection.connected.is_set() and r.connection.stats.connects == 2 for r in runners)
            result = await bridge.exchange(0, meas(ids, 0))
            assert result.all_on_time and result.timings.resync_s == 0  # nothing left to wait for
        finally:
            await bridge.stop()
