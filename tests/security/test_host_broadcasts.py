"""A message for several agents of one host (the bridge's clock) passes the host's signature check
once: on a secured Mosquitto, a signed clock reaches every agent of the host, and an unsigned one
(sent with the bridge's stolen broker password) reaches none and is rejected and counted once for
the host, not once per agent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from controllers.messages import ClockMessage, Codec, MessageFactory, encode
from controllers.middleware import MessagePath
from controllers.runtime import AgentHost
from controllers.runtime.agent import Agent
from controllers.topics import BRIDGE_ID, Kind, TopicScheme
from cosim.mqtt.brokers import MosquittoBroker, start_mosquitto
from cosim.security import SecurityDir, init_security
from cosim.security.run import RunSecurity

pytestmark = pytest.mark.network

PREFIX, RUN = "sec", "r1"
AGENTS = ["b01", "b02", "b03", "b04"]
TIMEOUT_S = 10.0


class ClockKeeper(Agent):
    """Keeps the ticks of the clock messages it is handed."""

    kind = "clock-keeper"

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.ticks: list[int] = []

    async def on_tick(self, message: ClockMessage) -> None:
        self.ticks.append(message.tick)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> SecurityDir:
    return init_security(AGENTS, tmp_path_factory.mktemp("clock") / "sec", prefix=PREFIX)


@pytest.fixture(scope="module")
def broker(folder: SecurityDir) -> Iterator[MosquittoBroker]:
    with start_mosquitto(security=RunSecurity(folder).broker()) as spawned:
        yield spawned


async def test_a_hosts_agents_share_one_check_of_the_clock(broker: MosquittoBroker, folder: SecurityDir,
                                                           tmp_path: Path) -> None:
    keepers = [ClockKeeper(a) for a in AGENTS]
    login = RunSecurity(folder).host()
    verifier = login.middleware()
    host = AgentHost(keepers, login.broker_url(broker.url), RUN, prefix=PREFIX, host_id=login.username,
                     middleware=[verifier])
    bridge = RunSecurity(folder).bridge()
    signer = MessagePath(BRIDGE_ID, Codec.JSON, [bridge.middleware()])
    factory = MessageFactory(RUN, BRIDGE_ID)
    topic = TopicScheme(run=RUN, prefix=PREFIX).topic(Kind.CLOCK, BRIDGE_ID)
    forged = encode(factory.clock(1, 900, step_s=900))  # unsigned, with a fresh sequence number
    signed = signer.encode(topic, factory.clock(2, 1800, step_s=900))
    assert signed is not None
    url = bridge.broker_url(broker.url)
    async with host:
        assert await host.wait_ready(TIMEOUT_S)
        async with aiomqtt.Client(url.host, url.port, username=url.username, password=url.password,
                                  tls_context=url.ssl_context()) as client:
            await client.publish(topic, forged, qos=1)
            await client.publish(topic, signed, qos=1)
            async with asyncio.timeout(TIMEOUT_S):
                while not all(k.ticks for k in keepers):
                    await asyncio.sleep(0.02)
    assert [k.ticks for k in keepers] == [[2]] * len(AGENTS)
    assert verifier.counts == {"unsigned": 1}  # once for the host, not once per agent
    assert host.dropped.by_reason() == {"middleware": 1}
    assert all(runner.dropped.by_reason() == {} for runner in host.runners)
