"""One MQTT connection that survives broker restarts: `async with aiomqtt.Client(...)` inside a
single reconnect loop with exponential backoff.

- TCP_NODELAY is set on every client socket (aiomqtt's `socket_options`, applied to paho's
  socket right after `connect`); without it a QoS 1 round trip on loopback takes tens of ms.
- Sessions are clean: after every (re)connect the connection subscribes again to every filter
  it holds, then calls `on_connect` (e.g. to announce the agent as online); when a connected
  session ends, it calls `on_disconnect` (nothing was received in between: state learnt from
  the broker, such as who is online, is stale from then on).
- `stop()` ends the loop; the client disconnects gracefully (no last will is sent).
- Messages are handed one at a time, in arrival order, to an async `handler`; an exception in
  the handler is logged and counted, never ends the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt

from controllers.runtime import paho_io
from controllers.runtime.broker_url import BrokerUrl, parse_broker_url

log = logging.getLogger(__name__)

NODELAY_OPTION = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
SUBSCRIBE_BATCH = 100

MessageHandler = Callable[[aiomqtt.Message], Awaitable[None]]
ConnectHook = Callable[[], Awaitable[None]]
DisconnectHook = Callable[[], None]
WillFactory = Callable[[], aiomqtt.Will | None]


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: initial_s, ×factor per failed attempt, at most max_s."""

    initial_s: float = 0.02
    max_s: float = 2.0
    factor: float = 2.0

    def delay_s(self, attempt: int) -> float:
        return float(min(self.max_s, self.initial_s * self.factor ** max(attempt, 0)))


@dataclass(frozen=True)
class ConnectionStats:
    """Counters of one connection since it was created."""

    connects: int
    connection_failures: int
    publish_failures: int
    handler_errors: int


def unique_client_id(*parts: str) -> str:
    """A client id from `parts` plus a random suffix, so two processes never take over each other's
    session (two clients with one id make the broker drop them in turn, forever)."""
    return "-".join([*parts, uuid.uuid4().hex[:8]])


def _fail_session(client: aiomqtt.Client, exc: Exception) -> None:
    """End `client`'s session with `exc`, as aiomqtt does when paho fails to read or write."""
    disconnected = client._disconnected
    if not disconnected.done():
        disconnected.set_exception(exc)


def _queue_with_cached_topics(client: aiomqtt.Client, max_topics: int = 1 << 16) -> None:
    """Queue received messages as aiomqtt does, with one `aiomqtt.Topic` per topic string instead of
    one per message (building and validating it took most of the 5 µs per message; a lockstep run
    receives the same few topics at every step)."""
    queue: asyncio.Queue[aiomqtt.Message] | None = getattr(client, "_queue", None)
    if not isinstance(queue, asyncio.Queue):
        return
    topics: dict[bytes, aiomqtt.Topic] = {}
    put = queue.put_nowait

    def on_message(_paho: Any, _userdata: Any, message: Any) -> None:
        raw_topic = message._topic
        topic = topics.get(raw_topic)
        if topic is None:
            if len(topics) >= max_topics:
                topics.clear()
            topic = topics[raw_topic] = aiomqtt.Topic(message.topic)
        try:
            put(aiomqtt.Message(topic, message.payload, message.qos, message.retain, message.mid,
                                message.properties))
        except asyncio.QueueFull:
            log.warning("Message queue is full. Discarding message.")

    client._client.on_message = on_message


def _session_end(client: aiomqtt.Client) -> tuple[asyncio.Future[None], ...]:
    """aiomqtt's future that completes when the session ends (as its message iterator watches it)."""
    ended = getattr(client, "_disconnected", None)
    return (ended,) if isinstance(ended, asyncio.Future) else ()


def _acknowledge_without_raising(client: aiomqtt.Client) -> None:
    """aiomqtt's `on_publish`, without raising and catching a KeyError for every acknowledged
    message that nobody awaits (all of `publish_many`'s)."""
    pending: dict[int, asyncio.Event] | None = getattr(client, "_pending_publishes", None)
    if not isinstance(pending, dict):
        return

    def on_publish(_paho: Any, _userdata: Any, mid: int, _reason: Any, _properties: Any) -> None:
        event = pending.pop(mid, None)
        if event is not None:
            event.set()

    client._client.on_publish = on_publish


