"""Signed messages: a middleware that signs what a client sends and verifies what it receives.

Every message of a secured run carries, in its envelope's `hmac` field, `"{epoch}:{tag}"`:

- `epoch`: the signer's session, microseconds since the Unix epoch when its signer was made (a
  restarted sender has a larger one);
- `tag`: 64 hex digits of HMAC-SHA256 or 128 hex digits of an Ed25519 signature over

      b"ucosim-sig-v1\\n" + topic (UTF-8) + b"\\n" + payload

  where `payload` is the message's bytes exactly as published, except that the tag's hex digits are
  replaced by as many ASCII `0` (so a sender writes its JSON with `"hmac":"{epoch}:000…0"`, signs
  those bytes, and writes the tag's hex digits over the zeros; docs/security.md).

Which key: messages on kinds addressed to one recipient (`meas`, `forecast`, `batch/meas`,
`batch/forecast`) carry an HMAC with the recipient's key (the topic's agent); plans, and messages
of a broadcaster (the bridge, the coordinator, the planner) on every other kind, carry the
broadcaster's Ed25519 signature,
which no agent (nor the bridge or the coordinator, which hold every HMAC key) can forge; a plan
from anyone but a broadcaster is rejected; every other message carries an HMAC with its sender's
key. A receiver rejects (and counts by reason)
unsigned messages, unknown senders or keys, bad tags, senders that were revoked, and replays: per
sender and epoch a window of sequence numbers (`seq`) already seen; an epoch older than the newest
seen from that sender is a replay too.

`SigningMiddleware` is one client's (a bridge's, an agent's or an agent host's) signer and verifier;
place it last in the chain, so that it signs what goes on the wire and verifies what arrived before
any other middleware sees it. A message that several agents of one host receive (the clock) is
verified once.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controllers.messages import (
    ADDRESSED_KINDS,
    AdmmXBatchMessage,
    Codec,
    Message,
    SetpointBatchMessage,
    encode,
    received_payload,
    remember_signed,
)
from controllers.middleware import Middleware
from controllers.topics import Kind

__all__ = [
    "BROADCAST_ONLY",
    "DOMAIN",
    "Keyring",
    "RejectReason",
    "Rejection",
    "SigningMiddleware",
    "signed_bytes",
]

DOMAIN: Final = b"ucosim-sig-v1\n"
HostBatch = SetpointBatchMessage | AdmmXBatchMessage  # a host's messages for several agents
_Bytes = bytes | memoryview  # a piece of the signed bytes: hashed where it lies, never joined for an HMAC
HMAC_HEX: Final = 64
ED25519_HEX: Final = 128
REPLAY_WINDOW: Final = 4096  # sequence numbers remembered per sender and epoch
MAX_REJECTIONS: Final = 10_000  # rejection records kept (the counts go on)
MAX_CACHED_TOPICS: Final = 1 << 16
_ZEROS: Final = {HMAC_HEX: b"0" * HMAC_HEX, ED25519_HEX: b"0" * ED25519_HEX}
RETAINED_KINDS: Final = frozenset({Kind.PLAN.value})  # redelivered by the broker on every subscribe
_WINDOW_MASK: Final = (1 << REPLAY_WINDOW) - 1
# kinds only a broadcaster sends (the planner's retained plans): its Ed25519 signature, never an HMAC
BROADCAST_ONLY: Final = frozenset({Kind.PLAN.value})
_ADDRESSED: Final = frozenset(kind.value for kind in ADDRESSED_KINDS) - BROADCAST_ONLY
_NULL_AUTH: Final = b'"hmac":null'  # an unsigned message's field in its JSON


class RejectReason(StrEnum):
    """Why a received message was rejected."""

    UNSIGNED = "unsigned"
    UNKNOWN_SENDER = "unknown_sender"  # no key for the sender (or the recipient of an addressed kind)
    BAD_SIGNATURE = "bad_signature"
    WRONG_ALGORITHM = "wrong_algorithm"  # an HMAC where a broadcaster's signature is due, or the reverse
    REPLAY = "replay"
    REVOKED = "revoked"
    DUPLICATE = "duplicate_retained"  # a retained plan delivered again: dropped, not an attack


@dataclass(frozen=True)
class Rejection:
    """One rejected message: who rejected it (`owner`), where it came from, why."""

    owner: str
    topic: str
    kind: str
    sender: str
    tick: int
    seq: int
    reason: RejectReason
    received_unix_s: float


@dataclass(frozen=True)
class Keyring:
    """The keys one client holds.

    `hmac_keys`: principal → 32-byte key (an agent's own, a host's agents' and its own; the bridge
    and the coordinator hold every agent's). `signing_keys`: the broadcasters this client signs
    for. `public_keys`: every broadcaster's public key (`broadcasters` are their names)."""

    hmac_keys: Mapping[str, bytes] = field(default_factory=dict)
    signing_keys: Mapping[str, Ed25519PrivateKey] = field(default_factory=dict)
    public_keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    @property
    def broadcasters(self) -> frozenset[str]:
        return frozenset(self.public_keys) | frozenset(self.signing_keys)

    def to_json(self) -> dict[str, dict[str, str]]:
        """Hex strings (for a child process's standard input; never for files, argv or logs)."""
        from cryptography.hazmat.primitives import serialization as ser

        raw_private = ser.PrivateFormat.Raw
        return {
            "hmac": {name: key.hex() for name, key in self.hmac_keys.items()},
            "ed25519_private": {
                name: key.private_bytes(ser.Encoding.Raw, raw_private, ser.NoEncryption()).hex()
                for name, key in self.signing_keys.items()
            },
            "ed25519_public": {
                name: key.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw).hex()
                for name, key in self.public_keys.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, str]]) -> Keyring:
        return cls(
            hmac_keys={n: bytes.fromhex(k) for n, k in data.get("hmac", {}).items()},
            signing_keys={
                n: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(k))
                for n, k in data.get("ed25519_private", {}).items()
            },
            public_keys={
                n: Ed25519PublicKey.from_public_bytes(bytes.fromhex(k))
                for n, k in data.get("ed25519_public", {}).items()
            },
        )

    def restricted(self, names: Iterable[str]) -> Keyring:
        """The HMAC keys of `names` only, the signing keys of those of `names` that have one, every
        public key: what a host of the agents `names` needs."""
        wanted = set(names)
        return Keyring(
            {n: k for n, k in self.hmac_keys.items() if n in wanted},
            {n: k for n, k in self.signing_keys.items() if n in wanted},
            dict(self.public_keys),
        )


