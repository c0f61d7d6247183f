"""One MQTT connection that survives broker restarts: an `MqttSession` (controllers.runtime.mqtt_client)
inside a single reconnect loop with exponential backoff.

- TCP_NODELAY on every client socket and TCP_QUICKACK re-armed after every read (see
  `controllers.runtime.mqtt_client`): without the first a QoS 1 round trip on loopback takes tens
  of ms, without the second so does every step on a broker that does not set TCP_NODELAY itself.
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
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from controllers.runtime.broker_url import BrokerUrl, parse_broker_url
from controllers.runtime.mqtt_client import InboundMessage, MqttError, MqttSession, Will

__all__ = [
    "Backoff", "ConnectHook", "ConnectionStats", "DisconnectHook", "InboundMessage", "MessageHandler",
    "MqttConnection", "MqttError", "Will", "WillFactory", "unique_client_id",
]

log = logging.getLogger(__name__)

SUBSCRIBE_BATCH = 100
HOLD_LOOP_MAX_S = 0.05  # the longest the message loop runs handlers back to back without a turn

MessageHandler = Callable[[InboundMessage], Awaitable[None]]
ConnectHook = Callable[[], Awaitable[None]]
DisconnectHook = Callable[[], None]
WillFactory = Callable[[], Will | None]


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
        self._client: MqttSession | None = None
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
            except MqttError as exc:
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
        queue: asyncio.Queue[InboundMessage] = asyncio.Queue()
        client = await MqttSession.open(
            self.url.host, self.url.port, client_id=self.client_id, on_message=queue.put_nowait,
            keepalive_s=self._keepalive_s, timeout_s=self.timeout_s, username=self.url.username,
            password=self.url.password, tls=self.url.ssl_context(),
            will=self._will() if self._will is not None else None,
        )
        self._client = client
        try:
            await self._serve(client, queue)
        finally:
            was_connected = self.connected.is_set()
            self.connected.clear()
            self.disconnected.set()
            self._client = None
            if self._stopping.is_set():
                await client.disconnect()
            else:
                client.abort()
            if was_connected and self._on_disconnect is not None:
                try:
                    self._on_disconnect()
                except Exception:
                    self._handler_errors += 1
                    log.exception("%s: on_disconnect hook failed", self.client_id)

    async def _serve(self, client: MqttSession, queue: asyncio.Queue[InboundMessage]) -> None:
        pending = list(self._subscriptions.items())
        for first in range(0, len(pending), SUBSCRIBE_BATCH):  # many filters per SUBSCRIBE packet
            await client.subscribe(pending[first:first + SUBSCRIBE_BATCH], self.timeout_s)
        self._connects += 1
        self.disconnected.clear()
        self.connected.set()
        reader = asyncio.create_task(self._read(queue), name=f"{self.client_id}-reader")
        stopper = asyncio.create_task(self._stopping.wait(), name=f"{self.client_id}-stopper")
        try:
            if self._on_connect is not None:
                try:
                    await self._on_connect()
                except Exception:
                    self._handler_errors += 1
                    log.exception("%s: on_connect hook failed", self.client_id)
            waiters: set[asyncio.Future[Any]] = {reader, stopper, client.closed}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, stopper):
                task.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)
        if not self._stopping.is_set():
            cause = client.closed.result() if client.closed.done() else None
            raise MqttError(str(cause) if cause is not None else "session ended") from cause

    async def _read(self, queue: asyncio.Queue[InboundMessage]) -> None:
        """Hand the queued messages to the handler one by one. A handler that never awaits anything
        that suspends would hold the event loop for as long as messages keep coming (a host taking a
        step's thousands of forecasts): the keepalive pings, the acknowledgements and a host's
        round batches then wait. So the loop is given a turn at least every `HOLD_LOOP_MAX_S`."""
        turned = time.perf_counter()
        while True:
            if queue.empty():
                message = await queue.get()
                turned = time.perf_counter()
            else:
                message = queue.get_nowait()
                if time.perf_counter() - turned >= HOLD_LOOP_MAX_S:
                    await asyncio.sleep(0)
                    turned = time.perf_counter()
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
            with contextlib.suppress(MqttError):  # restored on the next connect
                await client.subscribe([(topic_filter, level)], self.timeout_s)

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

    async def _current_client(self, wait_s: float) -> MqttSession | None:
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
        client = await self._current_client(wait)
        if client is None:
            self._publish_failures += 1
            return False
        try:
            level = self.qos if qos is None else qos
            await asyncio.wait_for(client.publish(topic, payload, level, retain), wait)
        except (MqttError, TimeoutError):
            self._publish_failures += 1
            return False
        return True

    async def publish_many(self, items: Sequence[tuple[str, bytes]], *, qos: int | None = None,
                           retain: bool = False, wait_s: float | None = None) -> int:
        """Send `items` (topic, payload) in order, in one write, without waiting for acknowledgements;
        the number sent (all of them unless the connection is lost or not back within `wait_s`).

        QoS ≥ 1 messages are still acknowledged by the broker; a connection lost before that loses
        them (clean session)."""
        if not items:
            return 0
        client = self._client
        if client is None or not self.connected.is_set():
            client = await self._current_client(self.timeout_s if wait_s is None else wait_s)
        if client is None:
            self._publish_failures += len(items)
            return 0
        try:
            return client.publish_many(items, self.qos if qos is None else qos, retain)
        except MqttError:
            self._publish_failures += len(items)
            return 0

    # ---------------------------------------------------------------- introspection

    def socket_nodelay(self) -> bool | None:
        """Whether TCP_NODELAY is on for the current socket; None when not connected."""
        client = self._client
        transport = None if client is None else client.transport
        sock = None if transport is None else transport.get_extra_info("socket")
        if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
