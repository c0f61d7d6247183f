"""Cheaper per-packet work for paho's MQTT client when it runs under aiomqtt on an asyncio loop.

A lockstep step moves eight small packets per agent at QoS 1 (a PUBLISH and a PUBACK each way,
at the bridge and at the agent). paho reads every packet with at least three `recv` calls and
writes every packet with its own `send`, under aiomqtt one turn of the event loop per packet
read and an `add_writer`/`remove_writer` pair per burst written; it decodes every PUBACK into
reason-code and properties objects, gives every message a `threading.Condition` and formats a
debug log call for each. That, not the broker, dominated the cost of a step. `tune(client, loop,
fail)` changes this on one connected paho client, without changing what goes over the wire:

- reads go through `BufferedSocket`: one `recv` of up to 64 KiB, paho's small reads served from
  that buffer. The buffered bytes are reported through `pending()`, the hook aiomqtt already
  uses for TLS sockets, so aiomqtt's reader keeps calling `loop_read` until the buffer is empty;
- writes: before every `loop_write` the queued packets are joined into one buffer and sent with
  one `send` (`_coalesce`; paho still handles partial writes; QoS 0 PUBLISH packets, which paho
  reports once written, are reported one by one when the joined packet is written), and
  `loop_write` runs at the end of the current turn of the loop (`call_soon`) instead of after
  registering the socket for writing (`_write_soon`; aiomqtt's writer takes over only when the
  socket's buffer is full);
- MQTT 3.1.1 PUBACK and received QoS 0/1 PUBLISH packets are handled by lean versions of paho's
  handlers (`_lean_puback`, `_lean_publish_in`) that do the same (callbacks, acknowledgement)
  without the intermediate objects and log calls, and every such packet already in the read
  buffer is parsed and handled in one `loop_read` (`_lean_read`); `publish_many` queues QoS 0/1
  PUBLISH packets the same way, with each topic's encoding cached (used by
  `MqttConnection.publish_many`). Anything unusual (MQTT 5, QoS 2, manual acknowledgements,
  per-topic callbacks, malformed packets …) goes to paho's own code.

All of this relies on paho 2.x internals (`_sock`, `_out_packet`, `_handle_publish` …): `tune`
checks that they look as expected and otherwise leaves the client alone (correct, only slower).
`tests/mqtt/test_paho_io.py` compares the lean paths with paho's, byte for byte.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.client import time_func
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 16
_PUBLISH = int(mqtt.PUBLISH)
_DISCONNECT = int(mqtt.DISCONNECT)
_PUBACK = int(mqtt.PUBACK)


class BufferedSocket:
    """A socket (or TLS socket) whose `recv` is served from a read-ahead buffer.

    Everything but `recv` and `pending` goes to the wrapped socket (`fileno`, `send`, `close`,
    socket options …); `raw` is the wrapped socket.
    """

    __slots__ = ("_buf", "_pos", "raw")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        pos = self._pos
        buf = self._buf
        if pos >= len(buf):
            data: bytes = self.raw.recv(max(bufsize, READ_CHUNK))  # BlockingIOError etc. propagate
            if len(data) <= bufsize:
                return data  # b"" at end of stream, as from the socket itself
            self._buf = buf = data
            pos = 0
        end = min(pos + bufsize, len(buf))
        self._pos = end
        return buf[pos:end]

    def pending(self) -> int:
        """Bytes readable without waiting for the socket: the buffer's, plus TLS's own."""
        inner = getattr(self.raw, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class _Written:
    """The `info` of a joined packet that contains QoS 0 PUBLISH packets: paho calls its
    `_set_as_published` once the joined packet is written, and it does for each of them what paho
    does when one QoS 0 PUBLISH is written (`on_publish`, then the message's own info). If paho
    marks it lost instead (`rc` set before, on a reconnect), each message's info is marked lost."""

    __slots__ = ("client", "published", "rc")

    def __init__(self, client: mqtt.Client, published: list[tuple[int, Any]]) -> None:
        self.client = client
        self.published = published
        self.rc = MQTTErrorCode.MQTT_ERR_SUCCESS

    def _set_as_published(self) -> None:
        client = self.client
        on_publish = client.on_publish if self.rc == MQTTErrorCode.MQTT_ERR_SUCCESS else None
        for mid, info in self.published:
            if on_publish is not None:
                with client._in_callback_mutex:
                    try:
                        callback: Any = on_publish  # paho's type is a union of both signatures
                        if client._callback_api_version == CallbackAPIVersion.VERSION1:
                            callback(client, client._userdata, mid)
                        else:
                            reason = ReasonCode(PacketTypes.PUBACK)
                            callback(client, client._userdata, mid, reason, _no_properties())
                    except Exception as err:
                        client._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_publish: %s", err)
                        if not client.suppress_exceptions:
                            raise
            if info is not None:
                info.rc = self.rc
                info._set_as_published()


def _no_properties() -> Properties:
    return Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]


