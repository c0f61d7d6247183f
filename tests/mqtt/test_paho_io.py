"""The socket I/O tuning of paho under aiomqtt: buffered reads and joined writes."""

from __future__ import annotations

import asyncio
import collections
import socket
import threading
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
import pytest

from controllers.runtime import MqttConnection
from controllers.runtime.paho_io import BufferedSocket, _coalesce, raw_socket
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
    running_mosquitto_url: str, topic_prefix: str
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

    sub = MqttConnection(running_mosquitto_url, client_id=f"io-sub-{topic_prefix[-8:]}", handler=on_message,
                         subscriptions=[topic])
    pub = MqttConnection(running_mosquitto_url, client_id=f"io-pub-{topic_prefix[-8:]}", handler=on_message)
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
    running_mosquitto_url: str, topic_prefix: str
) -> None:
    async def ignore(_: aiomqtt.Message) -> None:
        return None

    client_id = f"io-ack-{topic_prefix[-8:]}"
    connection = MqttConnection(running_mosquitto_url, client_id=client_id, handler=ignore)
    task = asyncio.create_task(connection.run())
    try:
        assert await connection.wait_connected(TIMEOUT_S)
        assert connection._client is not None
        paho = connection._client._client
        assert paho._handle_pubackcomp.__name__ == "handle_pubackcomp"  # ours, not paho's method
        for i in range(20):  # each waits for its PUBACK, which only the handler completes
            assert await connection.publish(f"{topic_prefix}/ack", b"%d" % i, qos=1, wait_s=TIMEOUT_S)
        assert await connection.publish_many([(f"{topic_prefix}/ack", b"x")] * 200, qos=1) == 200
        assert await connection.publish(f"{topic_prefix}/ack", b"last", qos=1, wait_s=TIMEOUT_S)
        assert not paho._out_messages  # every QoS 1 message acknowledged and released
        assert connection.stats.publish_failures == 0
    finally:
        connection.stop()
        await asyncio.wait_for(task, TIMEOUT_S)
