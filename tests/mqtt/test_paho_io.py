"""The socket I/O tuning of paho under aiomqtt: buffered reads and joined writes."""

from __future__ import annotations

import asyncio
import collections
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from controllers.runtime import MqttConnection, paho_io, parse_broker_url
from controllers.runtime.paho_io import BufferedSocket, _coalesce, raw_socket
from cosim.brokers import find_mosquitto, start_mosquitto
from tests.mqtt.helpers import TIMEOUT_S


def test_buffered_socket_serves_small_reads_from_one_recv() -> None:
    left, right = socket.socketpair()
    with left, right:
        right.setblocking(False)
        wrapped = BufferedSocket(right)
        left.sendall(b"\x30\x05hello\x40\x02\x00\x01")
        assert wrapped.recv(1) == b"\x30"
        assert wrapped.pending() == 10  # everything else came with the first recv
        assert wrapped.recv(1) == b"\x05"
        assert wrapped.recv(5) == b"hello"
        assert wrapped.recv(100) == b"\x40\x02\x00\x01"  # no more than is buffered
        assert wrapped.pending() == 0
        with pytest.raises(BlockingIOError):
            wrapped.recv(1)
        left.sendall(b"ab")
        assert wrapped.recv(10) == b"ab"
        assert wrapped.fileno() == right.fileno()  # the rest goes to the socket
        assert raw_socket(wrapped) is right and raw_socket(right) is right
        left.close()
        assert wrapped.recv(1) == b""  # end of stream passes through


def test_buffered_socket_large_read_spans_buffer_and_socket() -> None:
    left, right = socket.socketpair()
    with left, right:
        wrapped = BufferedSocket(right)
        payload = bytes(range(256)) * 1024  # 256 KiB: more than one read-ahead chunk
        left.sendall(b"!")
        assert wrapped.recv(1) == b"!"
        received = bytearray()
        sender = threading.Thread(target=left.sendall, args=(payload,))
        sender.start()
        while len(received) < len(payload):
            received += wrapped.recv(len(payload) - len(received))
        sender.join()
        assert bytes(received) == payload


def _packet(command: int, data: bytes, qos: int = 1, pos: int = 0) -> dict[str, Any]:
    return {"command": command, "mid": 1, "qos": qos, "pos": pos, "to_process": len(data) - pos,
            "packet": data, "info": None}


def test_coalesce_joins_packets_that_need_nothing_when_written() -> None:
    out = collections.deque([
        _packet(mqtt.PUBLISH | 2, b"P1xx", pos=2),  # partly written already
        _packet(mqtt.PUBACK, b"A1"),
        _packet(mqtt.PUBLISH | 2, b"P2"),
        _packet(mqtt.PUBLISH, b"Q0", qos=0),  # QoS 0: paho calls on_publish once written
        _packet(mqtt.PUBACK, b"A2"),
    ])
    _coalesce(out)
    assert [p["packet"] for p in out] == [b"xxA1P2", b"Q0", b"A2"]
    assert out[0]["to_process"] == 6 and out[0]["pos"] == 0 and out[0]["command"] == mqtt.PUBACK
    for keep in ([_packet(mqtt.PUBACK, b"A")], [_packet(mqtt.DISCONNECT, b"D"), _packet(mqtt.PUBACK, b"A")]):
        queue = collections.deque(keep)
        _coalesce(queue)
        assert list(queue) == keep