def _coalesce(out: collections.deque[Any], client: mqtt.Client | None = None) -> None:
    """Join the packets at the head of `out` into one, up to a DISCONNECT (paho acts on it once
    written). QoS 0 PUBLISH packets, whose completion paho reports when they are written, are
    joined only given their `client` (see `_Written`); otherwise they end the run too."""
    if len(out) < 2:
        return
    run: list[Any] = []
    published: list[tuple[int, Any]] = []
    while out:
        packet = out[0]
        command = packet["command"] & 0xF0
        if command == _DISCONNECT:
            break
        if command == _PUBLISH and packet["qos"] == 0:
            if client is None:
                break
            published.append((packet["mid"], packet["info"]))
        run.append(out.popleft())
    if len(run) < 2:
        out.extendleft(reversed(run))
        return
    data = b"".join(p["packet"] if p["pos"] == 0 else memoryview(p["packet"])[p["pos"] :] for p in run)
    joined = {"mid": 0, "qos": 0, "pos": 0, "to_process": len(data), "packet": data}
    if published and client is not None:
        # a QoS 0 PUBLISH to paho: once written it calls on_publish with mid 0 (no message has
        # that id; aiomqtt ignores it), then `_Written._set_as_published`
        joined |= {"command": _PUBLISH, "info": _Written(client, published)}
    else:  # a PUBACK to paho: written like any packet, nothing done when complete
        joined |= {"command": _PUBACK, "info": None}
    out.appendleft(joined)


def tune(
    client: mqtt.Client,
    loop: asyncio.AbstractEventLoop | None = None,
    fail: Callable[[Exception], None] | None = None,
) -> bool:
    """Buffer reads and join writes of a connected paho `client`; True if both are in place.

    Given the event loop the client runs on (and `fail`, called with an exception that ends the
    session, as aiomqtt's writer does), queued packets are also written at the end of the current
    turn of the loop instead of after registering the socket for writing (`_write_soon`).
    Call on the loop's thread.
    """
    sock = getattr(client, "_sock", None)
    if sock is None or not isinstance(getattr(client, "_out_packet", None), collections.deque):
        log.debug("paho internals not as expected; socket I/O left as it is")
        return False
    if not isinstance(sock, BufferedSocket):
        client._sock = BufferedSocket(sock)
    write: Callable[[], MQTTErrorCode] = client.loop_write
    if getattr(write, "coalescing", False):
        return True

    def loop_write() -> MQTTErrorCode:
        _coalesce(client._out_packet, client)
        return write()

    loop_write.coalescing = True  # type: ignore[attr-defined]
    client.loop_write = loop_write  # type: ignore[method-assign]
    if _is_plain_311(client):
        _lean_puback(client)
        _lean_publish_in(client)
        _lean_read(client)
    if loop is not None and fail is not None:
        _write_soon(client, loop, fail)
    return True


