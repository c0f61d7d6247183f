"""The platform's MQTT 3.1.1 client (`controllers.runtime.mqtt_wire`, `mqtt_client`) against real
Mosquitto brokers and against another implementation (aiomqtt on paho-mqtt) on the same broker."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from pathlib import Path

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from controllers.runtime import BrokerUrl, MqttConnection, parse_broker_url
from controllers.runtime import mqtt_wire as wire
from controllers.runtime.connection import InboundMessage
from controllers.runtime.mqtt_client import QUICKACK_AVAILABLE, MqttError, MqttSession, Will
from cosim.mqtt.brokers import free_port, start_mosquitto

pytestmark = pytest.mark.network
TIMEOUT_S = 10.0


@given(
    topic=st.text(st.characters(codec="utf-8", exclude_characters="\x00#+"), min_size=1, max_size=80),
    payload=st.binary(max_size=70_000),
    qos=st.sampled_from([0, 1]),
    retain=st.booleans(),
    packet_id=st.integers(1, 0xFFFF),
    chunk=st.integers(1, 5000),
)
def test_publish_packets_round_trip_in_any_chunking(
    topic: str, payload: bytes, qos: int, retain: bool, packet_id: int, chunk: int
) -> None:
    """What the client encodes, its decoder reads back, however the stream is cut into reads."""
    stream = wire.publish_packet(topic.encode(), payload, qos, retain, packet_id) + wire.puback_packet(7)
    buffer, packets = bytearray(), []
    for start in range(0, len(stream), chunk):
        buffer += stream[start : start + chunk]
        packets += wire.split_packets(buffer)
    assert not buffer and [p.kind for p in packets] == [wire.PUBLISH, wire.PUBACK]
    assert wire.parse_publish(packets[0]) == (topic, payload, qos, retain, packet_id if qos else 0)
    assert wire.packet_id_of(packets[1]) == 7


class _Transport:
    """What a session writes (acknowledgements), without a socket."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


@given(
    payloads=st.lists(st.binary(max_size=40_000), min_size=1, max_size=6),
    reads=st.lists(st.integers(1, 70_000), min_size=1, max_size=20),
)
def test_a_session_reads_into_its_buffer_however_the_stream_is_cut(
    payloads: list[bytes], reads: list[int]
) -> None:
    """The session's receive buffer (it is a BufferedProtocol: a transport reads into it): every
    message arrives whole and in order and each QoS 1 message is acknowledged, whether a read takes
    a byte or several packets, and the buffer grows for a packet larger than itself."""
    stream = b"".join(wire.publish_packet(b"t/x", p, 1, False, i + 1) for i, p in enumerate(payloads))
    stream += wire.puback_packet(9)

    async def feed() -> tuple[list[InboundMessage], list[bytes]]:
        received: list[InboundMessage] = []
        session = MqttSession(received.append, keepalive_s=0)
        transport = _Transport()
        session.connection_made(transport)  # type: ignore[arg-type]
        pos, turn = 0, 0
        while pos < len(stream):
            room = session.get_buffer(-1)
            assert len(room) > 0
            n = min(len(room), reads[turn % len(reads)], len(stream) - pos)
            room[:n] = stream[pos : pos + n]
            session.buffer_updated(n)
            pos, turn = pos + n, turn + 1
        await asyncio.sleep(0)  # the acknowledgements leave at the end of the turn
        return received, transport.written

    received, written = asyncio.run(feed())
    assert [(m.topic, m.payload, m.qos) for m in received] == [("t/x", p, 1) for p in payloads]
    assert b"".join(written) == b"".join(wire.puback_packet(i + 1) for i in range(len(payloads)))


def test_bad_streams_are_protocol_errors() -> None:
    with pytest.raises(wire.ProtocolError):
        wire.split_packets(bytearray(b"\x30\xff\xff\xff\xff\x01"))  # five length bytes
    qos2 = wire.split_packets(bytearray(b"\x34\x05\x00\x01t\x00\x01"))[0]
    with pytest.raises(wire.ProtocolError):
        wire.parse_publish(qos2)


async def _collect(
    url: BrokerUrl | str, topic: str, count: int, client_id: str
) -> tuple[MqttConnection, list[bytes], asyncio.Event, asyncio.Task[None]]:
    received: list[bytes] = []
    done = asyncio.Event()

    async def on_message(message: InboundMessage) -> None:
        received.append(message.payload)
        if len(received) >= count:
            done.set()

    connection = MqttConnection(url, client_id=client_id, handler=on_message, subscriptions=[topic])
    task = asyncio.create_task(connection.run())
    assert await connection.wait_connected(TIMEOUT_S)
    return connection, received, done, task


