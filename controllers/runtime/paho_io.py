"""Cheaper socket I/O for paho's MQTT client when it runs under aiomqtt on an asyncio loop.

paho reads every packet with at least three `recv` calls (command byte, length, body) and
writes every packet with its own `send`. Each is a system call that releases the GIL, and under
aiomqtt each read of a packet is one turn of the event loop. With hundreds of small QoS 1 packets
per control step (a PUBLISH and a PUBACK each way per agent) this, not the broker, dominated the
cost of a lockstep exchange. `tune(client)` changes two things on one connected paho client:

- reads go through `BufferedSocket`, which takes whatever the kernel has (up to 64 KiB) in one
  `recv` and serves paho's small reads from that buffer. It reports the buffered bytes through
  `pending()`, the hook aiomqtt already uses for TLS sockets, so aiomqtt's reader keeps calling
  `loop_read` until the buffer is empty (no byte is left behind waiting for the socket to become
  readable again);
- before every `loop_write`, the packets queued at the head of paho's output queue are joined
  into one buffer, sent with one `send` (paho still handles partial writes). Only packets whose
  completion paho does not act on are joined: QoS 0 PUBLISH (whose `on_publish` fires when it is
  written) and DISCONNECT stop the run and are written as before;
- an MQTT 3.1.1 PUBACK (one per QoS 1 message each way) is handled without paho's decoding into
  reason-code and properties objects, which 3.1.1 does not have (`_lean_puback`).

All of this relies on paho 2.x internals (`_sock`, `_out_packet`, `_handle_pubackcomp` …);
`tune` checks that they look as expected and otherwise leaves the client alone (correct, only
slower). `tests/mqtt/test_paho_io.py` pins the behaviour.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
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


def _coalesce(out: collections.deque[Any]) -> None:
    """Join the run of packets at the head of `out` that need no action once written into one."""
    if len(out) < 2:
        return
    run: list[Any] = []
    while out:
        packet = out[0]
        command = packet["command"] & 0xF0
        if command == _DISCONNECT or (command == _PUBLISH and packet["qos"] == 0):
            break
        run.append(out.popleft())
    if len(run) < 2:
        out.extendleft(reversed(run))
        return
    data = b"".join(p["packet"] if p["pos"] == 0 else memoryview(p["packet"])[p["pos"] :] for p in run)
    # To paho a PUBACK-like packet: written byte by byte as usual, nothing done when complete.
    out.appendleft(
        {
            "command": _PUBACK,
            "mid": 0,
            "qos": 0,
            "pos": 0,
            "to_process": len(data),
            "packet": data,
            "info": None,
        }
    )


def tune(client: mqtt.Client) -> bool:
    """Buffer reads and join writes of a connected paho `client`; True if both are in place."""
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
        _coalesce(client._out_packet)
        return write()

    loop_write.coalescing = True  # type: ignore[attr-defined]
    client.loop_write = loop_write  # type: ignore[method-assign]
    _lean_puback(client)
    return True


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
    success = ReasonCode(PacketTypes.PUBACK)
    no_properties = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

    def handle_pubackcomp(cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = client._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:
            return handle(cmd)  # type: ignore[no-any-return]
        mid = (packet[0] << 8) | packet[1]
        with client._out_message_mutex:
            if mid in client._out_messages:
                return done(mid, success, no_properties)  # type: ignore[no-any-return]
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    client._handle_pubackcomp = handle_pubackcomp  # type: ignore[method-assign]


def raw_socket(sock: Any) -> Any:
    """The socket under a `BufferedSocket`, else `sock` itself."""
    return sock.raw if isinstance(sock, BufferedSocket) else sock
