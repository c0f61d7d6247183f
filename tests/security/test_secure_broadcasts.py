"""What an agent host takes from the broadcasters of a secured run.

Plans handed down: the planner logs in as its principal and signs each retained plan with its
Ed25519 key; agents that connect later take the planner's plan and reject forged retained plans (an
HMAC, another Ed25519 key, none), each counted by reason, even with the planner's broker password
stolen.

The clock, a message for several agents of one host: it passes the host's signature check once; a
signed clock reaches every agent of the host, and an unsigned one (sent with the bridge's stolen
broker password) reaches none and is rejected and counted once for the host, not once per agent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controllers.messages import ClockMessage, Codec, Message, MessageFactory, PlanMessage, encode
from controllers.middleware import MessagePath
from controllers.runtime import AgentHost
from controllers.runtime.agent import Agent
from controllers.signing import Keyring, SigningMiddleware
from controllers.topics import BRIDGE_ID, Kind, TopicScheme
from cosim.mqtt.brokers import MosquittoBroker, start_mosquitto
from cosim.plans.handdown import Schedule, publish_plans
from cosim.security import SecurityDir, init_security
from cosim.security.run import RunSecurity, load_run_security

pytestmark = pytest.mark.network

PREFIX, RUN = "sec", "r1"
AGENTS = ["b01", "b02", "b03", "b04"]
TIMEOUT_S = 10.0


class Keeper(Agent):
    """Keeps what the broadcasters hand it: the plans, and the ticks of the clock messages."""

    kind = "keeper"

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.plans: list[PlanMessage] = []
        self.ticks: list[int] = []

    async def on_message(self, message: Message) -> None:
        if isinstance(message, PlanMessage):
            self.plans.append(message)

    async def on_tick(self, message: ClockMessage) -> None:
        self.ticks.append(message.tick)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> SecurityDir:
    return init_security(AGENTS, tmp_path_factory.mktemp("plans") / "sec", prefix=PREFIX)


@pytest.fixture(scope="module")
def broker(folder: SecurityDir) -> Iterator[MosquittoBroker]:
    with start_mosquitto(security=RunSecurity(folder).broker()) as spawned:
        yield spawned


async def _publish_retained(broker: MosquittoBroker, folder: SecurityDir,
                            items: list[tuple[str, bytes]]) -> None:
    """As someone who stole the planner's broker password (not its signing key)."""
    url = RunSecurity(folder).planner().broker_url(broker.url)
    async with aiomqtt.Client(url.host, url.port, username=url.username, password=url.password,
                              tls_context=url.ssl_context()) as client:
        for topic, payload in items:
            await client.publish(topic, payload, qos=1, retain=True)


async def _agents_after(broker: MosquittoBroker,
                        folder: SecurityDir) -> tuple[dict[str, Keeper], dict[str, int]]:
    keepers = {a: Keeper(a) for a in AGENTS}
    host_id = RunSecurity(folder).host()
    verifier = host_id.middleware()
    host = AgentHost(list(keepers.values()), host_id.broker_url(broker.url), RUN, prefix=PREFIX,
                     host_id=host_id.username, middleware=[verifier])
    host.start()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while not keepers["b01"].plans or sum(verifier.counts.values()) < 3:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # anything else retained has arrived by now
    finally:
        await host.shutdown()
    return keepers, verifier.counts


def test_agents_take_the_planners_plan_and_reject_forged_retained_plans(
        broker: MosquittoBroker, folder: SecurityDir) -> None:
    security = RunSecurity(folder)
    published = publish_plans(broker.url, RUN, {"b01": Schedule("b01", "b01", 0, 900, (1.0, 2.0))}, "p_kw",
                              prefix=PREFIX, security=security.planner())
    assert published == 1
    scheme, factory = TopicScheme(RUN, PREFIX), MessageFactory(RUN, "planner")

    def forged(agent: str, signer: SigningMiddleware | None) -> tuple[str, bytes]:
        topic = scheme.topic(Kind.PLAN, agent)
        message: Message = factory.plan(0, 0, 900, {"p_kw": [9.0, 9.0]})
        return topic, encode(message if signer is None else signer.outgoing("planner", topic, message))

    b02_key = folder.client("b02").keyring.hmac_keys["b02"]  # the recipient's key: the old scheme
    asyncio.run(_publish_retained(broker, folder, [
        forged("b02", SigningMiddleware(Keyring(hmac_keys={"b02": b02_key}))),
        forged("b03", SigningMiddleware(Keyring(signing_keys={"planner": Ed25519PrivateKey.generate()}))),
        forged("b04", None),
    ]))
    keepers, counts = asyncio.run(_agents_after(broker, folder))
    assert [p.body.values["p_kw"] for p in keepers["b01"].plans] == [[1.0, 2.0]]
    assert all(not keepers[a].plans for a in ("b02", "b03", "b04"))
    assert counts == {"wrong_algorithm": 1, "bad_signature": 1, "unsigned": 1}


def test_the_planner_holds_no_agents_hmac_key(folder: SecurityDir) -> None:
    """It signs with its Ed25519 key only: a stolen planner folder forges no agent's messages."""
    keys = RunSecurity(folder).planner().keyring
    assert set(keys.hmac_keys) == {"planner"} and set(keys.signing_keys) == {"planner"}


def test_a_secured_run_with_plans_needs_the_folders_planner(tmp_path: Path) -> None:
    folder = init_security(AGENTS, tmp_path / "sec")
    assert load_run_security(folder.path, AGENTS, plans=True).planner().username == "planner"
    folder.revoke(["planner"])
    with pytest.raises(ValueError, match="no \\(unrevoked\\) principal 'planner'"):
        load_run_security(folder.path, AGENTS, plans=True)


async def test_a_hosts_agents_share_one_check_of_the_clock(broker: MosquittoBroker,
                                                           folder: SecurityDir) -> None:
    run = "r2"  # not the plans test's run, whose retained plans (forged ones among them) stay on the broker
    keepers = [Keeper(a) for a in AGENTS]
    login = RunSecurity(folder).host()
    verifier = login.middleware()
    host = AgentHost(keepers, login.broker_url(broker.url), run, prefix=PREFIX, host_id=login.username,
                     middleware=[verifier])
    bridge = RunSecurity(folder).bridge()
    signer = MessagePath(BRIDGE_ID, Codec.JSON, [bridge.middleware()])
    factory = MessageFactory(run, BRIDGE_ID)
    topic = TopicScheme(run=run, prefix=PREFIX).topic(Kind.CLOCK, BRIDGE_ID)
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