async def test_bursts_of_every_size_arrive_whole_and_in_order(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}/burst"
    payloads = [bytes([i % 256]) * (i * 97 % 70_000) for i in range(400)] + [b"x" * 2_000_000]
    sub, received, done, sub_task = await _collect(session_mosquitto_url, topic, len(payloads), "burst-sub")

    async def ignore(_: InboundMessage) -> None:
        return None

    pub = MqttConnection(session_mosquitto_url, client_id="burst-pub", handler=ignore)
    pub_task = asyncio.create_task(pub.run())
    try:
        assert await pub.wait_connected(TIMEOUT_S)
        assert sub.socket_nodelay() is True and pub.socket_nodelay() is True
        for qos in (1, 0):
            received.clear()
            done.clear()
            assert await pub.publish_many([(topic, p) for p in payloads], qos=qos) == len(payloads)
            await asyncio.wait_for(done.wait(), TIMEOUT_S)
            assert received == payloads
        assert await pub.publish(topic, b"acknowledged", qos=1, wait_s=TIMEOUT_S)
        assert await pub.publish(topic, b"written", qos=0, wait_s=TIMEOUT_S)
        assert pub.stats.publish_failures == 0 and sub.stats.handler_errors == 0
    finally:
        for connection in (sub, pub):
            connection.stop()
        await asyncio.wait_for(asyncio.gather(sub_task, pub_task), TIMEOUT_S)


