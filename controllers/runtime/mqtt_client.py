"""One MQTT 3.1.1 session on an asyncio connection, built on asyncio's public protocol API.

`MqttSession.open(...)` connects (TCP or TLS), sends CONNECT and waits for the CONNACK; then
`publish`, `publish_many`, `subscribe` and `disconnect`. Received messages go to `on_message` in
arrival order, as `InboundMessage`; the session acknowledges QoS 1 messages itself. `closed`
completes when the session ends (with the exception that ended it, or None after `disconnect`).

Why not a general-purpose client: a lockstep control step is a handful of small packets per
agent, and the per-packet work of a general client (several reads per packet, a send per packet,
objects and log calls per acknowledgement) was most of a step's cost. Here a read takes every
complete packet of the chunk the socket gave, and what the session sends in one turn of the event
loop (the acknowledgements of a chunk, a `publish_many` batch, the answers of a host's agents)
leaves in one write at the end of the turn.

Reads go into one buffer the session keeps (an `asyncio.BufferedProtocol`): the socket, or
asyncio's TLS layer when it decrypts, writes into it, and a message's payload is copied out of it
once. Taking each read as a new bytes object instead costs asyncio's TLS layer a 256 KiB allocation
per read, and each packet was copied three times on its way to the handler (into the parse buffer,
out of it, and its payload out of the packet), which weighs most on a secured run's large messages.

Nagle and delayed ACKs: a broker that does not set TCP_NODELAY on its sockets (Mosquitto's
default) holds a second small packet to a client until the client acknowledges the first, and
Linux delays that acknowledgement by up to 40 ms. The session re-arms TCP_QUICKACK after every
read (where the platform offers it), so the client acknowledges at once and such a broker sends
the held packet without waiting. The client's own socket has TCP_NODELAY (asyncio sets it on TCP
connections; the session sets it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from controllers.runtime import mqtt_wire as wire

__all__ = ["QUICKACK_AVAILABLE", "InboundMessage", "MqttError", "MqttSession", "Will"]

QUICKACK_AVAILABLE: Final = hasattr(socket, "TCP_QUICKACK")
_QUICKACK: Final = getattr(socket, "TCP_QUICKACK", 0)
_IPPROTO_TCP: Final = socket.IPPROTO_TCP


class MqttError(Exception):
    """A connection that could not be made or was lost, or a request the broker refused."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message the broker delivered: topic, payload (bytes), QoS and retain flag."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(frozen=True)