class MqttConnection:
    """A resilient MQTT client. Use `run()` as a task, `stop()` to end it."""

    def __init__(
        self,
        url: BrokerUrl | str,
        *,
        client_id: str,
        handler: MessageHandler,
        subscriptions: Iterable[str] = (),
        qos: int = 1,
        will: WillFactory | None = None,
        on_connect: ConnectHook | None = None,
        on_disconnect: DisconnectHook | None = None,
        backoff: Backoff | None = None,
        keepalive_s: int = 30,
        timeout_s: float = 5.0,
        max_inflight: int = 0,
    ) -> None:
        self.url = url if isinstance(url, BrokerUrl) else parse_broker_url(url)
        self.client_id = client_id
        self.qos = qos
        self.timeout_s = timeout_s
        self._handler = handler
        self._subscriptions: dict[str, int] = {f: qos for f in subscriptions}
        self._will = will
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._backoff = backoff or Backoff()
        self._keepalive_s = keepalive_s
        self._max_inflight = max_inflight
        self._client: aiomqtt.Client | None = None
        self._session_lost: asyncio.Future[None] | None = None
        self._stopping = asyncio.Event()
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()  # set whenever not connected
        self.disconnected.set()
        self._connects = 0
        self._connection_failures = 0
        self._publish_failures = 0
        self._handler_errors = 0

    # ---------------------------------------------------------------- lifecycle

    @property
    def stats(self) -> ConnectionStats:
        return ConnectionStats(self._connects, self._connection_failures, self._publish_failures,
                               self._handler_errors)

    def stop(self) -> None:
        """Ask the loop to end: disconnect gracefully and return from `run()`."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect, subscribe, dispatch messages; reconnect with backoff until `stop()`."""
        attempt = 0
        while not self._stopping.is_set():
            connects_before = self._connects
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                if self._connects > connects_before:
                    attempt = 0
                    log.warning("%s: connection to %s lost (%s); reconnecting", self.client_id, self.url, exc)
                else:
                    self._connection_failures += 1
                    level = logging.WARNING if self._connection_failures % 10 == 1 else logging.DEBUG
                    log.log(level, "%s: cannot connect to %s (%s); attempt %d", self.client_id, self.url, exc,
                            self._connection_failures)
                delay_s = self._backoff.delay_s(attempt)
                attempt += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay_s)

    async def _session(self) -> None:
        will = self._will() if self._will is not None else None
        client = aiomqtt.Client(
            hostname=self.url.host, port=self.url.port, username=self.url.username,
            password=self.url.password, tls_context=self.url.ssl_context(),
            identifier=self.client_id, socket_options=[NODELAY_OPTION],
            keepalive=self._keepalive_s, timeout=self.timeout_s, will=will, clean_session=True,
            max_inflight_messages=self._max_inflight,  # 0: unlimited
        )
        client.pending_calls_threshold = 1 << 30  # large batches of QoS 1 publishes are normal here
        async with client:
            self._client = client
            self._session_lost = asyncio.get_running_loop().create_future()
            try:
                await self._serve(client)
            finally:
                was_connected = self.connected.is_set()
                self.connected.clear()
                self.disconnected.set()
                self._client = None
                if not self._session_lost.done():
                    self._session_lost.set_result(None)
                if was_connected and self._on_disconnect is not None:
                    try:
                        self._on_disconnect()
                    except Exception:
                        self._handler_errors += 1
                        log.exception("%s: on_disconnect hook failed", self.client_id)

    async def _serve(self, client: aiomqtt.Client) -> None:
        paho_io.tune(client._client, asyncio.get_running_loop(), functools.partial(_fail_session, client))
        _queue_with_cached_topics(client)
        _acknowledge_without_raising(client)
        pending = list(self._subscriptions.items())
        for first in range(0, len(pending), SUBSCRIBE_BATCH):  # many filters per SUBSCRIBE packet
            await client.subscribe(pending[first:first + SUBSCRIBE_BATCH])
        self._connects += 1
        self.disconnected.clear()
        self.connected.set()
        reader = asyncio.create_task(self._read(client), name=f"{self.client_id}-reader")
        stopper = asyncio.create_task(self._stopping.wait(), name=f"{self.client_id}-stopper")
        try:
            if self._on_connect is not None:
                try:
                    await self._on_connect()
                except Exception:
                    self._handler_errors += 1
                    log.exception("%s: on_connect hook failed", self.client_id)
            waiters: set[asyncio.Future[Any]] = {reader, stopper, *_session_end(client)}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, stopper):
                task.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)
        if not self._stopping.is_set():
            for ended in _session_end(client):
                if ended.done():
                    cause = None if ended.cancelled() else ended.exception()
                    raise aiomqtt.MqttError("Disconnected during message iteration") from cause
            if reader.cancelled():
                raise aiomqtt.MqttError("message reader cancelled")
            reader.result()  # re-raises the MqttError that ended the session
            raise aiomqtt.MqttError("message stream ended")

    async def _read(self, client: aiomqtt.Client) -> None:
        # Messages are taken from aiomqtt's queue directly (`_serve` watches for the end of the
        # session): aiomqtt's iterator creates a task and an `asyncio.wait` per message, and wakes
        # up three turns of the event loop after a message arrives. The reader then ran after the
        # writer had sent the acknowledgements of a burst, so the answers went in a second `send`.
        queue: asyncio.Queue[aiomqtt.Message] | None = getattr(client, "_queue", None)
        direct = queue is not None and bool(_session_end(client))
        messages = client.messages
        while True:
            if queue is not None and not queue.empty():
                message = queue.get_nowait()
            elif direct and queue is not None:
                message = await queue.get()
            else:
                message = await anext(messages)  # MqttError once disconnected
            try:
                await self._handler(message)
            except Exception:
                self._handler_errors += 1
                log.exception("%s: handler failed on a message on %s", self.client_id, message.topic)

    # ---------------------------------------------------------------- subscriptions

    def add_subscription(self, topic_filter: str, qos: int | None = None) -> None:
        """Subscribe on the next (re)connect (for use before `run()`; see `subscribe`)."""
        self._subscriptions[topic_filter] = self.qos if qos is None else qos

    async def subscribe(self, topic_filter: str, qos: int | None = None) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        level = self.qos if qos is None else qos
        self._subscriptions[topic_filter] = level
        client = self._client
        if client is not None and self.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):  # restored on the next connect
                await client.subscribe(topic_filter, qos=level)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return tuple(self._subscriptions)

    # ---------------------------------------------------------------- publishing

    async def wait_connected(self, timeout_s: float | None = None) -> bool:
        """True once connected, False after `timeout_s` (default: the connection's timeout)."""
        try:
            await asyncio.wait_for(self.connected.wait(), self.timeout_s if timeout_s is None else timeout_s)
        except TimeoutError:
            return False
        return True

    async def _current_client(self, wait_s: float) -> aiomqtt.Client | None:
        client = self._client
        if client is None or not self.connected.is_set():
            if not await self.wait_connected(wait_s):
                return None
            client = self._client
        return client

    async def publish(self, topic: str, payload: bytes, *, qos: int | None = None, retain: bool = False,
                      wait_s: float | None = None) -> bool:
        """Publish one message and wait until it is sent (QoS 0) or acknowledged (QoS ≥ 1).

        Waits up to `wait_s` (default: the connection's timeout) for a connection and for the
        acknowledgement; a connection lost meanwhile fails the publish at once. True on success.
        """
        wait = self.timeout_s if wait_s is None else wait_s
        client, lost = await self._current_client(wait), self._session_lost
        if client is None or lost is None:
            self._publish_failures += 1
            return False
        level = self.qos if qos is None else qos
        publishing = asyncio.ensure_future(
            client.publish(topic, payload, qos=level, retain=retain, timeout=wait))
        waiters: list[asyncio.Future[Any]] = [publishing, lost]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if not publishing.done():
            publishing.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await publishing
            self._publish_failures += 1
            return False
        if publishing.exception() is not None:
            self._publish_failures += 1
            return False
        return True

    async def publish_many(self, items: Sequence[tuple[str, bytes]], *, qos: int | None = None,
                           retain: bool = False, wait_s: float | None = None) -> int:
        """Queue `items` (topic, payload) for sending, in order, without waiting for acknowledgements;
        the number queued (all of them unless the connection is lost or not back within `wait_s`).

        For batches (a bridge step): aiomqtt tracks every outstanding publish in a way whose cost
        grows with their number, so this goes to paho's `publish` directly. QoS ≥ 1 messages are
        still acknowledged by the broker; a connection lost before that loses them (clean session).
        """
        if not items:
            return 0
        client = self._client
        if client is None or not self.connected.is_set():
            client = await self._current_client(self.timeout_s if wait_s is None else wait_s)
        if client is None:
            self._publish_failures += len(items)
            return 0
        paho = client._client  # no batch publish in aiomqtt's public API
        queued = paho_io.publish_many(paho, items, self.qos if qos is None else qos, retain)
        self._publish_failures += len(items) - queued
        return queued

    # ---------------------------------------------------------------- introspection

    def socket_nodelay(self) -> bool | None:
        """Whether TCP_NODELAY is on for the current socket; None when not connected.

        aiomqtt has no public accessor for paho's socket, hence the private attribute.
        """
        client = self._client
        if client is None:
            return None
        sock = paho_io.raw_socket(client._client.socket())
        if not isinstance(sock, socket.socket):
            return None
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