async def test_interoperates_with_another_client_and_keeps_retained_and_will(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    """aiomqtt (paho-mqtt underneath) receives what this client publishes, retained message and last
    will included, and this client receives what aiomqtt publishes."""
    url = parse_broker_url(session_mosquitto_url)
    inbox: asyncio.Queue[InboundMessage] = asyncio.Queue()
    will = Will(f"{topic_prefix}/will", b"gone", qos=1)
    ours = await MqttSession.open(
        url.host, url.port, client_id="ours", on_message=inbox.put_nowait, will=will, keepalive_s=5
    )
    await ours.subscribe([(f"{topic_prefix}/to-ours", 1)], TIMEOUT_S)
    await asyncio.wait_for(ours.publish(f"{topic_prefix}/retained", b"kept", qos=1, retain=True), TIMEOUT_S)
    async with aiomqtt.Client(url.host, url.port, identifier="theirs") as theirs:
        await theirs.subscribe(f"{topic_prefix}/#", qos=1)
        retained = await asyncio.wait_for(anext(theirs.messages), TIMEOUT_S)
        assert (retained.topic.value, retained.payload, retained.retain) == (
            f"{topic_prefix}/retained",
            b"kept",
            True,
        )
        await asyncio.wait_for(
            ours.publish(f"{topic_prefix}/from-ours", "ü".encode() * 200, qos=1), TIMEOUT_S
        )
        got = await asyncio.wait_for(anext(theirs.messages), TIMEOUT_S)
        assert (got.topic.value, got.payload) == (f"{topic_prefix}/from-ours", "ü".encode() * 200)
        await theirs.publish(f"{topic_prefix}/to-ours", b"hello", qos=1)
        message = await asyncio.wait_for(inbox.get(), TIMEOUT_S)
        assert (message.topic, message.payload, message.qos) == (f"{topic_prefix}/to-ours", b"hello", 1)
        ours.abort()  # no DISCONNECT: the broker publishes the will
        while (got := await asyncio.wait_for(anext(theirs.messages), TIMEOUT_S)).topic.value != will.topic:
            pass
        assert got.payload == b"gone"
        await theirs.publish(f"{topic_prefix}/retained", b"", qos=1, retain=True)


async def test_keepalive_holds_an_idle_session(session_mosquitto_url: str, topic_prefix: str) -> None:
    """With a 1 s keepalive and 2.5 s without traffic, the broker keeps the session (Mosquitto drops a
    client silent for 1.5 keepalives) because the client pings."""
    url = parse_broker_url(session_mosquitto_url)
    inbox: asyncio.Queue[InboundMessage] = asyncio.Queue()
    session = await MqttSession.open(
        url.host, url.port, client_id="idle", on_message=inbox.put_nowait, keepalive_s=1
    )
    await session.subscribe([(f"{topic_prefix}/idle", 1)], TIMEOUT_S)
    await asyncio.sleep(2.5)  # the condition under test is time itself
    assert session.is_open
    await asyncio.wait_for(session.publish(f"{topic_prefix}/idle", b"still here", qos=1), TIMEOUT_S)
    assert (await asyncio.wait_for(inbox.get(), TIMEOUT_S)).payload == b"still here"
    await session.disconnect()
    assert session.closed.done() and not session.is_open


async def test_keepalive_holds_a_session_that_only_sends(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    """A client that keeps publishing but receives nothing (an ADMM host between two broadcasts of a
    long round) pings anyway, so it hears from the broker within 1.5 keepalives and keeps its
    session (issue 22: it used to end its own connection, "no packet from the broker")."""
    url = parse_broker_url(session_mosquitto_url)
    session = await MqttSession.open(
        url.host, url.port, client_id="sender", on_message=lambda _m: None, keepalive_s=1
    )
    for _ in range(25):  # 2.5 s, more than 1.5 keepalives, sending all the time
        session.publish_many([(f"{topic_prefix}/nobody-listens", b"x")], qos=0)
        await asyncio.sleep(0.1)
    assert session.is_open
    await session.disconnect()


async def test_a_handler_that_never_suspends_still_lets_the_loop_turn(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    """A burst of messages handled by a handler that never suspends (10 ms of work each, as a host
    building agents from a step's forecasts) must not hold the event loop until the queue is empty:
    a callback scheduled during the first message (a host's round batch, a keepalive) runs after a
    few messages, not after all 40 (`HOLD_LOOP_MAX_S`)."""
    topic = f"{topic_prefix}/busy"
    handled: list[int] = []
    turns: list[int] = []
    done = asyncio.Event()

    async def busy(message: InboundMessage) -> None:
        if not handled:
            asyncio.get_running_loop().call_soon(lambda: turns.append(len(handled)))
        time.sleep(0.01)  # work that never suspends
        handled.append(1)
        if len(handled) == 40:
            done.set()

    async def ignore(_: InboundMessage) -> None:
        return None

    sub = MqttConnection(session_mosquitto_url, client_id="busy-sub", handler=busy, subscriptions=[topic])
    pub = MqttConnection(session_mosquitto_url, client_id="busy-pub", handler=ignore)
    tasks = [asyncio.create_task(sub.run()), asyncio.create_task(pub.run())]
    try:
        assert await sub.wait_connected(TIMEOUT_S) and await pub.wait_connected(TIMEOUT_S)
        assert await pub.publish_many([(topic, b"x")] * 40, qos=0) == 40
        await asyncio.wait_for(done.wait(), TIMEOUT_S)
    finally:
        sub.stop()
        pub.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert turns and turns[0] <= 10, turns


async def test_refused_and_unreachable_brokers_are_mqtt_errors(tmp_path: Path) -> None:
    with pytest.raises(MqttError, match="cannot connect"):
        await MqttSession.open(
            "127.0.0.1", free_port(), client_id="x", on_message=lambda _m: None, timeout_s=2
        )
    passwords = tmp_path / "passwords"
    passwords.write_text("")
    broker = start_mosquitto(config_extra=f"allow_anonymous false\npassword_file {passwords}")
    try:
        with pytest.raises(MqttError, match=r"not authorised|bad user name"):
            await MqttSession.open(
                broker.host,
                broker.port,
                client_id="x",
                on_message=lambda _m: None,
                username="nobody",
                password="wrong",
                timeout_s=5,
            )
    finally:
        broker.close()


def _tls_files(directory: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl command line)."""
    files = {
        name: directory / name
        for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "ext.cnf")
    }
    files["ext.cnf"].write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            files["ca.key"],
            "-out",
            files["ca.pem"],
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
        ],
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            files["server.key"],
            "-out",
            files["server.csr"],
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "x509",
            "-req",
            "-in",
            files["server.csr"],
            "-CA",
            files["ca.pem"],
            "-CAkey",
            files["ca.key"],
            "-CAcreateserial",
            "-out",
            files["server.pem"],
            "-days",
            "1",
            "-extfile",
            files["ext.cnf"],
        ],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return files


async def test_tls_connection(tmp_path: Path, topic_prefix: str) -> None:
    """Over TLS (a CA of the test's own) bursts of every size arrive whole; a client without the CA
    is refused."""
    files = _tls_files(tmp_path)
    broker = start_mosquitto(
        config_extra=f"cafile {files['ca.pem']}\ncertfile {files['server.pem']}\n"
        f"keyfile {files['server.key']}"
    )
    try:
        url = broker.url.replace("mqtt://", "mqtts://")
        secure = parse_broker_url(url, ca_file=str(files["ca.pem"]))
        topic = f"{topic_prefix}/tls"
        payloads = [bytes([i % 256]) * (1 + i * 37 % 40000) for i in range(300)]
        sub, received, done, task = await _collect(secure, topic, len(payloads), "tls-sub")
        try:
            assert sub._client is not None and isinstance(
                sub._client.transport.get_extra_info("ssl_object"), ssl.SSLObject
            )
            assert sub.socket_nodelay() is True
            await sub.publish_many([(topic, p) for p in payloads], qos=1)
            await asyncio.wait_for(done.wait(), TIMEOUT_S)
            assert received == payloads
        finally:
            sub.stop()
            await asyncio.wait_for(task, TIMEOUT_S)
        plain = parse_broker_url(url)  # the system's CAs: they do not know the test's CA
        with pytest.raises(MqttError, match="certificate"):
            await MqttSession.open(
                plain.host,
                plain.port,
                client_id="no-ca",
                on_message=lambda _m: None,
                tls=plain.ssl_context(),
                timeout_s=5,
            )
    finally:
        broker.close()


def test_quickack_is_known_on_linux() -> None:
    """The Nagle/delayed-ACK remedy needs TCP_QUICKACK; on Linux the socket module has it."""
    import sys

    assert QUICKACK_AVAILABLE or not sys.platform.startswith("linux")
