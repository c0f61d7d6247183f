"""The secured control plane against a real Mosquitto of the module's own, started with TLS, passwords
and the ACL that `cosim security init` writes: who may connect, who may publish where, which messages
the receivers accept, and revocation during a run."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from controllers.messages import MessageFactory, SetpointMessage, decode, encode
from controllers.runtime import AgentRunner, create_agent
from controllers.runtime.broker_url import BrokerUrlError, parse_broker_url
from controllers.runtime.identity import ClientSecurity
from controllers.runtime.mqtt_client import InboundMessage, MqttError, MqttSession, Will
from controllers.signing import Keyring, SigningMiddleware
from controllers.topics import Kind, TopicScheme
from cosim.mqtt.bridge_core import BridgeCore
from cosim.mqtt.brokers import BrokerSecurity, MosquittoBroker, start_mosquitto
from cosim.mqtt.plane import AgentSpec, start_control_plane
from cosim.security import SecurityDir, init_security
from cosim.security.pki import cert_pem, make_ca
from cosim.security.run import RunSecurity, rejection_rows

pytestmark = pytest.mark.network

PREFIX = "sec"
RUN = "r1"
AGENTS = ["b01", "b02", "b03"]
TIMEOUT_S = 10.0


def _broker_security(folder: SecurityDir, require_certificate: bool = False) -> BrokerSecurity:
    return BrokerSecurity(folder.ca_file, folder.server_cert, folder.server_key, folder.password_file,
                          folder.acl_file, require_certificate)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> SecurityDir:
    return init_security(AGENTS, tmp_path_factory.mktemp("security") / "sec", prefix=PREFIX)


@pytest.fixture
def broker(folder: SecurityDir) -> Iterator[MosquittoBroker]:
    """A secured Mosquitto of the test's own (revocation changes the folder: see `revoke_folder`)."""
    with start_mosquitto(security=_broker_security(folder)) as mosquitto:
        yield mosquitto


async def _session(broker: MosquittoBroker, who: ClientSecurity, inbox: asyncio.Queue[InboundMessage],
                   will: Will | None = None) -> MqttSession:
    url = who.broker_url(broker.url)
    return await MqttSession.open(url.host, url.port, client_id=f"{who.username}-{os.getpid()}",
                                  on_message=inbox.put_nowait, username=url.username, password=url.password,
                                  tls=url.ssl_context(), timeout_s=TIMEOUT_S, will=will)


@contextlib.asynccontextmanager
async def session(broker: MosquittoBroker, who: ClientSecurity, will: Will | None = None) -> AsyncIterator[
        tuple[MqttSession, asyncio.Queue[InboundMessage]]]:
    inbox: asyncio.Queue[InboundMessage] = asyncio.Queue()
    client = await _session(broker, who, inbox, will)
    try:
        yield client, inbox
    finally:
        await client.disconnect()


# ------------------------------------------------------------------------------------ connecting


async def test_principal_connects_with_tls_and_password(broker: MosquittoBroker, folder: SecurityDir) -> None:
    async with session(broker, folder.client("b01", certificate=False)) as (client, _):
        assert client.is_open


async def test_wrong_password_is_refused(broker: MosquittoBroker, folder: SecurityDir) -> None:
    real = folder.client("b01", certificate=False)
    wrong = ClientSecurity("b01", real.password + "x", real.keyring, real.ca_file)
    with pytest.raises(MqttError, match=r"not authori[sz]ed|bad user name or password"):
        async with session(broker, wrong):
            pass


async def test_plain_mqtt_and_anonymous_are_refused(broker: MosquittoBroker, folder: SecurityDir) -> None:
    anonymous = ClientSecurity("", "", Keyring(), folder.ca_file)
    with pytest.raises(MqttError):
        async with session(broker, anonymous):
            pass
    inbox: asyncio.Queue[InboundMessage] = asyncio.Queue()
    with pytest.raises(MqttError):  # no TLS on a TLS listener: the handshake never completes
        await MqttSession.open(broker.host, broker.port, client_id="plain", on_message=inbox.put_nowait,
                               timeout_s=2.0)