class Will:
    """The last will: what the broker publishes for the client if its connection dies."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


READ_BUFFER_BYTES: Final = 1 << 15  # the receive buffer's size to start with (it grows as needed)
_READ_ROOM_BYTES: Final = 1 << 14  # the least free space offered to a read


class MqttSession(asyncio.BufferedProtocol):
    """A connected MQTT session (see the module docstring). Create it with `open`."""

    def __init__(self, on_message: Callable[[InboundMessage], None], keepalive_s: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_message = on_message
        self.keepalive_s = keepalive_s
        self._transport: asyncio.Transport | None = None
        self._sock: Any = None  # asyncio's TransportSocket, for TCP_QUICKACK
        self._buffer = bytearray(READ_BUFFER_BYTES)  # received bytes not yet parsed: [0, _filled)
        self._view = memoryview(self._buffer)
        self._filled = 0
        self._wanted = 0  # the size of the packet that starts the buffer, when it is known to be longer
        self._offered = 0  # the free space the last read was offered (a read that fills it: grow)
        self._filled_up = False
        self._connack: asyncio.Future[None] = self._loop.create_future()
        self.closed: asyncio.Future[BaseException | None] = self._loop.create_future()
        self._waiters: dict[int, asyncio.Future[bytes]] = {}
        self._next_id = 0
        self._last_sent = self._last_received = time.monotonic()
        self._keepalive: asyncio.Task[None] | None = None
        self._topics: dict[str, bytes] = {}
        self._outbox: list[bytes] = []  # packets of this turn of the event loop, written at its end

    # ---------------------------------------------------------------- opening and closing

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        client_id: str,
        on_message: Callable[[InboundMessage], None],
        keepalive_s: int = 30,
        timeout_s: float = 5.0,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        will: Will | None = None,
        clean_session: bool = True,
    ) -> MqttSession:
        """Connect and wait for the broker's CONNACK; `MqttError` if that fails within `timeout_s`."""
        loop = asyncio.get_running_loop()
        try:
            _, session = await asyncio.wait_for(
                loop.create_connection(
                    lambda: cls(on_message, keepalive_s),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                ),
                timeout_s,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise MqttError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
        will_fields = None if will is None else (will.topic, will.payload, will.qos, will.retain)
        session._send(
            wire.connect_packet(
                client_id,
                keepalive_s=keepalive_s,
                clean_session=clean_session,
                username=username,
                password=password,
                will=will_fields,
            )
        )
        try:
            await asyncio.wait_for(asyncio.shield(session._connack), timeout_s)
        except TimeoutError:
            session.abort()
            raise MqttError(f"no CONNACK from {host}:{port} within {timeout_s} s") from None
        except (wire.ConnackError, MqttError) as exc:
            session.abort()
            raise MqttError(f"{host}:{port}: {exc}") from exc
        if keepalive_s > 0:
            session._keepalive = loop.create_task(session._keep_alive(), name=f"{client_id}-keepalive")
        return session

    async def disconnect(self, timeout_s: float = 2.0) -> None:
        """Send DISCONNECT (no will is published) and close the connection."""
        if self._transport is not None and not self.closed.done():
            self._send(wire.disconnect_packet())
            self._flush()
            self._transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), timeout_s)
        self._end(None)

    def abort(self) -> None:
        """Drop the connection at once (the broker publishes the will)."""
        if self._transport is not None:
            self._transport.abort()
        self._end(MqttError("connection aborted"))

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    # ---------------------------------------------------------------- asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport: asyncio's, or another event loop's (uvloop's is no asyncio.Transport)
        if not callable(getattr(transport, "write", None)):
            raise TypeError("MQTT needs a stream transport")
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(_IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock if QUICKACK_AVAILABLE else None

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the next read goes: the free part of the receive buffer, at least `_READ_ROOM_BYTES`
        and room for the whole packet being received. The buffer doubles when a read filled all the
        room it was offered (a burst of messages) and never shrinks; a larger one replaces the old
        one (a transport may still hold a view of that, so it is never resized)."""
        needed = max(self._filled + _READ_ROOM_BYTES, self._wanted)
        if self._filled_up:
            needed, self._filled_up = max(needed, 2 * len(self._buffer)), False
        if needed > len(self._buffer):
            bigger = bytearray(max(needed, 2 * len(self._buffer)))
            bigger[: self._filled] = self._view[: self._filled]
            self._buffer, self._view = bigger, memoryview(bigger)
        self._offered = len(self._buffer) - self._filled
        return self._view[self._filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self._last_received = time.monotonic()
        if self._sock is not None:
            try:  # acknowledge at once (see the module docstring)
                self._sock.setsockopt(_IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                self._sock = None
        self._filled += nbytes
        self._filled_up = nbytes >= self._offered
        try:
            self._take_packets()
        except wire.ProtocolError as exc:
            self._end(MqttError(f"protocol error: {exc}"))
            if self._transport is not None:
                self._transport.abort()

    def _take_packets(self) -> None:
        """Handle every complete packet at the front of the buffer; keep a partial one. The
        acknowledgements of the QoS 1 messages among them leave in one write."""
        view, end, pos = self._view, self._filled, 0
        acks: list[bytes] = []
        try:
            while (found := wire.packet_at(view, pos, end)) is not None:
                first, start, stop = found
                kind, flags = first >> 4, first & 0x0F
                pos = stop
                if kind == wire.PUBLISH:
                    topic, payload, qos, retain, packet_id = wire.publish_at(view, flags, start, stop)
                    if qos:
                        acks.append(wire.puback_packet(packet_id))
                    self._on_message(InboundMessage(topic, payload, qos, retain))
                else:
                    self._on_packet(wire.Packet(kind, flags, view[start:stop].tobytes()))
        finally:
            rest = end - pos
            if pos and rest:
                self._buffer[:rest] = view[pos:end].tobytes()  # the partial packet to the front
            self._filled = rest
            self._wanted = self._packet_size() if rest else 0
        if acks:
            self._send(b"".join(acks))

    def _packet_size(self) -> int:
        """The size of the (partial) packet at the front of the buffer, 0 while its header is short
        (or malformed: the next read's `packet_at` refuses it)."""
        try:
            found = wire.packet_end_at(self._view, 0, self._filled)
        except wire.ProtocolError:
            return 0
        return 0 if found is None else found[1]

    def _on_packet(self, packet: wire.Packet) -> None:
        if packet.kind in (wire.PUBACK, wire.SUBACK, wire.UNSUBACK):
            waiter = self._waiters.pop(wire.packet_id_of(packet), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(packet.body[2:])
        elif packet.kind == wire.CONNACK:
            self._on_connack(packet)
        elif packet.kind != wire.PINGRESP:
            raise wire.ProtocolError(f"unexpected packet type {packet.kind} from the broker")

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(MqttError(f"connection lost: {exc}" if exc else "connection closed by the broker"))

    def _on_connack(self, packet: wire.Packet) -> None:
        if self._connack.done():
            raise wire.ProtocolError("a second CONNACK")
        if len(packet.body) != 2:
            raise wire.ProtocolError("CONNACK of the wrong length")
        if packet.body[1]:
            self._connack.set_exception(wire.ConnackError(packet.body[1]))
        else:
            self._connack.set_result(None)

    def _end(self, exc: BaseException | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        failure = exc if exc is not None else MqttError("disconnected")
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(MqttError(str(failure)))
        self._waiters.clear()
        if not self._connack.done():
            self._connack.set_exception(MqttError(str(failure)))
            self._connack.exception()  # retrieved: nobody else may wait for it any more
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()

    # ---------------------------------------------------------------- requests

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self.closed.done()

    def _send(self, data: bytes) -> None:
        """Queue `data` for the write at the end of this turn of the event loop: what a turn sends
        (the setpoints of a host's agents, each on its own topic) leaves in one write, one TLS
        record and one system call instead of one per packet."""
        if self._transport is None or self._transport.is_closing():
            raise MqttError("not connected")
        if not self._outbox:
            self._loop.call_soon(self._flush)
        self._outbox.append(data)
        self._last_sent = time.monotonic()

    def _flush(self) -> None:
        """Write what was queued (nothing if the connection has gone meanwhile)."""
        queued, self._outbox = self._outbox, []
        if queued and self._transport is not None and not self._transport.is_closing():
            self._transport.write(queued[0] if len(queued) == 1 else b"".join(queued))

    def _packet_id(self) -> int:
        for _ in range(0xFFFF):
            self._next_id = self._next_id % 0xFFFF + 1
            if self._next_id not in self._waiters:
                return self._next_id
        raise MqttError("no free packet identifier (65535 requests outstanding)")

    def _topic(self, topic: str) -> bytes:
        raw = self._topics.get(topic)
        if raw is None:
            if len(self._topics) > 1 << 16:
                self._topics.clear()
            raw = self._topics[topic] = topic.encode()
        return raw

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bytes]:
        """Send one message; the future completes when it is written (QoS 0) or acknowledged (QoS 1)."""
        if qos not in (0, 1):
            raise ValueError(f"QoS {qos} is not supported (0 or 1)")
        waiter: asyncio.Future[bytes] = self._loop.create_future()
        if qos:
            packet_id = self._packet_id()
            self._waiters[packet_id] = waiter
            self._send(wire.publish_packet(self._topic(topic), payload, 1, retain, packet_id))
        else:
            self._send(wire.publish_packet(self._topic(topic), payload, 0, retain))
            waiter.set_result(b"")
        return waiter

    def publish_many(self, items: Sequence[tuple[str, bytes]], qos: int = 1, retain: bool = False) -> int:
        """Write `items` (topic, payload) in one write without waiting for acknowledgements; the count."""
        if qos not in (0, 1):
            raise ValueError(f"QoS {qos} is not supported (0 or 1)")
        packets = []
        for topic, payload in items:
            packet_id = self._packet_id() if qos else 0  # acknowledgements nobody waits for
            packets.append(wire.publish_packet(self._topic(topic), payload, qos, retain, packet_id))
        self._send(b"".join(packets))
        return len(packets)

    async def subscribe(self, filters: Sequence[tuple[str, int]], timeout_s: float) -> None:
        """Subscribe to `filters` (filter, max QoS) and wait for the SUBACK; `MqttError` if refused."""
        packet_id = self._packet_id()
        waiter: asyncio.Future[bytes] = self._loop.create_future()
        self._waiters[packet_id] = waiter
        self._send(wire.subscribe_packet(packet_id, list(filters)))
        try:
            codes = await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            self._waiters.pop(packet_id, None)
            raise MqttError(f"no SUBACK within {timeout_s} s") from None
        refused = [f for (f, _), code in zip(filters, codes, strict=False) if code == 0x80]
        if refused:
            raise MqttError(f"the broker refused the subscription to {', '.join(refused)}")

    async def _keep_alive(self) -> None:
        """PINGREQ when nothing was sent, or nothing received, for half the keepalive; end the
        session when the broker has been silent for 1.5 keepalives. The second condition keeps a
        client that only sends (an ADMM host between the broadcasts of a long round) from ending its
        own healthy session: without a PINGREQ the broker has nothing to answer."""
        interval_s = self.keepalive_s / 2.0
        while not self.closed.done():
            await asyncio.sleep(interval_s / 2.0)
            now = time.monotonic()
            if now - self._last_received > 1.5 * self.keepalive_s:
                self._end(MqttError(f"no packet from the broker for {1.5 * self.keepalive_s:.0f} s"))
                if self._transport is not None:
                    self._transport.abort()
                return
            if now - self._last_sent >= interval_s or now - self._last_received >= interval_s:
                with contextlib.suppress(MqttError):
                    self._send(wire.pingreq_packet())