async def test_connection_is_tuned_and_large_bursts_arrive(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}/burst"
    received: list[bytes] = []
    done = asyncio.Event()
    payloads = [bytes([i % 256]) * (1 + (i * 7919) % 3000) for i in range(500)]
    payloads.append(b"z" * (1 << 20))  # 1 MiB, the payload limit

    async def on_message(message: aiomqtt.Message) -> None:
        assert isinstance(message.payload, bytes)
        received.append(message.payload)
        if len(received) == len(payloads):
            done.set()

    sub = MqttConnection(session_mosquitto_url, client_id=f"io-sub-{topic_prefix[-8:]}", handler=on_message,
                         subscriptions=[topic])
    pub = MqttConnection(session_mosquitto_url, client_id=f"io-pub-{topic_prefix[-8:]}", handler=on_message)
    tasks = [asyncio.create_task(c.run()) for c in (sub, pub)]
    try:
        assert await sub.wait_connected(TIMEOUT_S) and await pub.wait_connected(TIMEOUT_S)
        for connection in (sub, pub):
            assert connection._client is not None
            assert isinstance(connection._client._client.socket(), BufferedSocket)
            assert connection.socket_nodelay() is True
        for qos in (1, 0):
            received.clear()
            done.clear()
            assert await pub.publish_many([(topic, p) for p in payloads], qos=qos) == len(payloads)
            await asyncio.wait_for(done.wait(), TIMEOUT_S)
            assert received == payloads  # all of them, whole and in order
    finally:
        for connection in (sub, pub):
            connection.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT_S)