async def test_tls_with_an_unknown_ca_is_refused(broker: MosquittoBroker, folder: SecurityDir,
                                                 tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_bytes(cert_pem(make_ca("someone else's CA").cert))
    real = folder.client("b01", certificate=False)
    stranger = ClientSecurity("b01", real.password, real.keyring, other_ca)
    with pytest.raises(MqttError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        async with session(broker, stranger):
            pass


async def test_client_certificate_required(folder: SecurityDir) -> None:
    with start_mosquitto(security=_broker_security(folder, require_certificate=True)) as broker:
        with pytest.raises(MqttError):
            async with session(broker, folder.client("b01", certificate=False)):
                pass
        async with session(broker, folder.client("b01", certificate=True)) as (client, _):
            assert client.is_open


# ------------------------------------------------------------------------------------ the ACL


async def test_agent_cannot_publish_on_another_agents_topic(broker: MosquittoBroker,
                                                            folder: SecurityDir) -> None:
    """b01 publishes a setpoint under b02's name: the bridge's subscriber never gets it, and Mosquitto
    (2.0) disconnects b01 for it (so the broker publishes b01's last will: the platform hears of the
    denied publish as the agent going offline, not as a silent late answer). b01's own setpoint,
    published after reconnecting, is the first message the bridge gets."""
    scheme = TopicScheme(RUN, PREFIX)
    will = Will(scheme.topic(Kind.STATUS, "b01"), b"b01 offline")
    async with session(broker, folder.client("bridge")) as (bridge, inbox):
        filters = [(scheme.filter(Kind.SETPOINT), 1), (scheme.filter(Kind.STATUS), 1)]
        await bridge.subscribe(filters, TIMEOUT_S)
        async with session(broker, folder.client("b01"), will) as (b01, _):
            b01.publish(scheme.topic(Kind.SETPOINT, "b02"), b"forged", qos=1)
            assert isinstance(await asyncio.wait_for(b01.closed, TIMEOUT_S), MqttError)
        heard = await asyncio.wait_for(inbox.get(), TIMEOUT_S)
        assert (heard.topic, heard.payload) == (will.topic, will.payload)  # its last will, not the forgery
        async with session(broker, folder.client("b01")) as (b01, _):
            await b01.publish(scheme.topic(Kind.SETPOINT, "b01"), b"own", qos=1)
            first = await asyncio.wait_for(inbox.get(), TIMEOUT_S)
        assert (first.topic, first.payload) == (scheme.topic(Kind.SETPOINT, "b01"), b"own")


async def test_agent_cannot_read_another_agents_measurements(broker: MosquittoBroker,
                                                             folder: SecurityDir) -> None:
    """Mosquitto grants b01's subscription to b02's measurements but delivers none: the bridge
    publishes b02's then b01's, and b01 gets b01's only."""
    scheme = TopicScheme(RUN, PREFIX)
    async with session(broker, folder.client("bridge")) as (bridge, _), \
            session(broker, folder.client("b01")) as (b01, inbox):
        filters = [(scheme.topic(Kind.MEAS, "b02"), 1), (scheme.topic(Kind.MEAS, "b01"), 1)]
        await b01.subscribe(filters, TIMEOUT_S)
        await bridge.publish(scheme.topic(Kind.MEAS, "b02"), b"for b02", qos=1)
        await bridge.publish(scheme.topic(Kind.MEAS, "b01"), b"for b01", qos=1)
        first = await asyncio.wait_for(inbox.get(), TIMEOUT_S)
        assert (first.topic, first.payload) == (scheme.topic(Kind.MEAS, "b01"), b"for b01")


# ------------------------------------------------------------------------------------ signed messages


@contextlib.asynccontextmanager
async def secured_bridge(broker: MosquittoBroker, folder: SecurityDir, agents: list[str]
                         ) -> AsyncIterator[tuple[BridgeCore, SigningMiddleware, list[AgentRunner]]]:
    bridge_id = folder.client("bridge")
    verifier = bridge_id.middleware()
    bridge = BridgeCore(bridge_id.broker_url(broker.url), RUN, agents, prefix=PREFIX, step_timeout_s=1.5,
                        middleware=[verifier])
    runners = []
    for agent in agents:
        who = folder.client(agent)
        runners.append(AgentRunner(create_agent("constant", agent, p_kw=1.0), who.broker_url(broker.url), RUN,
                                   prefix=PREFIX, middleware=[who.middleware()]))
    tasks = [asyncio.create_task(r.run()) for r in runners]
    await bridge.start()
    try:
        assert not await bridge.wait_ready(TIMEOUT_S)
        yield bridge, verifier, runners
    finally:
        for runner in runners:
            await runner.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bridge.stop()


async def test_spoofed_and_replayed_setpoints_are_rejected_and_counted(
        broker: MosquittoBroker, folder: SecurityDir) -> None:
    """An attacker holding b02's broker login but not its key: a setpoint without a tag, one with
    a tag of a wrong key, and b02's own setpoint of the step before replayed are all rejected by
    the bridge and counted by reason; b02's genuine setpoints are taken."""
    scheme = TopicScheme(RUN, PREFIX)
    topic = scheme.topic(Kind.SETPOINT, "b02")
    async with secured_bridge(broker, folder, ["b01", "b02"]) as (bridge, verifier, _), \
            session(broker, folder.client("bridge")) as (sniffer, captured), \
            session(broker, folder.client("b02")) as (attacker, _):
        await sniffer.subscribe([(topic, 1)], TIMEOUT_S)
        result = await bridge.exchange(0, {"b01": {"p_kw": 1.0}, "b02": {"p_kw": 1.0}})
        assert result.all_on_time and result.setpoints["b02"] == {"p_kw": 1.0}
        genuine = (await asyncio.wait_for(captured.get(), TIMEOUT_S)).payload
        assert isinstance(decode(genuine), SetpointMessage)
        forger = MessageFactory(RUN, "b02")
        unsigned = encode(forger.setpoint(1, {"p_kw": 99.0}))
        wrong_key = SigningMiddleware(Keyring({"b02": os.urandom(32)}))
        forged = encode(wrong_key.outgoing("b02", topic, forger.setpoint(1, {"p_kw": 99.0})))
        replayed = genuine.replace(b'"tick":0', b'"tick":1')  # a tag over tick 0 no longer fits
        counts_before = dict(verifier.counts)
        await asyncio.gather(*(attacker.publish(topic, p) for p in (unsigned, forged, replayed, genuine)))
        await _until(lambda: sum(verifier.counts.values()) - sum(counts_before.values()) >= 4)
        assert verifier.counts == {"unsigned": 1, "bad_signature": 2, "replay": 1}
        reasons = [(r["sender"], r["reason"], r["topic"]) for r in rejection_rows(verifier)]
        assert reasons == [("b02", reason, topic) for reason in ("unsigned", "bad_signature", "bad_signature",
                                                                   "replay")]
        result = await bridge.exchange(1, {"b01": {"p_kw": 1.0}, "b02": {"p_kw": 1.0}})
        assert result.all_on_time and result.setpoints["b02"] == {"p_kw": 1.0}  # not the attacker's 99


async def test_forged_clock_is_rejected_by_the_agents(broker: MosquittoBroker, folder: SecurityDir) -> None:
    """The clock is signed with the bridge's Ed25519 key: an agent that holds only HMAC keys cannot
    forge it, even with an HMAC of its own valid key."""
    b01 = folder.client("b01")
    agent_side = b01.middleware()
    forger = MessageFactory(RUN, "bridge")
    topic = TopicScheme(RUN, PREFIX).topic(Kind.CLOCK, "bridge")
    own_key = Keyring({"bridge": b01.keyring.hmac_keys["b01"]})
    forged = decode(encode(SigningMiddleware(own_key).outgoing("b01", topic, forger.clock(1, 900))))
    assert agent_side.incoming("b01", topic, forged) is None  # type: ignore[arg-type]
    genuine_signer = folder.client("bridge").middleware()
    genuine = decode(encode(genuine_signer.outgoing("bridge", topic, forger.clock(2, 1800))))
    assert agent_side.incoming("b01", topic, genuine) is genuine  # type: ignore[arg-type]
    assert agent_side.counts == {"wrong_algorithm": 1}


async def test_restarted_sender_and_retained_plan_are_not_replays(folder: SecurityDir) -> None:
    """A sender that restarts (a new epoch, its sequence numbers from 0 again) is accepted; a
    retained plan that the broker delivers again is dropped without counting as an attack; an old
    epoch is a replay."""
    topic = TopicScheme(RUN, PREFIX).topic(Kind.SETPOINT, "b01")
    receiver = folder.client("bridge").middleware()
    keys = folder.client("b01").keyring
    first, second = SigningMiddleware(keys, epoch=1000), SigningMiddleware(keys, epoch=2000)
    old = decode(encode(first.outgoing("b01", topic, MessageFactory(RUN, "b01").setpoint(0, {}))))
    new = decode(encode(second.outgoing("b01", topic, MessageFactory(RUN, "b01").setpoint(1, {}))))
    assert receiver.incoming("bridge", topic, old) is not None  # type: ignore[arg-type]
    assert receiver.incoming("bridge", topic, new) is not None  # type: ignore[arg-type]
    old_again = decode(encode(first.outgoing("b01", topic, MessageFactory(RUN, "b01").setpoint(2, {}))))
    assert receiver.incoming("bridge", topic, old_again) is None  # type: ignore[arg-type]
    plan_topic = TopicScheme(RUN, PREFIX).topic(Kind.PLAN, "b01")
    planner = folder.client("planner").middleware()
    plan_message = MessageFactory(RUN, "planner").plan(0, 0, 900, {"p_kw": [1.0]})
    plan = encode(planner.outgoing("planner", plan_topic, plan_message))
    agent_side = folder.client("b01").middleware()
    assert agent_side.incoming("b01", plan_topic, decode(plan)) is not None  # type: ignore[arg-type]
    assert agent_side.incoming("b01", plan_topic, decode(plan)) is None  # type: ignore[arg-type]
    assert receiver.counts == {"replay": 1}
    assert agent_side.counts == {"duplicate_retained": 1}


def test_signed_bytes_are_the_payload_with_the_tag_zeroed(folder: SecurityDir) -> None:
    """The documented scheme (docs/security.md), recomputed here by hand as another language would."""
    topic = TopicScheme(RUN, PREFIX).topic(Kind.SETPOINT, "b01")
    signer = SigningMiddleware(folder.client("b01").keyring, epoch=12345)
    payload = encode(signer.outgoing("b01", topic, MessageFactory(RUN, "b01").setpoint(3, {"p_kw": 2.5})))
    tag = payload.split(b'"hmac":"12345:')[1][:64]
    zeroed = payload.replace(tag, b"0" * 64)
    key = bytes.fromhex((folder.path / "principals" / "b01" / "hmac.key").read_text())
    expected = hmac.new(key, b"ucosim-sig-v1\n" + topic.encode() + b"\n" + zeroed, hashlib.sha256).hexdigest()
    assert tag.decode() == expected


# ------------------------------------------------------------------------------------ revocation


async def test_revoked_agent_is_not_heard_from_the_next_step(tmp_path: Path) -> None:
    """Revoking b02 during a run (ACL and password file rewritten, Mosquitto reloaded by SIGHUP, the
    bridge's verifier told) makes it late from the next control step on; b01 goes on."""
    folder = init_security(["b01", "b02"], tmp_path / "sec", prefix=PREFIX)
    with start_mosquitto(security=_broker_security(folder)) as broker:
        async with secured_bridge(broker, folder, ["b01", "b02"]) as (bridge, verifier, _):
            values = {"b01": {"p_kw": 1.0}, "b02": {"p_kw": 1.0}}
            assert (await bridge.exchange(0, values)).all_on_time
            assert folder.revoke(["b02"]) == ["b02"]
            broker.reload()
            result = await bridge.exchange(1, values)
            assert result.late_agents == ("b02",)
            assert verifier.counts == {}  # the broker dropped b02's setpoint: nothing reached the bridge
            verifier.revoke("b02")  # also refuse what b02 could still send another way
            result = await bridge.exchange(2, values)
            assert result.late_agents == ("b02",)
        b02 = folder.client("b01")
        revoked = ClientSecurity("b02", (folder.path / "principals/b02/password").read_text(), b02.keyring,
                                 folder.ca_file)
        with pytest.raises(MqttError):  # nor can it log in again
            async with session(broker, revoked):
                pass


async def _until(condition: object, timeout_s: float = TIMEOUT_S) -> None:
    async def wait() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout_s)




async def test_a_client_in_another_language_follows_the_documented_scheme(
        broker: MosquittoBroker, folder: SecurityDir) -> None:
    """An agent that knows nothing of the platform but docs/security.md (here: hashlib, hmac and JSON
    written by hand, in its own key order and spacing) checks the bridge's measurement and answers
    with a setpoint the secured bridge accepts."""
    b01 = folder.client("b01")
    key = bytes.fromhex((folder.path / "principals" / "b01" / "hmac.key").read_text())
    scheme = TopicScheme(RUN, PREFIX)
    bridge_id = folder.client("bridge")
    bridge = BridgeCore(bridge_id.broker_url(broker.url), RUN, ["b01"], prefix=PREFIX, step_timeout_s=5.0,
                        middleware=[bridge_id.middleware()])
    await bridge.start()
    async with session(broker, b01) as (client, inbox):
        await client.subscribe([(scheme.topic(Kind.MEAS, "b01"), 1)], TIMEOUT_S)
        step = asyncio.create_task(bridge.exchange(0, {"b01": {"p_kw": 1.0}}))
        meas = await asyncio.wait_for(inbox.get(), TIMEOUT_S)
        tag = json.loads(meas.payload)["hmac"].split(":")[1]
        zeroed = meas.payload.replace(tag.encode(), b"0" * 64)
        domain = b"ucosim-sig-v1\n"
        expected = hmac.new(key, domain + meas.topic.encode() + b"\n" + zeroed, hashlib.sha256).hexdigest()
        assert tag == expected  # the bridge's measurement, checked by the scheme as documented
        topic = scheme.topic(Kind.SETPOINT, "b01")
        zeros = "0" * 64
        draft = ('{ "kind": "setpoint", "body": {"values": {"p_kw": 2.5}}, "v": 1, "run": "' + RUN + '", '
                 '"tick": 0, "iteration": null, "sender": "b01", "seq": 7, "ts_s": 1.5, '
                 '"hmac": "42:' + zeros + '" }')
        mine = hmac.new(key, domain + topic.encode() + b"\n" + draft.encode(), hashlib.sha256).hexdigest()
        await client.publish(topic, draft.replace(zeros, mine).encode())
        result = await step
    await bridge.stop()
    assert result.all_on_time and result.setpoints["b01"] == {"p_kw": 2.5}


def test_revocation_in_a_running_control_plane(tmp_path: Path) -> None:
    """`RunSecurity.revoke` during a run of agents on one shared connection (batches): the run's own
    Mosquitto is reloaded and the bridge drops the revoked agent's entries of the host's batch, so
    b02 is late from the next step while b01 goes on."""
    folder = init_security(["b01", "b02"], tmp_path / "sec")
    security = RunSecurity(folder)
    specs = [AgentSpec(name, "constant", {"p_kw": 1.0}) for name in ("b01", "b02")]
    plane = start_control_plane(specs, name="revoke", broker_url=None, agents="tasks", qos=1,
                                step_timeout_s=1.0, batch=True, security=security, ready_timeout_s=TIMEOUT_S,
                                echo=lambda _t: None)
    try:
        assert plane.bridge is not None and plane.broker.url.startswith("mqtts://")
        values = {"b01": {"p_kw": 0.0}, "b02": {"p_kw": 0.0}}
        assert plane.bridge.exchange(0, values).all_on_time
        assert security.revoke(plane, ["b02"]) == ["b02"]
        result = plane.bridge.exchange(1, values)
        assert result.late_agents == ("b02",) and result.setpoints["b01"] == {"p_kw": 1.0}
        assert plane.verifier is not None and plane.verifier.counts == {"revoked": 1}
    finally:
        plane.close()
    assert "user b02" not in folder.acl_file.read_text()
    assert "b02:" not in folder.password_file.read_text()


def test_broker_url_takes_tls_files_from_its_query_and_the_password_from_the_environment(
        folder: SecurityDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCOSIM_MQTT_PASSWORD", "s3cret")
    url = parse_broker_url(f"mqtts://b01@broker.example:8884?ca={folder.ca_file}")
    assert (url.host, url.port, url.username, url.password, url.ca_file) == (
        "broker.example", 8884, "b01", "s3cret", folder.ca_file)
    assert "s3cret" not in str(url) and parse_broker_url(str(url)).ca_file == folder.ca_file
    with pytest.raises(BrokerUrlError, match="unknown option"):
        parse_broker_url("mqtts://broker.example?cafile=x")
    with pytest.raises(BrokerUrlError, match="use mqtts"):
        parse_broker_url(f"mqtt://broker.example?ca={folder.ca_file}")
