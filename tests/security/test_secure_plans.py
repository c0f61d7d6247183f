"""Plans handed down in a secured run: the planner logs in as its principal and signs each retained
plan with its Ed25519 key; agents that connect later take the planner's plan and reject forged
retained plans (an HMAC, another Ed25519 key, none), each counted by reason, even with the
planner's broker password stolen."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controllers.messages import Message, MessageFactory, PlanMessage, encode
from controllers.runtime import AgentHost
from controllers.runtime.agent import Agent
from controllers.signing import Keyring, SigningMiddleware
from controllers.topics import Kind, TopicScheme
from cosim.mqtt.brokers import MosquittoBroker, start_mosquitto
from cosim.plans.handdown import Schedule, publish_plans
from cosim.security import SecurityDir, init_security
from cosim.security.run import RunSecurity, load_run_security

pytestmark = pytest.mark.network

PREFIX, RUN = "sec", "r1"
AGENTS = ["b01", "b02", "b03", "b04"]
TIMEOUT_S = 10.0


class PlanKeeper(Agent):
    """Keeps the plans it is handed."""

    kind = "plan-keeper"

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id)
        self.plans: list[PlanMessage] = []

    async def on_message(self, message: Message) -> None:
        if isinstance(message, PlanMessage):
            self.plans.append(message)


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
                        folder: SecurityDir) -> tuple[dict[str, PlanKeeper], dict[str, int]]:
    keepers = {a: PlanKeeper(a) for a in AGENTS}
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