async def test_acknowledged_publish_with_the_lean_puback_handler(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    async def ignore(_: aiomqtt.Message) -> None:
        return None

    client_id = f"io-ack-{topic_prefix[-8:]}"
    connection = MqttConnection(session_mosquitto_url, client_id=client_id, handler=ignore)
    task = asyncio.create_task(connection.run())
    try:
        assert await connection.wait_connected(TIMEOUT_S)
        assert connection._client is not None
        paho = connection._client._client
        assert paho._handle_pubackcomp.__name__ == "handle_pubackcomp"  # ours, not paho's method
        assert paho.loop_read.__qualname__.startswith("_lean_read")  # reads straight from the buffer
        for i in range(20):  # each waits for its PUBACK, which only the handler completes
            assert await connection.publish(f"{topic_prefix}/ack", b"%d" % i, qos=1, wait_s=TIMEOUT_S)
        assert await connection.publish_many([(f"{topic_prefix}/ack", b"x")] * 200, qos=1) == 200
        assert await connection.publish(f"{topic_prefix}/ack", b"last", qos=1, wait_s=TIMEOUT_S)
        assert not paho._out_messages  # every QoS 1 message acknowledged and released
        assert connection.stats.publish_failures == 0
    finally:
        connection.stop()
        await asyncio.wait_for(task, TIMEOUT_S)


class _FakeSocket:
    def close(self) -> None:
        return None


def _paho() -> mqtt.Client:
    """An unconnected paho client whose queued packets stay in `_out_packet` (none is sent)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="lean-test")
    client._sock = _FakeSocket()  # type: ignore[assignment]  # "connected": packets are queued, not sent
    client._max_inflight_messages = 0  # as `MqttConnection` has it: no in-flight window

    def loop_write() -> MQTTErrorCode:
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    loop_write.coalescing = True  # type: ignore[attr-defined]  # as after `tune`
    client.loop_write = loop_write  # type: ignore[method-assign]
    return client


def _publish_packet(topic: bytes, payload: bytes, qos: int, mid: int, retain: bool = False,
                    dup: bool = False) -> tuple[int, bytearray]:
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"") + payload
    return mqtt.PUBLISH | (dup << 3) | (qos << 1) | retain, bytearray(body)


@pytest.mark.parametrize(
    ("topic", "payload", "qos", "retain", "dup"),
    [(b"p/r/meas/a", b'{"x": 1}', 1, False, False), (b"p/r/clock/b", b"", 0, True, False),
     (b"p/r/meas/a", b"y" * 70000, 1, False, True), (b"t", b"\x00\xff", 0, False, False)],
)
def test_lean_publish_handler_matches_paho(topic: bytes, payload: bytes, qos: int, retain: bool,
                                           dup: bool) -> None:
    seen: dict[str, list[tuple[Any, ...]]] = {"paho": [], "lean": []}
    leaned: list[bool] = []
    queued = {}
    for name in ("paho", "lean"):
        client = _paho()
        def on_message(_c: object, _u: object, m: mqtt.MQTTMessage, name: str = name) -> None:
            seen[name].append((m.topic, m.payload, m.qos, m.retain, m.dup, m.mid, m.properties))
            leaned.append(m.info is paho_io._NO_INFO)

        client.on_message = on_message
        if name == "lean":
            paho_io._lean_publish_in(client)
        command, body = _publish_packet(topic, payload, qos, 4321, retain, dup)
        client._in_packet = {"command": command, "packet": body}  # type: ignore[typeddict-item]
        assert client._handle_publish() == MQTTErrorCode.MQTT_ERR_SUCCESS
        queued[name] = [bytes(p["packet"]) for p in client._out_packet]
    assert seen["lean"] == seen["paho"] and len(seen["lean"]) == 1
    assert leaned == [False, True]  # the lean handler, not paho's, built the second one
    assert queued["lean"] == queued["paho"] == ([b"\x40\x02\x10\xe1"] if qos else [])  # the PUBACK


@pytest.mark.parametrize(
    "body", [b"", b"\x00", b"\x00\x00abc", b"\x00\x09p/r", b"\x00\x03p/r\x00", b"\x00\x02\xff\xfe\x00\x01x"]
)
def test_lean_publish_handler_leaves_odd_packets_to_paho(body: bytes) -> None:
    outcomes = []
    for lean in (False, True):
        client = _paho()
        got: list[bytes | bytearray] = []
        client.on_message = lambda _c, _u, m: got.append(m.payload)  # noqa: B023
        if lean:
            paho_io._lean_publish_in(client)
        client._in_packet = {"command": mqtt.PUBLISH | 2, "packet": bytearray(body)}  # type: ignore[typeddict-item]
        try:
            outcome: object = client._handle_publish()
        except Exception as exc:  # paho raises MalformedPacket (or a callback's error) for these
            outcome = type(exc)
        outcomes.append((outcome, got))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("size", [0, 5, 127, 128, 16383, 16384, 2_097_152])
def test_lean_publish_queues_the_same_packet_as_paho(qos: int, size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    theirs, ours = _paho(), _paho()
    assert theirs.publish("p/r/setpoint/a", payload, qos, retain=size == 5).rc == mqtt.MQTT_ERR_SUCCESS
    assert paho_io.publish(ours, "p/r/setpoint/a", payload, qos, retain=size == 5)
    [expected], [packet] = theirs._out_packet, ours._out_packet
    assert isinstance(packet["info"], paho_io._PublishInfo)  # the lean path, not paho's
    assert bytes(packet["packet"]) == bytes(expected["packet"])
    assert {k: v for k, v in packet.items() if k not in ("packet", "info")} == {
        k: v for k, v in expected.items() if k not in ("packet", "info")}
    assert ours._inflight_messages == theirs._inflight_messages == qos
    if qos:
        message, reference = ours._out_messages[1], theirs._out_messages[1]
        for slot in ("mid", "state", "dup", "_topic", "payload", "qos", "retain", "properties"):
            assert getattr(message, slot) == getattr(reference, slot)
    # anything unusual goes through paho's own publish, which refuses it the same way
    with pytest.raises(ValueError):
        paho_io.publish(ours, "p/+/x", b"", qos)
    assert paho_io.publish(ours, "p/r/x", b"", 2)


async def test_writes_that_fill_the_socket_finish_when_it_drains(
    session_mosquitto_url: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packets are written at the end of a loop turn; when the socket takes only part of them,
    aiomqtt's writer finishes the rest once the socket is writable again."""
    registered: list[int] = []
    original = aiomqtt.Client._on_socket_register_write

    def counting(self: aiomqtt.Client, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        registered.append(1)
        original(self, client, userdata, sock)

    monkeypatch.setattr(aiomqtt.Client, "_on_socket_register_write", counting)
    topic = f"{topic_prefix}/big"
    payloads = [bytes([i]) * (256 * 1024) for i in range(16)]  # 4 MiB in one burst
    received: list[bytes] = []
    done = asyncio.Event()

    async def on_message(message: aiomqtt.Message) -> None:
        assert isinstance(message.payload, bytes)
        received.append(message.payload)
        if len(received) == len(payloads):
            done.set()

    suffix = topic_prefix[-8:]
    sub = MqttConnection(session_mosquitto_url, client_id=f"big-sub-{suffix}", handler=on_message,
                         subscriptions=[topic])
    pub = MqttConnection(session_mosquitto_url, client_id=f"big-pub-{suffix}", handler=on_message)
    tasks = [asyncio.create_task(c.run()) for c in (sub, pub)]
    try:
        assert await sub.wait_connected(TIMEOUT_S) and await pub.wait_connected(TIMEOUT_S)
        assert pub._client is not None
        raw = raw_socket(pub._client._client.socket())
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # so that the burst cannot fit at once
        before = len(registered)
        assert await pub.publish_many([(topic, p) for p in payloads], qos=1) == len(payloads)
        await asyncio.wait_for(done.wait(), TIMEOUT_S * 2)
        assert received == payloads
        assert len(registered) > before  # the socket was full at least once and the writer took over
        assert await pub.publish(topic, b"after", qos=1, wait_s=TIMEOUT_S)  # and writing goes on
    finally:
        for connection in (sub, pub):
            connection.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT_S)


def test_joined_qos0_publishes_are_reported_once_written() -> None:
    client = _paho()
    reported: list[int] = []
    client.on_publish = lambda _c, _u, mid, _rc, _p: reported.append(mid)
    infos = [mqtt.MQTTMessageInfo(mid) for mid in (7, 8)]
    out = collections.deque([
        _packet(mqtt.PUBLISH, b"Q7", qos=0) | {"mid": 7, "info": infos[0]},
        _packet(mqtt.PUBACK, b"A1"),
        _packet(mqtt.PUBLISH, b"Q8", qos=0) | {"mid": 8, "info": infos[1]},
        _packet(mqtt.DISCONNECT, b"D", qos=0),
    ])
    paho_io._coalesce(out, client)
    joined = out[0]
    assert [p["packet"] for p in out] == [b"Q7A1Q8", b"D"]
    assert (joined["command"], joined["qos"], joined["mid"]) == (mqtt.PUBLISH, 0, 0)
    assert reported == [] and not any(i.is_published() for i in infos)
    joined["info"]._set_as_published()  # what paho does once the joined packet is written
    assert reported == [7, 8] and all(i.is_published() and i.rc == 0 for i in infos)
    # lost on a reconnect: paho sets rc first; no on_publish then, each message marked lost
    lost = [mqtt.MQTTMessageInfo(9), mqtt.MQTTMessageInfo(10)]
    out = collections.deque([_packet(mqtt.PUBLISH, b"Q", qos=0) | {"mid": 9 + i, "info": info}
                             for i, info in enumerate(lost)])
    paho_io._coalesce(out, client)
    out[0]["info"].rc = mqtt.MQTT_ERR_CONN_LOST
    out[0]["info"]._set_as_published()
    assert reported == [7, 8] and all(i._published and i.rc == mqtt.MQTT_ERR_CONN_LOST for i in lost)


async def test_qos0_publish_waits_for_its_write(session_mosquitto_url: str, topic_prefix: str) -> None:
    async def ignore(_: aiomqtt.Message) -> None:
        return None

    client_id = f"q0-{topic_prefix[-8:]}"
    connection = MqttConnection(session_mosquitto_url, client_id=client_id, handler=ignore, qos=0)
    task = asyncio.create_task(connection.run())
    try:
        assert await connection.wait_connected(TIMEOUT_S)
        for i in range(5):  # aiomqtt's publish returns once paho reports the message written
            assert await connection.publish_many([(f"{topic_prefix}/q0", b"x")] * 50) == 50
            assert await connection.publish(f"{topic_prefix}/q0", b"%d" % i, wait_s=TIMEOUT_S)
        assert connection.stats.publish_failures == 0
    finally:
        connection.stop()
        await asyncio.wait_for(task, TIMEOUT_S)


def _tls_files(directory: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl command line)."""
    files = {name: directory / f"{name}" for name in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                      "server.pem", "ext.cnf")}
    files["ext.cnf"].write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files["ca.key"], "-out", files["ca.pem"],
         "-days", "1", "-subj", "/CN=test-ca"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", files["server.key"], "-out", files["server.csr"],
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", files["server.csr"], "-CA", files["ca.pem"], "-CAkey", files["ca.key"],
         "-CAcreateserial", "-out", files["server.pem"], "-days", "1", "-extfile", files["ext.cnf"]],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return files


@pytest.mark.skipif(shutil.which("openssl") is None or find_mosquitto() is None,
                    reason="needs the openssl command and Mosquitto")
async def test_tls_connection_with_buffered_reads(tmp_path: Path, topic_prefix: str) -> None:
    """Over TLS the buffered socket wraps the TLS socket; bursts of every size arrive whole."""
    files = _tls_files(tmp_path)
    broker = start_mosquitto(config_extra=f"cafile {files['ca.pem']}\ncertfile {files['server.pem']}\n"
                                          f"keyfile {files['server.key']}")
    try:
        url = parse_broker_url(broker.url.replace("mqtt://", "mqtts://"), ca_file=str(files["ca.pem"]))
        topic = f"{topic_prefix}/tls"
        payloads = [bytes([i % 256]) * (1 + i * 37 % 40000) for i in range(300)]
        received: list[bytes] = []
        done = asyncio.Event()

        async def on_message(message: aiomqtt.Message) -> None:
            assert isinstance(message.payload, bytes)
            received.append(message.payload)
            if len(received) == len(payloads):
                done.set()

        sub = MqttConnection(url, client_id="tls-sub", handler=on_message, subscriptions=[topic])
        pub = MqttConnection(url, client_id="tls-pub", handler=on_message)
        tasks = [asyncio.create_task(c.run()) for c in (sub, pub)]
        try:
            assert await sub.wait_connected(TIMEOUT_S) and await pub.wait_connected(TIMEOUT_S)
            assert sub._client is not None
            sock = sub._client._client.socket()
            assert isinstance(sock, BufferedSocket) and isinstance(sock.raw, ssl.SSLSocket)
            assert sub.socket_nodelay() is True
            for qos in (1, 0):
                received.clear()
                done.clear()
                assert await pub.publish_many([(topic, p) for p in payloads], qos=qos) == len(payloads)
                await asyncio.wait_for(done.wait(), TIMEOUT_S)
                assert received == payloads
            assert await pub.publish(topic, b"acknowledged", qos=1, wait_s=TIMEOUT_S)
        finally:
            for connection in (sub, pub):
                connection.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT_S)
    finally:
        broker.close()


class _ChunkedSocket:
    """A non-blocking socket stand-in that hands out `data` in chunks of `chunk` bytes."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data, self.chunk, self.pos = data, chunk, 0

    def recv(self, bufsize: int) -> bytes:
        if self.pos >= len(self.data):
            raise BlockingIOError
        piece = self.data[self.pos : self.pos + min(bufsize, self.chunk)]
        self.pos += len(piece)
        return piece

    def close(self) -> None:
        return None


def _stream() -> bytes:
    """PUBLISH packets (QoS 0, 1, 2; 1- to 3-byte lengths; a topic that is not UTF-8; dup, retain),
    PUBACKs (for a message in flight and an unknown one) and a PINGRESP, back to back."""

    def publish(topic: bytes, payload: bytes, qos: int, mid: int, retain: bool = False,
                dup: bool = False) -> bytes:
        command, body = _publish_packet(topic, payload, qos, mid, retain, dup)
        packet = bytearray((command,))
        paho_io._pack_length(packet, len(body))
        return bytes(packet + body)

    return b"".join(
        [
            publish(b"p/r/meas/a", b'{"x": 1}', 1, 10),
            b"\x40\x02\x00\x01",  # PUBACK of the message in flight (mid 1)
            publish(b"p/r/clock/b", b"", 0, 0, retain=True),
            publish(b"p/r/meas/a", bytes(range(256)) * 80, 1, 11, dup=True),  # 3-byte length
            b"\xd0\x00",  # PINGRESP: paho's
            b"\x40\x02\x12\x34",  # PUBACK of nothing in flight
            publish(b"p/r/\xff", b"bad topic", 1, 12),  # paho's
            publish(b"p/r/meas/c", b"q2", 2, 13),  # QoS 2: paho's
            publish(b"p/r/meas/a", b"y" * 300, 0, 0),
        ]
    )


@pytest.mark.parametrize("chunk", [1, 3, 64, 1000, 1 << 16])
def test_lean_read_matches_paho(chunk: int) -> None:
    """The same byte stream, read in chunks of any size by paho's `loop_read` and by the lean one,
    gives the same messages, acknowledgements and packets queued in reply."""
    outcomes = []
    for lean in (False, True):
        client = _paho()
        assert client.publish("p/r/setpoint/a", b"out", 1).rc == mqtt.MQTT_ERR_SUCCESS  # mid 1 in flight
        client._out_packet.clear()
        stream = _ChunkedSocket(_stream(), chunk)
        client._sock = BufferedSocket(stream)
        seen: list[tuple[Any, ...]] = []
        Seen = list[tuple[Any, ...]]

        def on_message(_c: object, _u: object, m: mqtt.MQTTMessage, seen: Seen = seen) -> None:
            seen.append(("message", m._topic, m.payload, m.qos, m.retain, m.dup, m.mid))

        def on_publish(_c: object, _u: object, mid: int, *_: object, seen: Seen = seen) -> None:
            seen.append(("published", mid))

        client.on_message, client.on_publish = on_message, on_publish
        if lean:
            paho_io._lean_puback(client)
            paho_io._lean_publish_in(client)
            paho_io._lean_read(client)
            assert client.loop_read.__qualname__.startswith("_lean_read")
        while stream.pos < len(stream.data) or client._sock.pending():  # as aiomqtt's reader
            assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
        queued = [bytes(p["packet"]) for p in client._out_packet]
        outcomes.append((seen, queued, list(client._out_messages), list(client._in_messages)))
    assert outcomes[1] == outcomes[0]
    seen, queued, in_flight, held = outcomes[1]
    assert len([s for s in seen if s[0] == "message"]) == 5 and ("published", 1) in seen
    assert queued == [b"\x40\x02\x00\x0a", b"\x40\x02\x00\x0b", b"\x40\x02\x00\x0c", b"\x50\x02\x00\x0d"]
    assert in_flight == [] and held == [13]  # the QoS 2 message waits for its PUBREL (paho's way)


@pytest.mark.parametrize("qos", [0, 1])
def test_lean_publish_many_queues_what_paho_would(qos: int) -> None:
    items = [(f"p/r/meas/b-{i}", bytes([i]) * (i * 50)) for i in range(6)] + [("p/r/ü/x", b"utf-8")]
    theirs, ours = _paho(), _paho()
    for topic, payload in items:
        assert theirs.publish(topic, payload, qos).rc == mqtt.MQTT_ERR_SUCCESS
    assert paho_io.publish_many(ours, items, qos) == len(items)
    assert [bytes(p["packet"]) for p in ours._out_packet] == [bytes(p["packet"]) for p in theirs._out_packet]
    assert [p["mid"] for p in ours._out_packet] == [p["mid"] for p in theirs._out_packet]
    assert list(ours._out_messages) == list(theirs._out_messages)
    assert ours._inflight_messages == theirs._inflight_messages == qos * len(items)
    assert all(isinstance(p["info"], paho_io._PublishInfo) for p in ours._out_packet)  # the lean path
    with pytest.raises(ValueError):  # a wildcard topic goes to paho's publish, which refuses it
        paho_io.publish_many(ours, [("p/r/a", b"1"), ("p/+/b", b"2")], qos)
