"""MQTT 3.1.1 packets as bytes: encoding what a client sends, decoding what a broker sends.

Only what the platform's client uses (`controllers.runtime.mqtt_client`): CONNECT with clean
session, will, username and password; PUBLISH at QoS 0 and 1 both ways; PUBACK; SUBSCRIBE and
UNSUBSCRIBE; PINGREQ; DISCONNECT. The platform subscribes at QoS ≤ 1, so a broker never sends it
QoS 2 packets; one that arrives anyway is a protocol error. Packet layouts follow the OASIS MQTT
3.1.1 standard, section 3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "CONNACK",
    "PINGRESP",
    "PUBACK",
    "PUBLISH",
    "SUBACK",
    "UNSUBACK",
    "ConnackError",
    "Packet",
    "ProtocolError",
    "connect_packet",
    "disconnect_packet",
    "packet_at",
    "packet_end_at",
    "pingreq_packet",
    "puback_packet",
    "publish_at",
    "publish_packet",
    "split_packets",
    "subscribe_packet",
    "unsubscribe_packet",
]

CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBSCRIBE: Final = 8
SUBACK: Final = 9
UNSUBSCRIBE: Final = 10
UNSUBACK: Final = 11
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14

MAX_REMAINING: Final = 268_435_455  # the largest remaining length four bytes can encode
_PINGREQ: Final = bytes((PINGREQ << 4, 0))
_DISCONNECT: Final = bytes((DISCONNECT << 4, 0))
_U16: Final = struct.Struct("!H")

CONNACK_REASONS: Final = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class ProtocolError(Exception):
    """The broker sent bytes that are not a valid MQTT 3.1.1 packet for a client."""


class ConnackError(Exception):
    """The broker refused the connection (CONNACK return code ≠ 0)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"connection refused: {CONNACK_REASONS.get(code, f'return code {code}')}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded packet: its type, the flags of the fixed header and the variable part."""

    kind: int
    flags: int
    body: bytes


def _length(n: int) -> bytes:
    if n > MAX_REMAINING:
        raise ValueError(f"MQTT packet of {n} bytes is too large")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > 0xFFFF:
        raise ValueError("MQTT strings are at most 65535 bytes")
    return _U16.pack(len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _length(len(body)) + body


def connect_packet(
    client_id: str,
    *,
    keepalive_s: int,
    clean_session: bool = True,
    username: str | None = None,
    password: str | None = None,
    will: tuple[str, bytes, int, bool] | None = None,
) -> bytes:
    """CONNECT: protocol "MQTT" level 4; `will` is (topic, payload, qos, retain)."""
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _string(topic) + _string(message)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
        if password is not None:
            flags |= 0x40
            payload += _string(password)
    body = _string("MQTT") + bytes((4, flags)) + _U16.pack(keepalive_s) + payload
    return _packet(CONNECT << 4, body)


def publish_packet(topic: bytes, payload: bytes, qos: int, retain: bool, packet_id: int = 0) -> bytes:
    """PUBLISH of `payload` on `topic` (UTF-8 bytes); `packet_id` for QoS 1."""
    head = _U16.pack(len(topic)) + topic
    if qos:
        head += _U16.pack(packet_id)
    return (
        bytes(((PUBLISH << 4) | (qos << 1) | (1 if retain else 0),))
        + _length(len(head) + len(payload))
        + head
        + payload
    )


def puback_packet(packet_id: int) -> bytes:
    return bytes((PUBACK << 4, 2)) + _U16.pack(packet_id)


def subscribe_packet(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    body = _U16.pack(packet_id) + b"".join(_string(f) + bytes((qos,)) for f, qos in filters)
    return _packet((SUBSCRIBE << 4) | 0x02, body)


def unsubscribe_packet(packet_id: int, filters: list[str]) -> bytes:
    body = _U16.pack(packet_id) + b"".join(_string(f) for f in filters)
    return _packet((UNSUBSCRIBE << 4) | 0x02, body)


def pingreq_packet() -> bytes:
    return _PINGREQ


def disconnect_packet() -> bytes:
    return _DISCONNECT


def packet_end_at(view: memoryview | bytearray, pos: int, end: int) -> tuple[int, int] | None:
    """(start of its variable part, end of the packet) of the packet whose fixed header starts at
    `view[pos]`, once its remaining length is complete before `end` (the packet itself may not be);
    None before that."""
    length, shift, i = 0, 0, pos + 1
    while True:
        if i >= end:
            return None  # the remaining length is not complete yet
        byte = view[i]
        length |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return i, i + length
        shift += 7
        if shift > 21:
            raise ProtocolError("remaining length longer than four bytes")


def packet_at(view: memoryview | bytearray, pos: int, end: int) -> tuple[int, int, int] | None:
    """The packet whose fixed header starts at `view[pos]`, if it is complete before `end`: (first
    byte, start of its variable part, end of the packet); None if more bytes are needed."""
    found = packet_end_at(view, pos, end)
    if found is None or found[1] > end:
        return None
    return view[pos], found[0], found[1]


def split_packets(buffer: bytearray) -> list[Packet]:
    """Take every complete packet off the front of `buffer` (a partial one stays for later)."""
    packets: list[Packet] = []
    pos, end = 0, len(buffer)
    while (found := packet_at(buffer, pos, end)) is not None:
        first, start, stop = found
        packets.append(Packet(first >> 4, first & 0x0F, bytes(buffer[start:stop])))
        pos = stop
    del buffer[:pos]
    return packets


def publish_at(view: memoryview, flags: int, start: int, stop: int) -> tuple[str, bytes, int, bool, int]:
    """`parse_publish` of the PUBLISH packet whose variable part is `view[start:stop]`: the payload
    copied once out of `view` (no copy of the whole packet first)."""
    qos = (flags >> 1) & 0x03
    if qos > 1:
        raise ProtocolError(f"PUBLISH at QoS {qos}; the client subscribes at QoS ≤ 1")
    if stop - start < 2:
        raise ProtocolError("PUBLISH without a topic")
    pos = start + 2 + (view[start] << 8 | view[start + 1])
    if pos > stop:
        raise ProtocolError("PUBLISH topic longer than its packet")
    try:
        topic = str(view[start + 2 : pos], "utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("PUBLISH topic is not UTF-8") from exc
    packet_id = 0
    if qos:
        if stop < pos + 2:
            raise ProtocolError("QoS 1 PUBLISH without a packet identifier")
        packet_id = view[pos] << 8 | view[pos + 1]
        pos += 2
    return topic, view[pos:stop].tobytes(), qos, bool(flags & 0x01), packet_id


def parse_publish(packet: Packet) -> tuple[str, bytes, int, bool, int]:
    """(topic, payload, qos, retain, packet id) of a PUBLISH packet (packet id 0 at QoS 0)."""
    return publish_at(memoryview(packet.body), packet.flags, 0, len(packet.body))


def packet_id_of(packet: Packet) -> int:
    """The packet identifier of a PUBACK, SUBACK or UNSUBACK."""
    if len(packet.body) < 2:
        raise ProtocolError(f"packet type {packet.kind} without a packet identifier")
    (packet_id,) = _U16.unpack_from(packet.body, 0)
    return int(packet_id)
