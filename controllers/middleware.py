"""The message path's middleware: one place where every message a client sends or receives passes.

A `Middleware` sees each message on its way out (before it is encoded) and on its way in (after it
is decoded and checked) and may pass it on, replace it or drop it. The platform's clients — the
bridge (`cosim.bridge_core.BridgeCore`), the agents (`controllers.runtime.AgentRunner`) and the
agent hosts (`controllers.runtime.AgentHost`) — each hold a `MessagePath`: their middleware chain
and their codec. Outgoing messages pass the chain in order, incoming ones in reverse order (the
first middleware is the one nearest to the application).

Hooks see the message's run, tick, sender and sequence number, so a middleware that acts on
simulation ticks (an attack that starts at tick 12, a detector's window) behaves the same in every
lockstep run. Built here: `RecordingMiddleware` (every message that passes, as rows). Signing and
verification, attack injection and anomaly detection are middleware too.

A malformed payload never reaches the chain: the codec counts and drops it first
(`controllers.messages.decode`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from controllers.messages import Codec, DropCounter, DropReason, Message, encode

__all__ = ["Direction", "MessagePath", "Middleware", "Passage", "PassedMessage", "RecordingMiddleware"]

Direction = Literal["out", "in"]


class Passage(NamedTuple):
    """A message a client handled, as `Middleware.observed` sees it (and the bridge records it):
    direction, topic, kind, the topic's agent, the sender, tick and sequence number, payload size,
    the sender's and the receiver's timestamps (Unix seconds; the latter None when sent), the round
    trip of a setpoint (s), and why it was dropped (None when it was not)."""

    direction: Direction
    topic: str
    kind: str
    agent: str
    sender: str
    tick: int | None
    seq: int | None
    size_bytes: int
    sent_unix_s: float | None
    received_unix_s: float | None = None
    rtt_s: float | None = None
    dropped: str | None = None


def _overrides(middleware: Middleware, hook: str) -> bool:
    return getattr(type(middleware), hook) is not getattr(Middleware, hook)


class Middleware:
    """Sees every message of one client. Override `outgoing` and/or `incoming`; return the message
    (the same or another) to pass it on, or None to drop it. `owner` is the client's id (the
    bridge's, an agent's or an agent host's). The hooks run on the client's event loop: keep them
    quick and never block."""

    def outgoing(self, owner: str, topic: str, message: Message) -> Message | None:
        return message

    def incoming(self, owner: str, topic: str, message: Message) -> Message | None:
        return message

    def observed(self, owner: str, passage: Passage, rtt_sample: bool) -> None:
        """Sees each message after the client has handled it: sent (encoded, on its way) or received
        (accepted, or dropped: `passage.dropped` says why, also for payloads that never decoded,
        which the other hooks never see), with its size, timings and, for a setpoint, its round
        trip (`rtt_sample`: whether that round trip is one agent's, not a batch's). A client that
        reports its traffic (the bridge) calls it; nothing to return."""


class MessagePath:
    """One client's middleware chain and codec."""

    def __init__(
        self, owner: str, codec: Codec | str = Codec.JSON, middleware: Sequence[Middleware] = ()
    ) -> None:
        self.owner = owner
        self.codec = Codec(codec)
        self.middleware = tuple(middleware)
        # per hook, only the middleware that has it: a chain of observers costs encode/accept nothing
        self._outward = tuple(m for m in self.middleware if _overrides(m, "outgoing"))
        self._inward = tuple(m for m in reversed(self.middleware) if _overrides(m, "incoming"))
        self._observers = tuple(m for m in self.middleware if _overrides(m, "observed"))
        self.dropped_out = 0  # messages the chain dropped on their way out

    def encode(self, topic: str, message: Message) -> bytes | None:
        """`message` through the chain, then encoded; None if a middleware dropped it."""
        for middleware in self._outward:
            passed = middleware.outgoing(self.owner, topic, message)
            if passed is None:
                self.dropped_out += 1
                return None
            message = passed
        return encode(message, self.codec)

    def accept(self, topic: str, message: Message, dropped: DropCounter | None = None) -> Message | None:
        """A decoded `message` through the chain, inward; None (counted as `middleware`) if dropped."""
        for middleware in self._inward:
            passed = middleware.incoming(self.owner, topic, message)
            if passed is None:
                if dropped is not None:
                    dropped.count(DropReason.MIDDLEWARE)
                return None
            message = passed
        return message

    def observe(self, passage: Passage, rtt_sample: bool = True) -> None:
        """Tell every middleware that watches traffic (`observed`) about a message the client handled."""
        for middleware in self._observers:
            middleware.observed(self.owner, passage, rtt_sample)

    def __bool__(self) -> bool:
        """Whether any middleware passes, replaces or drops incoming messages (`accept` to call)."""
        return bool(self._inward)


@dataclass(frozen=True)
class PassedMessage:
    """A message as a middleware saw it pass (`ts_s`: wall time at the hook, Unix seconds)."""

    direction: Direction
    owner: str
    topic: str
    kind: str
    sender: str
    tick: int
    seq: int
    ts_s: float


class RecordingMiddleware(Middleware):
    """Records every message that passes (it changes nothing); `drain()` hands the records over.

    Place it last in a chain to record what goes on the wire and what the application gets after
    the other middleware; first, to record what the application sent and what arrived."""

    def __init__(self) -> None:
        self._records: list[PassedMessage] = []
        self._lock = threading.Lock()  # hooks run on the client's loop, drain() on any thread

    def _add(self, direction: Direction, owner: str, topic: str, message: Message) -> None:
        record = PassedMessage(
            direction, owner, topic, message.kind, message.sender, message.tick, message.seq, time.time()
        )
        with self._lock:
            self._records.append(record)

    def outgoing(self, owner: str, topic: str, message: Message) -> Message | None:
        self._add("out", owner, topic, message)
        return message

    def incoming(self, owner: str, topic: str, message: Message) -> Message | None:
        self._add("in", owner, topic, message)
        return message

    def drain(self) -> list[PassedMessage]:
        with self._lock:
            records, self._records = self._records, []
        return records