def _write_soon(
    client: mqtt.Client, loop: asyncio.AbstractEventLoop, fail: Callable[[Exception], None]
) -> None:
    """Write what paho queued at the end of the current turn of the event loop.

    paho announces "something to write" once per burst (`on_socket_register_write`) and "all
    written" (`on_socket_unregister_write`). aiomqtt answers with `call_soon_threadsafe(add_writer)`
    and `remove_writer`: a wake-up of the loop, two epoll changes and an extra turn per burst.
    Instead, `loop_write` is scheduled with `call_soon`, so everything queued by the callbacks
    running now (a batch of received messages, the setpoints they produce) goes out in one
    `send`. Only if the socket takes part of it is aiomqtt's writer registered, to finish
    when the socket is writable again.
    """
    register = client.on_socket_register_write
    unregister = client.on_socket_unregister_write
    if register is None or unregister is None:
        return
    loop_thread = threading.get_ident()
    writer = [True]  # aiomqtt may have its writer registered at this moment

    def flush() -> None:
        try:
            client.loop_write()
        except Exception as exc:  # as aiomqtt's writer: the connection is broken
            fail(exc)
            return
        sock = client._sock
        if sock is not None and client.want_write():  # the socket's buffer is full: finish when writable
            writer[0] = True
            register(client, client._userdata, sock)

    def on_register(_client: mqtt.Client, _userdata: Any, _sock: Any) -> None:
        if threading.get_ident() == loop_thread:
            loop.call_soon(flush)
        else:
            loop.call_soon_threadsafe(flush)

    def on_unregister(paho: mqtt.Client, userdata: Any, sock: Any) -> None:
        if writer[0]:
            writer[0] = False
            unregister(paho, userdata, sock)

    client.on_socket_register_write = on_register
    client.on_socket_unregister_write = on_unregister


def _is_plain_311(client: mqtt.Client) -> bool:
    """MQTT 3.1.1 (or 3.1) and the paho internals the lean handlers use, as in paho 2.1–2.2."""
    needed = (
        "_handle_pubackcomp",
        "_do_on_publish",
        "_handle_publish",
        "_send_command_with_mid",
        "_out_message_mutex",
        "_in_callback_mutex",
        "_mid_generate",
        "_packet_queue",
    )
    return (
        getattr(client, "_protocol", None) in (mqtt.MQTTv31, mqtt.MQTTv311)
        and all(hasattr(client, name) for name in needed)
        and isinstance(getattr(client, "_in_packet", None), dict)
        and isinstance(getattr(client, "_out_messages", None), dict)
        and hasattr(getattr(getattr(client, "_on_message_filtered", None), "_root", None), "_children")
        and set(getattr(mqtt.MQTTMessage, "__slots__", ())) == _MESSAGE_SLOTS
    )