_IPAD: Final = bytes(x ^ 0x36 for x in range(256))
_OPAD: Final = bytes(x ^ 0x5C for x in range(256))


class _Mac:
    """HMAC-SHA256 with one key (RFC 2104), its padded key blocks hashed once: a tag then costs two
    copies of a hash state (~0.8 µs for a small message against ~1.7 µs for `hmac.new`)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def hexdigest(self, data: bytes) -> str:
        return self.hexdigest_of((data,))

    def hexdigest_of(self, parts: Iterable[_Bytes]) -> str:
        """The tag of the concatenation of `parts`, hashed where they lie (no joined copy)."""
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def signed_bytes(topic: str, payload: bytes) -> bytes:
    """What the tag covers (the payload with the tag's digits already replaced by zeros)."""
    return DOMAIN + topic.encode() + b"\n" + payload


class _Window:
    """Sequence numbers seen from one sender in one epoch: the highest, and a bit per number below it."""

    __slots__ = ("epoch", "highest", "seen")

    def __init__(self, epoch: int, seq: int) -> None:
        self.epoch = epoch
        self.highest = seq
        self.seen = 1  # bit i: highest - i was seen

    def take(self, seq: int) -> bool:
        """Record `seq`; False if it was seen or is too old to tell."""
        if seq > self.highest:
            shift = seq - self.highest
            self.seen = ((self.seen << shift) | 1) & _WINDOW_MASK if shift < REPLAY_WINDOW else 1
            self.highest = seq
            return True
        back = self.highest - seq
        if back >= REPLAY_WINDOW or self.seen >> back & 1:
            return False
        self.seen |= 1 << back
        return True


class SigningMiddleware(Middleware):
    """Signs every outgoing message with the key due for it and verifies every incoming one.

    `codec`: the client's (the tag covers the encoded bytes). `clock`: for the epoch. Rejected
    messages are dropped (the client counts them as `middleware`), counted here by reason
    (`counts`) and recorded (`rejections()`)."""

    def __init__(self, keyring: Keyring, *, codec: Codec | str = Codec.JSON,
                 epoch: int | None = None, revoked: Iterable[str] = ()) -> None:
        self.keyring = keyring
        self.codec = Codec(codec)
        self.epoch = epoch if epoch is not None else time.time_ns() // 1000
        self._opening = f'"hmac":"{self.epoch}:'.encode()
        self._broadcasters = keyring.broadcasters
        self._macs = {name: _Mac(key) for name, key in keyring.hmac_keys.items()}
        self._prefixes: dict[str, bytes] = {}
        self._revoked: set[str] = set(revoked)
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()  # rejections() and revoke() from other threads
        self._counts: Counter[str] = Counter()
        self._rejections: list[Rejection] = []
        self._last_passed: Message | None = None
        self.accepted = 0
        self.signed = 0

    # ---------------------------------------------------------------- keys

    def _mac_for(self, sender: str, kind: str, topic: str) -> _Mac | None:
        """The HMAC key of a message: its recipient's for an addressed kind (and for a plan that a
        non-broadcaster signs, which every receiver rejects as `wrong_algorithm`), else its sender's."""
        if kind in _ADDRESSED or kind in BROADCAST_ONLY:
            return self._macs.get(topic.rpartition("/")[2])  # the recipient
        return self._macs.get(sender)

    def _prefix(self, topic: str) -> bytes:
        """`signed_bytes`' bytes before the payload, kept per topic."""
        prefix = self._prefixes.get(topic)
        if prefix is None:
            if len(self._prefixes) >= MAX_CACHED_TOPICS:
                self._prefixes.clear()
            prefix = self._prefixes[topic] = DOMAIN + topic.encode() + b"\n"
        return prefix

    # ---------------------------------------------------------------- sending

    def outgoing(self, owner: str, topic: str, message: Message) -> Message:
        sender, kind = message.sender, message.kind
        private = None if kind in _ADDRESSED else self.keyring.signing_keys.get(sender)
        mac = None if private is not None else self._mac_for(sender, kind, topic)
        if private is None and mac is None:
            raise KeyError(f"no key to sign {kind!r} messages of {sender!r} on {topic}")
        digits = ED25519_HEX if private is not None else HMAC_HEX
        zeros = _ZEROS[digits]
        encoded = encode(message, self.codec) if self.codec is Codec.JSON and message.hmac is None else b""
        # the message's own JSON with `"hmac":null` (the first such bytes: only names and numbers
        # come before it) spliced: one serialisation, no model copied for it, and the payload's
        # bytes hashed where they lie (the tag is computed over pieces, the payload joined once)
        at = encoded.find(_NULL_AUTH)
        if at >= 0:
            view = memoryview(encoded)
            head, tail = view[:at], view[at + len(_NULL_AUTH):]
            pieces: tuple[_Bytes, ...] = (self._prefix(topic), head, self._opening, zeros, b'"', tail)
        else:  # MessagePack, or a message that carries an `hmac` already: the slower way
            placeholder = f"{self.epoch}:{'0' * digits}"
            unsigned = encode(message.model_copy(update={"hmac": placeholder}), self.codec)
            pieces = (self._prefix(topic), unsigned)
        tag = private.sign(b"".join(pieces)).hex() if private is not None else mac.hexdigest_of(pieces)  # type: ignore[union-attr]
        auth = f"{self.epoch}:{tag}"
        signed = message.__copy__()  # model_copy(update=...) without its checks: our own copy, not yet seen
        signed.__dict__["hmac"] = auth
        signed.__pydantic_fields_set__.add("hmac")
        if at >= 0:
            payload = b"".join((head, self._opening, tag.encode(), b'"', tail))
        else:
            payload = unsigned.replace(f"{self.epoch}:{'0' * digits}".encode(), auth.encode(), 1)
        # the same bytes the client's encode would make: spare it that
        remember_signed(signed, self.codec, payload)
        self.signed += 1
        return signed

    # ---------------------------------------------------------------- receiving

    def incoming(self, owner: str, topic: str, message: Message) -> Message | None:
        if message is self._last_passed:  # the same message for another agent of this host
            return message
        reason = self._check(topic, message)
        if reason is not None:
            self._reject(owner, topic, message, reason)
            return None
        if self._revoked and isinstance(message, SetpointBatchMessage | AdmmXBatchMessage):
            kept = self._without_revoked(owner, topic, message)
            if kept is None:
                return None
            message = kept
        self._last_passed = message
        self.accepted += 1
        return message

    def _check(self, topic: str, message: Message) -> RejectReason | None:
        auth = message.hmac
        if auth is None:
            return RejectReason.UNSIGNED
        sender, kind = message.sender, message.kind
        if sender in self._revoked:
            return RejectReason.REVOKED
        epoch_text, _, tag = auth.partition(":")
        if not epoch_text.isdigit() or len(tag) not in _ZEROS:
            return RejectReason.BAD_SIGNATURE
        public = None if kind in _ADDRESSED else self.keyring.public_keys.get(sender)
        broadcast = kind not in _ADDRESSED and (sender in self._broadcasters or kind in BROADCAST_ONLY)
        if public is None and broadcast:
            return RejectReason.UNKNOWN_SENDER  # a broadcaster's key we lack, or a plan from an agent
        expected_digits = ED25519_HEX if public is not None else HMAC_HEX
        if len(tag) != expected_digits:
            return RejectReason.WRONG_ALGORITHM
        mac = None if public is not None else self._mac_for(sender, kind, topic)
        if public is None and mac is None:
            return RejectReason.UNKNOWN_SENDER
        payload = received_payload(message)
        if payload is None:  # not decoded here (a message built in process): its canonical bytes
            payload = encode(message, self.codec)
        tag_bytes = tag.encode()
        at, width = payload.find(tag_bytes), len(tag_bytes)
        if at < 0 or payload.find(tag_bytes, at + width) >= 0:  # the tag's digits exactly once
            return RejectReason.BAD_SIGNATURE
        view = memoryview(payload)
        pieces = (self._prefix(topic), view[:at], _ZEROS[width], view[at + width:])  # hashed where they lie
        if public is not None:
            try:
                public.verify(bytes.fromhex(tag), b"".join(pieces))
            except (InvalidSignature, ValueError):
                return RejectReason.BAD_SIGNATURE
        elif not _hmac.compare_digest(mac.hexdigest_of(pieces), tag):  # type: ignore[union-attr]
            return RejectReason.BAD_SIGNATURE
        return self._fresh(sender, int(epoch_text), message.seq, kind)

    def _fresh(self, sender: str, epoch: int, seq: int, kind: str) -> RejectReason | None:
        """None if (sender, epoch, seq) is new; REPLAY otherwise (a retained plan seen again is
        dropped without counting as a replay: the broker redelivers it on every subscribe)."""
        window = self._windows.get(sender)
        if window is None or epoch > window.epoch:
            self._windows[sender] = _Window(epoch, seq)
            return None
        if epoch < window.epoch or not window.take(seq):
            return RejectReason.DUPLICATE if kind in RETAINED_KINDS else RejectReason.REPLAY
        return None

    def _without_revoked(self, owner: str, topic: str, batch: HostBatch) -> HostBatch | None:
        """A host's batch (setpoints, round updates) without the entries of revoked agents (each
        counted as a rejection); None if nothing is left."""
        agents = batch.body.agent_ids() if isinstance(batch, AdmmXBatchMessage) else list(batch.body.values)
        revoked = [agent for agent in agents if agent in self._revoked]
        if not revoked:
            return batch
        for _ in revoked:
            self._reject(owner, topic, batch, RejectReason.REVOKED)
        if len(revoked) == len(agents):
            return None
        if isinstance(batch, AdmmXBatchMessage):
            body: Any = batch.body.without(set(revoked))
        else:
            body = batch.body.model_copy(update={"values": {a: v for a, v in batch.body.values.items()
                                                            if a not in self._revoked}})
        return batch.model_copy(update={"body": body})

    def _reject(self, owner: str, topic: str, message: Message, reason: RejectReason) -> None:
        if reason is RejectReason.DUPLICATE:
            with self._lock:
                self._counts["duplicate_retained"] += 1
            return
        record = Rejection(owner, topic, message.kind, message.sender, message.tick, message.seq,
                           reason, time.time())
        with self._lock:
            self._counts[record.reason.value] += 1
            if len(self._rejections) < MAX_REJECTIONS:
                self._rejections.append(record)

    # ---------------------------------------------------------------- control and reports

    def revoke(self, principal: str) -> None:
        """From now on reject every message of `principal` (and its entries in a host's batches)."""
        with self._lock:
            self._revoked.add(principal)

    @property
    def counts(self) -> dict[str, int]:
        """Rejections by reason (and `duplicate_retained`: retained plans seen again, not attacks)."""
        with self._lock:
            return dict(self._counts)

    def rejections(self) -> list[Rejection]:
        with self._lock:
            return list(self._rejections)