def _lean_puback(client: mqtt.Client) -> None:
    """Handle MQTT 3.1.1 PUBACKs without building a reason code, properties and a log line each.

    paho's handler decodes the two-byte packet into a `ReasonCode` and an empty `Properties`
    (3.1.1 has neither), logs it at debug level, and calls `_do_on_publish` (the `on_publish`
    callback, then completes the message). This does the same with one shared reason code and
    properties object; anything else (MQTT 5, PUBCOMP, a malformed packet) goes to paho's own.
    """
    handle = getattr(client, "_handle_pubackcomp", None)
    done = getattr(client, "_do_on_publish", None)
    if (
        handle is None
        or done is None
        or getattr(client, "_protocol", None) == mqtt.MQTTv5
        or not isinstance(getattr(client, "_in_packet", None), dict)
        or not isinstance(getattr(client, "_out_messages", None), dict)
    ):
        return
    def handle_pubackcomp(cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = client._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:
            return handle(cmd)  # type: ignore[no-any-return]
        return _acknowledged(client, (packet[0] << 8) | packet[1])

    client._handle_pubackcomp = handle_pubackcomp  # type: ignore[method-assign]


_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = _no_properties()  # shared: 3.1.1 acknowledgements carry none


def _acknowledged(client: mqtt.Client, mid: int) -> MQTTErrorCode:
    """What paho does on a 3.1.1 PUBACK for `mid`: `on_publish`, then the message is complete."""
    with client._out_message_mutex:
        if mid in client._out_messages:
            return client._do_on_publish(mid, _SUCCESS, _NO_PROPERTIES)
    return MQTTErrorCode.MQTT_ERR_SUCCESS


def raw_socket(sock: Any) -> Any:
    """The socket under a `BufferedSocket`, else `sock` itself."""
    return sock.raw if isinstance(sock, BufferedSocket) else sock


_MESSAGE_SLOTS = {
    "_topic",
    "dup",
    "info",
    "mid",
    "payload",
    "properties",
    "qos",
    "retain",
    "state",
    "timestamp",
}
_NO_INFO = mqtt.MQTTMessageInfo(0)  # shared by received messages: paho never completes those


def _received(header: int, topic: bytes, mid: int, payload: bytes) -> mqtt.MQTTMessage:
    """A received `MQTTMessage`, as paho builds it, without its own `MQTTMessageInfo` (whose
    `threading.Condition` only serves messages this client publishes)."""
    message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
    message.timestamp = time_func()
    message.state = mqtt.mqtt_ms_invalid
    message.dup = bool(header & 0x08)
    message.mid = mid
    message._topic = topic
    message.payload = payload
    message.qos = (header & 0x06) >> 1
    message.retain = bool(header & 0x01)
    message.info = _NO_INFO
    message.properties = None
    return message


def _parse_publish(header: int, buf: bytes | bytearray, start: int, end: int) -> mqtt.MQTTMessage | None:
    """The received QoS 0/1 PUBLISH whose variable header and payload are `buf[start:end]`, or None
    if it is anything paho should judge (QoS 2, no topic, truncated, a topic that is not UTF-8)."""
    qos = (header & 0x06) >> 1
    if qos > 1 or end - start < 2:
        return None
    topic_end = start + 2 + ((buf[start] << 8) | buf[start + 1])
    body = topic_end + 2 if qos else topic_end
    if topic_end == start + 2 or body > end:
        return None
    topic = bytes(buf[start + 2 : topic_end])
    try:
        topic.decode("utf-8")
    except UnicodeDecodeError:
        return None
    mid = (buf[topic_end] << 8) | buf[topic_end + 1] if qos else 0
    return _received(header, topic, mid, bytes(buf[body:end]))


def _deliver(client: mqtt.Client, message: mqtt.MQTTMessage) -> MQTTErrorCode:
    """What paho does with a received QoS 0/1 PUBLISH: `on_message` under its lock and with its
    error handling, then the PUBACK for QoS 1."""
    on_message = client._on_message
    if on_message is not None:
        with client._in_callback_mutex:
            try:
                on_message(client, client._userdata, message)
            except Exception as err:
                client._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not client.suppress_exceptions:
                    raise
    if message.qos == 1:
        return client._send_command_with_mid(_PUBACK, message.mid, False)
    return MQTTErrorCode.MQTT_ERR_SUCCESS


def _lean_publish_in(client: mqtt.Client) -> None:
    """Handle a received MQTT 3.1.1 PUBLISH of QoS 0 or 1 the way paho does, in fewer steps.

    paho decodes it through a generic packet decoder, logs it at debug level twice (receipt and
    acknowledgement), matches the topic against per-topic callbacks (aiomqtt registers none) and
    gives every message a `threading.Condition`. This reads topic, packet id and payload directly,
    calls `on_message` under the same lock and with the same error handling, and queues the PUBACK.
    QoS 2, manual acknowledgement, per-topic callbacks, a topic that is not UTF-8 and any packet
    that does not parse go to paho's own handler (which rejects malformed packets).
    """
    handle = client._handle_publish
    callbacks = client._on_message_filtered._root._children

    def handle_publish() -> MQTTErrorCode:
        packet = client._in_packet["packet"]
        message = None
        if not callbacks and not client._manual_ack:
            message = _parse_publish(client._in_packet["command"], packet, 0, len(packet))
        if message is None:
            return handle()
        return _deliver(client, message)

    client._handle_publish = handle_publish  # type: ignore[method-assign]


def _lean_read(client: mqtt.Client) -> None:
    """Handle every complete PUBLISH (QoS 0/1) and PUBACK already in the read buffer in one call.

    paho reads every packet with three small reads through its generic state machine, a lock and
    a clock reading each, and then dispatches it by type; its `loop_read` reads as many packets
    as there are messages in flight (a bridge step has hundreds) that way. This parses the
    packets straight from the buffer of the `BufferedSocket` and does with them what the lean
    handlers above do. It stops at the first packet of another type, an incomplete one or one
    paho must judge, and leaves that one packet to paho's `_packet_read`, as it does when paho is
    in the middle of a packet or the buffer is empty (paho then reads from the socket, with its
    own handling of errors and of the end of the stream). aiomqtt calls again while the buffer
    holds bytes (`pending`).
    """
    read = client.loop_read
    callbacks = client._on_message_filtered._root._children

    def read_one() -> MQTTErrorCode:
        if client._sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        rc = client._packet_read()
        if rc > 0:
            return client._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_SUCCESS  # read, or MQTT_ERR_AGAIN: nothing more to read now

    def loop_read(max_packets: int = 1) -> MQTTErrorCode:
        sock = client._sock
        if not isinstance(sock, BufferedSocket):
            return read(max_packets)
        if client._in_packet["command"] or sock._pos >= len(sock._buf):
            return read_one()
        buf, pos = sock._buf, sock._pos
        size = len(buf)
        handled = 0
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while pos < size and not rc:
            header = buf[pos]
            length, shift, start = 0, 0, pos + 1
            while start < size and shift < 28:
                byte = buf[start]
                start += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break  # the remaining length is incomplete (or malformed): paho's
            end = start + length
            if end > size:
                break  # incomplete: paho reads the rest
            command = header & 0xF0
            if command == _PUBLISH and not callbacks and not client._manual_ack:
                message = _parse_publish(header, buf, start, end)
                if message is None:
                    break
                sock._pos = pos = end
                rc = _deliver(client, message)
            elif command == _PUBACK and length == 2:
                sock._pos = pos = end
                rc = _acknowledged(client, (buf[start] << 8) | buf[start + 1])
            else:
                break
            handled += 1
        if not handled:
            return read_one()
        with client._msgtime_mutex:
            client._last_bytes_received = time_func()
        return client._loop_rc_handle(rc) if rc else rc

    client.loop_read = loop_read  # type: ignore[method-assign]


class _PublishInfo(mqtt.MQTTMessageInfo):
    """paho's `MQTTMessageInfo` without the `threading.Condition` that `wait_for_publish` needs:
    the messages `publish` queues are never waited for (`is_published`, `rc` and `mid` work)."""

    __slots__ = ()

    def __init__(self, mid: int) -> None:
        self.mid = mid
        self._published = False
        self.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        self._iterpos = 0

    def _set_as_published(self) -> None:
        self._published = True

    def wait_for_publish(self, timeout: float | None = None) -> None:
        raise RuntimeError("not available for messages queued by paho_io.publish")


def publish(client: mqtt.Client, topic: str, payload: bytes, qos: int, retain: bool = False) -> bool:
    """Queue one PUBLISH like `client.publish(topic, payload, qos, retain)`; True if queued.
    See `publish_many`."""
    return publish_many(client, ((topic, payload),), qos, retain) == 1


MAX_PAYLOAD = 268_435_455 - 65_535 - 4  # what always fits MQTT's remaining length with any topic
_TOPIC_FIELDS: dict[str, bytes] = {}


def _topic_field(topic: str) -> bytes | None:
    """The length-prefixed UTF-8 of a topic one may publish to, or None (empty, wildcards, too long:
    paho's `publish` refuses those); cached, since a run publishes to the same topics every step."""
    field = _TOPIC_FIELDS.get(topic)
    if field is None:
        if not topic or "+" in topic or "#" in topic:
            return None
        raw = topic.encode("utf-8")
        if len(raw) > 65535:
            return None
        if len(_TOPIC_FIELDS) >= 1 << 16:
            _TOPIC_FIELDS.clear()
        field = _TOPIC_FIELDS[topic] = len(raw).to_bytes(2, "big") + raw
    return field


def _remaining_length(length: int) -> bytes:
    if length < 128:
        return bytes((length,))
    packed = bytearray()
    _pack_length(packed, length)
    return bytes(packed)


def publish_many(
    client: mqtt.Client, items: Iterable[tuple[str, bytes]], qos: int, retain: bool = False
) -> int:
    """Queue a PUBLISH for each (topic, payload) of `items`, in order, like `client.publish`; the
    number queued (it stops at the first that is not).

    On a tuned MQTT 3.1.1 client, QoS 0 and 1 messages take a shorter path with the same effect
    (the message is registered for its acknowledgement and queued for sending, in order with
    every other packet), without a `threading.Condition` per message or a debug log line: the
    caller (`MqttConnection.publish_many`) never waits on paho's `MQTTMessageInfo`. Topics with
    wildcards, empty topics, QoS 2, a queue limit, an in-flight window or an unconnected client
    go through `client.publish`.
    """
    queued = 0
    if (
        qos > 1
        or client._max_queued_messages
        or client._max_inflight_messages
        or not getattr(client.loop_write, "coalescing", False)
        or client._protocol == mqtt.MQTTv5
        or client._sock is None
    ):
        for topic, payload in items:
            if client.publish(topic, payload, qos, retain).rc != mqtt.MQTT_ERR_SUCCESS:
                break
            queued += 1
        return queued
    header = bytes((_PUBLISH | (qos << 1) | int(bool(retain)),))
    mid_size = 2 if qos else 0
    out_messages = client._out_messages
    for topic, payload in items:
        field = _topic_field(topic)
        lean = (
            field is not None
            and len(payload) <= MAX_PAYLOAD
            and _queue(client, out_messages, header, field, mid_size, payload, qos, retain)
        )
        if not lean and client.publish(topic, payload, qos, retain).rc != mqtt.MQTT_ERR_SUCCESS:
            break
        queued += 1
    return queued


def _queue(
    client: mqtt.Client,
    out_messages: dict[int, mqtt.MQTTMessage],
    header: bytes,
    field: bytes,
    mid_size: int,
    payload: bytes,
    qos: int,
    retain: bool,
) -> bool:
    """Queue one PUBLISH the lean way; False if paho must (65535 messages in flight)."""
    mid = client._mid_generate()
    packet = b"".join(
        (
            header,
            _remaining_length(len(field) + mid_size + len(payload)),
            field,
            mid.to_bytes(2, "big") if mid_size else b"",
            payload,
        )
    )
    info = _PublishInfo(mid)
    if qos == 0:
        info.rc = client._packet_queue(_PUBLISH, packet, mid, 0, info)
        return True
    message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
    message.timestamp = time_func()
    message.state = mqtt.mqtt_ms_wait_for_puback
    message.dup = False
    message.mid = mid
    message._topic = field[2:]
    message.payload = payload
    message.qos = qos
    message.retain = bool(retain)
    message.info = info
    message.properties = None
    with client._out_message_mutex:
        if mid in out_messages:
            return False
        out_messages[mid] = message
        client._inflight_messages += 1
        info.rc = client._packet_queue(_PUBLISH, packet, mid, qos, info)
    return True


def _pack_length(packet: bytearray, length: int) -> None:
    """MQTT's variable-length encoding of the remaining length (as paho's `_pack_remaining_length`)."""
    while True:
        byte = length % 128
        length //= 128
        if length > 0:
            byte |= 0x80
        packet.append(byte)
        if length == 0:
            return
