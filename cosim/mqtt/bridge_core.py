"""The asyncio core of the lockstep MQTT bridge, without mosaik.

For each control tick `exchange` publishes every agent's measurements (one message per agent on
`meas/{agent}`, or, for the agents of an agent host the bridge is told about (`hosts`), one batch
per host on `batch/meas/{host}`, see `cosim.mqtt.bridge_batch`; forecasts likewise, on
`forecast/{agent}` or `batch/forecast/{host}`) and then one `clock` message, and
waits until every awaited agent's setpoint for that tick has arrived (alone or in its host's
batch) or the step's timeout expires. Agents that did not answer in time are
*late*: their fallback (given by the caller, e.g. the plan; else their last setpoints; else no
setpoint) is used and reported in the `ExchangeResult`. Setpoints that arrive after their tick
are recorded and dropped as stale.

In real time a step also has a wall-clock deadline (`deadline_unix_s`): waiting ends at the
deadline, and the result says whether it was missed and by how much (`lag_s`). Pacing the
steps on the wall clock is the caller's business.

Liveness across a lost connection: while the bridge is disconnected it hears nothing (a broker
restart delivers no last wills), so when its connection drops every agent's state becomes
"unknown". On reconnecting it asks every agent to announce itself (`status` = waiting), and the
next `exchange` first waits, at most one step timeout, until every agent that has been online
during the run has announced itself again (they answer the request, or announce on their own
reconnect). Their states from before are no guide: a stopping broker may deliver the last wills
of agents that are about to reconnect, and it delivers none of an agent that dies while it is down.

`cosim.bridge_sync.SyncBridge` runs the core on an event loop in a background thread, for
callers that are synchronous (a mosaik simulator): `exchange(tick, measurements) -> ExchangeResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from controllers.messages import (
    PACKED_FLOAT_BYTES,
    Codec,
    DecodeError,
    DropCounter,
    DropReason,
    Message,
    SetpointBatchMessage,
    SetpointMessage,
    StatusMessage,
    batch_chunks,
    decode_for_topic,
    forecast_chunks,
)
from controllers.middleware import MessagePath, Middleware, Passage
from controllers.runtime.broker_url import BrokerUrl
from controllers.runtime.collector import StepCollector
from controllers.runtime.connection import Backoff, InboundMessage, MqttConnection, unique_client_id
from controllers.runtime.stamping import LeanMessageFactory
from controllers.topics import BRIDGE_ID, DEFAULT_PREFIX, Kind, TopicScheme, bridge_filters, validate_name
from cosim.mqtt.bridge_batch import PARTIAL_SHARE, HostBatches
from cosim.mqtt.bridge_recording import MessageRecorder
from cosim.mqtt.delayed_ack import DelayedAckCheck

log = logging.getLogger(__name__)

Values = Mapping[str, float | None]
FallbackSource = Literal["caller", "last", "none"]

LIVE_STATES = frozenset({"online", "error"})  # an agent in these states answers (or tries to)
UNKNOWN = "unknown"  # an agent's state while the bridge cannot hear it
ASK_EVERY_S = 1.0  # how often the bridge repeats its request to announce (status waiting)
END_OF_RUN_WAIT_S = 1.0  # how long `stop` waits for the broker to take the end-of-run status


@dataclass(frozen=True)
class StepTimings:
    """Wall time of one exchange (seconds): publishing, waiting for setpoints, the whole step, and
    (included in `total_s`) waiting for agents to announce themselves after a reconnect."""

    publish_s: float
    wait_s: float
    total_s: float
    resync_s: float = 0.0


@dataclass(frozen=True)
class ExchangeResult:
    """The outcome of one control step.

    `setpoints` holds an entry for every awaited agent: what it sent, or its fallback when it
    was late (`late_agents`, sorted; `fallback_sources` says where each fallback came from).
    `measurements_published` counts the agents whose measurements went out (alone or in a batch).
    """

    tick: int
    setpoints: Mapping[str, Values]
    late_agents: tuple[str, ...]
    fallback_sources: Mapping[str, FallbackSource]
    timings: StepTimings
    measurements_published: int
    deadline_missed: bool = False
    lag_s: float = 0.0

    @property
    def all_on_time(self) -> bool:
        return not self.late_agents


@dataclass(frozen=True)
class StatusEvent:
    """A status message from an agent (online, offline, error …), as the bridge saw it."""

    agent: str
    state: str
    tick: int
    detail: str
    received_unix_s: float


class BridgeCore:
    """Publishes measurements and a clock per tick, collects setpoints. One instance per run."""

    def __init__(
        self,
        url: BrokerUrl | str,
        run: str,
        agents: Iterable[str],
        *,
        prefix: str = DEFAULT_PREFIX,
        bridge_id: str = BRIDGE_ID,
        qos: int = 1,
        step_timeout_s: float = 5.0,
        codec: Codec = Codec.JSON,
        recorder: MessageRecorder | None = None,
        backoff: Backoff | None = None,
        hosts: Mapping[str, Iterable[str]] | None = None,
        middleware: Sequence[Middleware] = (),
        watch_delayed_ack: bool = False,
        collector: StepCollector | None = None,
    ) -> None:
        """`hosts` (agent host id → its agents): reach those agents through one measurement and
        one setpoint batch per host and step instead of one message per agent. `middleware`: what
        every message the bridge sends or receives passes (`controllers.middleware`); the
        `mqtt_messages` records show the messages as they left and as the bridge accepted them.
        `watch_delayed_ack`: look at the first round trips and warn once (log, and
        `delayed_ack_warning`) when they show a broker without TCP_NODELAY stalling clients that
        delay their acknowledgements (`cosim.mqtt.delayed_ack`; for agents on other clients than
        the platform's, on a broker the platform did not start). `collector`: told of each step
        (`controllers.runtime.collector`), where the bridge's process is given to the run."""
        self.collector = collector
        self.scheme = TopicScheme(run=run, prefix=prefix)
        self.bridge_id = validate_name(bridge_id, "bridge id")
        self.agents = tuple(sorted({validate_name(a, "agent id") for a in agents}))
        self.batches = HostBatches.of(hosts, self.agents)
        self.step_timeout_s = step_timeout_s
        self.codec = codec
        self.recorder = recorder if recorder is not None else MessageRecorder()
        # the recording middleware first: it observes what the others let through
        self.path = MessagePath(self.bridge_id, codec, [self.recorder, *middleware])
        self.dropped = DropCounter()
        self.factory = LeanMessageFactory(run, self.bridge_id)
        self.connection = MqttConnection(
            url,
            client_id=unique_client_id(run, self.bridge_id),
            handler=self._on_message,
            subscriptions=bridge_filters(self.scheme, batches=bool(self.batches.hosts)),
            qos=qos,
            on_connect=self._on_connected,
            on_disconnect=self._on_connection_lost,
            backoff=backoff,
        )
        self.agent_states: dict[str, str] = {}
        self.status_events: list[StatusEvent] = []
        self._meas_topics = {a: self.scheme.topic(Kind.MEAS, a) for a in self.agents}
        self._batch_topics = {h: self.scheme.topic(Kind.MEAS_BATCH, h) for h in self.batches.hosts}
        self._forecast_topics = {h: self.scheme.topic(Kind.FORECAST_BATCH, h) for h in self.batches.hosts}
        self._clock_topic = self.scheme.topic(Kind.CLOCK, self.bridge_id)
        self._status_topic = self.scheme.topic(Kind.STATUS, self.bridge_id)
        self._last: dict[str, Values] = {}
        self._pending_tick: int | None = None
        self._waiting: set[str] = set()
        self._received: dict[str, Values] = {}
        self._sent_perf: dict[str, float] = {}
        self._host_sent_perf: dict[str, float] = {}
        self._all_in = asyncio.Event()
        self._online_changed = asyncio.Event()
        self._ever_live: set[str] = set()  # agents that have been online (or in error) during the run
        self._rejoining: set[str] = set()  # of those, the ones not back since the connection was lost
        self._connection_losses = 0
        self._last_ask = float("-inf")  # time.monotonic() of the last request to announce
        self._task: asyncio.Task[None] | None = None
        self._final_sent = False  # a clock with final = True went out
        self._ack_check = DelayedAckCheck(decided=not watch_delayed_ack)
        self.delayed_ack_warning: str | None = None
        self._watchers: dict[str, Callable[[Message], None]] = {}

    # ---------------------------------------------------------------- lifecycle

    async def start(self, connect_timeout_s: float = 10.0) -> None:
        """Connect (in a background task that reconnects on its own); raise if not connected in time."""
        if self._task is None:
            self._task = asyncio.create_task(self.connection.run(), name=f"{self.bridge_id}-mqtt")
        if not await self.connection.wait_connected(connect_timeout_s):
            raise ConnectionError(
                f"bridge: no connection to the broker at {self.connection.url} within {connect_timeout_s} s"
            )

    async def watch(self, kind: Kind, sender: str, callback: Callable[[Message], None]) -> None:
        """Also receive `sender`'s messages of `kind` (e.g. the ADMM coordinator's final decision):
        each valid one is recorded like every message and handed to `callback` on the bridge's
        loop, in arrival order (before a setpoint the same sender publishes after it)."""
        topic = self.scheme.topic(kind, validate_name(sender, "sender"))
        self._watchers[topic] = callback
        await self.connection.subscribe(topic)

    async def stop(self) -> None:
        """Say that the run has ended (`status/bridge` = stopping, see `END_OF_RUN_WAIT_S`),
        disconnect and end the background task."""
        if self._task is not None and self.connection.connected.is_set():
            await self._say_run_ended()
        self.connection.stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.connection.timeout_s + 1.0)
            except TimeoutError:
                log.warning("bridge: MQTT task did not stop in time; cancelled")
            self._task = None

    def online_agents(self) -> frozenset[str]:
        return frozenset(a for a in self.agents if self.agent_states.get(a) == "online")

    async def wait_ready(self, timeout_s: float = 10.0, ask_every_s: float = ASK_EVERY_S) -> frozenset[str]:
        """Wait until every agent is online or `timeout_s` passes; returns the agents still missing.

        Asks agents to announce themselves (status `waiting`) at once and again every
        `ask_every_s` while some are missing (an agent that connected before the bridge
        subscribed announced itself to nobody). While the bridge is disconnected no agent is
        online (their state is unknown), so this also waits for the bridge's reconnect."""
        return await self._await_online(
            frozenset(self.agents), time.monotonic() + timeout_s, ask_every_s, ask_now=True
        )

    async def _await_online(
        self, wanted: frozenset[str], deadline: float, ask_every_s: float, *, ask_now: bool
    ) -> frozenset[str]:
        """The agents of `wanted` still not online at `deadline` (time.monotonic()), asking them to
        announce themselves (at once if `ask_now`, and every `ask_every_s`) while connected."""
        while True:
            self._online_changed.clear()  # also set on every connect and connection loss
            missing = wanted - self.online_agents()
            now = time.monotonic()
            if not missing or now >= deadline:
                return missing
            connected = self.connection.connected.is_set()
            if connected and (ask_now or now >= self._last_ask + ask_every_s):
                ask_now = False
                await self._publish_status("waiting", wait_s=deadline - now)
                continue
            wake = min(deadline, self._last_ask + ask_every_s) if connected else deadline
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._online_changed.wait(), max(wake - now, 0.001))

    async def wait_for_state(self, agent: str, state: str, timeout_s: float = 10.0) -> bool:
        """True once `agent`'s last status is `state` (e.g. "offline" after a crash), False after
        `timeout_s`."""

        async def seen() -> None:
            while self.agent_states.get(agent) != state:
                self._online_changed.clear()
                await self._online_changed.wait()

        try:
            await asyncio.wait_for(seen(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _say_run_ended(self) -> None:
        """The end-of-run status: `stopping`, detail `run finished at tick N` after a final clock,
        else `run ended at tick N` (an ADMM run, whose clocks are never final, or a run stopped
        early); at most `END_OF_RUN_WAIT_S` for the broker's acknowledgement. A third party that
        follows the run (`status/bridge`) learns from it that no more steps come."""
        tick = self._pending_tick
        at = "before its first tick" if tick is None else f"at tick {tick}"
        detail = f"run finished {at}" if self._final_sent else f"run ended {at}"
        try:
            await self._publish_status("stopping", wait_s=END_OF_RUN_WAIT_S, detail=detail)
        except (ConnectionError, TimeoutError, OSError) as exc:  # the run is over either way
            log.info("bridge: end-of-run status not sent: %s", exc)

    async def _publish_status(
        self,
        state: Literal["waiting", "stopping"],
        *,
        wait_s: float | None = None,
        wait_ack: bool = True,
        detail: str = "",
    ) -> None:
        """Publish the bridge's status; with `wait_ack`, wait up to `wait_s` for the broker's ack."""
        message = self.factory.status(max(self._pending_tick or 0, 0), state, detail)
        payload = self.path.encode(self._status_topic, message)
        if payload is None:
            return
        if state == "waiting":
            self._last_ask = time.monotonic()
        if wait_ack:
            await self.connection.publish(self._status_topic, payload, wait_s=wait_s)
        else:
            await self.connection.publish_many([(self._status_topic, payload)], wait_s=0.0)
        self._record_out(
            self._status_topic,
            Kind.STATUS,
            self.bridge_id,
            message.tick,
            message.seq,
            len(payload),
            message.ts_s,
        )

    # ---------------------------------------------------------------- liveness across reconnects

    def _on_connection_lost(self) -> None:
        """Nothing reaches the bridge from now on: every agent's liveness becomes unknown, and those
        that have been live during the run are awaited again before the next exchange."""
        self._connection_losses += 1
        self._rejoining |= self._ever_live
        for agent in {*self.agents, *self.agent_states}:
            self.agent_states[agent] = UNKNOWN
        self._online_changed.set()
        log.info(
            "bridge: connection lost; liveness of %d agents unknown until they announce themselves",
            len(self.agents),
        )

    async def _on_connected(self) -> None:
        """After every reconnect: ask every agent to announce itself (status waiting)."""
        self._online_changed.set()
        if self._connection_losses:
            await self._publish_status("waiting", wait_ack=False)

    async def _resync(self, deadline: float) -> bool:
        """Wait until connected and until the agents that have been live have announced themselves
        again, or until `deadline` (time.monotonic()). False if not connected."""
        connection = self.connection
        if not connection.connected.is_set() and not await connection.wait_connected(
            max(deadline - time.monotonic(), 0.0)
        ):
            return False
        missing = await self._await_online(frozenset(self._rejoining), deadline, ASK_EVERY_S, ask_now=False)
        if not connection.connected.is_set():  # lost again meanwhile: the next step waits again
            return False
        if missing:
            log.warning(
                "bridge: after the reconnect, agents not back within the step timeout: %s",
                ", ".join(sorted(missing)[:10]),
            )
        self._rejoining.clear()
        return True

    # ---------------------------------------------------------------- one step

    async def exchange(
        self,
        tick: int,
        measurements: Mapping[str, Values],
        *,
        time_s: int | None = None,
        step_s: int | None = None,
        fallbacks: Mapping[str, Values] | None = None,
        timeout_s: float | None = None,
        deadline_unix_s: float | None = None,
        final: bool = False,
        forecasts: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    ) -> ExchangeResult:
        """Publish `measurements` (agent → values) and the clock for `tick`, collect setpoints.

        `forecasts` (agent → series), when given, go out first as `forecast` messages (start
        `time_s`, step `step_s`) for model-predictive agents.

        The whole step (waiting for a connection to publish, then for setpoints) takes at most
        `timeout_s` (default `step_timeout_s`) and, when given, ends at the wall-clock
        `deadline_unix_s`. `final=True` tells agents that this is the last step of the run.

        After the bridge's connection was lost, the step first waits (within the same budget)
        for the connection and for the agents that were online to announce themselves again;
        once they have, the step's budget starts afresh.
        """
        unknown = set(measurements) - set(self.agents)
        if unknown:
            raise KeyError(f"measurements for unknown agents {sorted(unknown)}; known: {list(self.agents)}")
        if self._pending_tick is not None and tick <= self._pending_tick:
            raise ValueError(f"tick {tick} does not follow tick {self._pending_tick}")
        if self.collector is not None:  # a step begins (a refused call is none)
            self.collector.step()
        first = start = time.perf_counter()
        step_deadline = start + self._budget_s(timeout_s, deadline_unix_s)
        if self._rejoining and await self._resync(time.monotonic() + step_deadline - start):
            start = time.perf_counter()  # the agents are back (or the wait is over): a fresh budget
            step_deadline = start + self._budget_s(timeout_s, deadline_unix_s)
        self._pending_tick = tick
        self._waiting = set(self.agents)
        self._received = {}
        self._sent_perf = {}
        self._host_sent_perf = {}
        self._all_in.clear()
        published = await self._publish_step(
            tick,
            measurements,
            time_s,
            step_s,
            deadline_unix_s,
            final,
            wait_s=max(step_deadline - time.perf_counter(), 0.0),
            forecasts=forecasts or {},
        )
        after_publish = time.perf_counter()
        if self._waiting and step_deadline > after_publish:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_in.wait(), step_deadline - after_publish)
        end = time.perf_counter()
        late = tuple(sorted(self._waiting))
        self._waiting = set()
        setpoints, sources = self._with_fallbacks(late, fallbacks or {})
        warning = self._ack_check.warning()
        if warning is not None:
            self.delayed_ack_warning = warning
            log.warning("%s", warning)
        missed = deadline_unix_s is not None and time.time() > deadline_unix_s
        lag_s = max(0.0, time.time() - deadline_unix_s) if deadline_unix_s is not None else 0.0
        if late:
            log.info("bridge: tick %d: late agents %s (fallback used)", tick, ", ".join(late[:10]))
        return ExchangeResult(
            tick=tick,
            setpoints=setpoints,
            late_agents=late,
            fallback_sources=sources,
            timings=StepTimings(after_publish - start, end - after_publish, end - first, start - first),
            measurements_published=published,
            deadline_missed=missed,
            lag_s=lag_s,
        )

    def _budget_s(self, timeout_s: float | None, deadline_unix_s: float | None) -> float:
        budget_s = self.step_timeout_s if timeout_s is None else timeout_s
        if deadline_unix_s is not None:
            budget_s = min(budget_s, deadline_unix_s - time.time())
        return max(budget_s, 0.0)

    async def _publish_step(
        self,
        tick: int,
        measurements: Mapping[str, Values],
        time_s: int | None,
        step_s: int | None,
        deadline_unix_s: float | None,
        final: bool,
        wait_s: float,
        forecasts: Mapping[str, Mapping[str, Sequence[float]]],
    ) -> int:
        items: list[tuple[str, bytes]] = []
        n_forecasts = 0
        forecasts_by_host, forecasts_alone = self.batches.split(forecasts)
        for agent, series in forecasts_alone.items():
            forecast = self.factory.forecast(tick, time_s or 0, step_s or 1, series)
            n_forecasts += self._queue(items, self.scheme.topic(Kind.FORECAST, agent), agent, forecast)
        if forecasts_by_host:
            await self._stream_forecast_batches(items, forecasts_by_host, tick, time_s or 0, step_s or 1,
                                                wait_s)
            items, n_forecasts = [], 0  # those before the batches left with the first of them
        by_host, alone = self.batches.split(measurements)
        carried: list[int] = []  # agents whose measurements each item carries, after the forecasts
        for agent, values in alone.items():
            message = self.factory.meas(tick, values, time_s=time_s)
            if self._queue(items, self._meas_topics[agent], agent, message):
                carried.append(1)
                self._sent_perf[agent] = time.perf_counter()
        for host, entries in by_host.items():
            carried += self._add_batches(items, host, tick, entries, time_s, wait_s * PARTIAL_SHARE)
        clock = self.factory.clock(
            tick,
            time_s if time_s is not None else tick,
            step_s=step_s,
            deadline_unix_s=deadline_unix_s,
            final=final,
        )
        if self._queue(items, self._clock_topic, self.bridge_id, clock):
            self._final_sent |= final
        published = await self.connection.publish_many(items, wait_s=wait_s)
        return sum(carried[: max(0, published - n_forecasts)])

    def _add_batches(
        self,
        items: list[tuple[str, bytes]],
        host: str,
        tick: int,
        entries: Mapping[str, Values],
        time_s: int | None,
        partial_after_s: float,
    ) -> list[int]:
        """Append `host`'s measurement batch (more than one if it would be too large) to `items`;
        the number of agents in each."""
        topic = self._batch_topics[host]
        counts: list[int] = []
        for chunk in batch_chunks(entries):
            message = self.factory.meas_batch(tick, chunk, time_s=time_s, partial_after_s=partial_after_s)
            if not self._queue(items, topic, host, message):
                continue
            counts.append(len(chunk))
            sent = self._host_sent_perf[host] = time.perf_counter()
            for agent in chunk:
                self._sent_perf[agent] = sent
            self.recorder.add_batched("out", chunk)
        return counts

    async def _stream_forecast_batches(
        self,
        items: list[tuple[str, bytes]],
        by_host: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
        tick: int,
        start_s: int,
        step_s: int,
        wait_s: float,
    ) -> None:
        """Publish the hosts' forecast batches (after `items`) one by one as they are made, the hosts'
        in turn: a host starts on its agents' forecasts while the bridge still encodes the rest (at
        1,000 agents on two hosts the bridge makes ~9 MB of forecasts a step)."""
        chunks = {host: forecast_chunks(entries, PACKED_FLOAT_BYTES) for host, entries in by_host.items()}
        for turn in range(max(len(of_host) for of_host in chunks.values())):
            for host, of_host in chunks.items():
                if turn >= len(of_host):
                    continue
                message = self.factory.forecast_packed(tick, start_s, step_s, of_host[turn])
                if self._queue(items, self._forecast_topics[host], host, message):
                    self.recorder.add_batched("out", of_host[turn])
                await self.connection.publish_many(items, wait_s=wait_s)
                items.clear()
                await asyncio.sleep(0)  # written before the next is encoded

    def _queue(self, items: list[tuple[str, bytes]], topic: str, recipient: str, message: Message) -> bool:
        """Append `message` for `recipient` on `topic` to `items`, encoded through the middleware, and
        record it; False if a middleware kept it back."""
        payload = self.path.encode(topic, message)
        if payload is None:
            return False
        items.append((topic, payload))
        self._record_out(topic, Kind(message.kind), recipient, message.tick, message.seq, len(payload),
                         message.ts_s)
        return True

    def _with_fallbacks(
        self, late: tuple[str, ...], fallbacks: Mapping[str, Values]
    ) -> tuple[dict[str, Values], dict[str, FallbackSource]]:
        setpoints: dict[str, Values] = dict(self._received)
        sources: dict[str, FallbackSource] = {}
        for agent in late:
            if agent in fallbacks:
                setpoints[agent], sources[agent] = dict(fallbacks[agent]), "caller"
            elif agent in self._last:
                setpoints[agent], sources[agent] = self._last[agent], "last"
            else:
                setpoints[agent], sources[agent] = {}, "none"
        return dict(sorted(setpoints.items())), sources

    # ---------------------------------------------------------------- incoming messages

    async def _on_message(self, raw: InboundMessage) -> None:
        received = time.time()
        received_perf = time.perf_counter()
        topic = raw.topic
        payload = raw.payload if isinstance(raw.payload, bytes | bytearray) else str(raw.payload).encode()
        parsed = self.scheme.parse(topic)
        if parsed is None:
            self.dropped.count(DropReason.TOPIC_MISMATCH)
            self._record_in(
                topic, "", "", "", None, None, len(payload), None, received, None, DropReason.TOPIC_MISMATCH
            )
            return
        message = decode_for_topic(parsed, payload, self.dropped)
        if isinstance(message, DecodeError):
            self._record_in(
                topic,
                parsed.kind.value,
                parsed.agent,
                "",
                None,
                None,
                len(payload),
                None,
                received,
                None,
                message.reason,
            )
            return
        if self.path:
            passed = self.path.accept(topic, message, self.dropped)
            if passed is None:
                self._record_in(topic, message.kind, parsed.agent, message.sender, message.tick, message.seq,
                                len(payload), message.ts_s, received, None, DropReason.MIDDLEWARE)
                return
            message = passed
        rtt_s: float | None = None
        dropped: DropReason | None = None
        if isinstance(message, SetpointMessage):
            rtt_s, dropped = self._accept_setpoint(message, received_perf)
        elif isinstance(message, SetpointBatchMessage):
            rtt_s, dropped = self._accept_batch(message, received_perf)
        if rtt_s is not None:
            self._ack_check.add(message.tick, rtt_s)
        elif isinstance(message, StatusMessage):
            self._on_status(message, received)
        if (watcher := self._watchers.get(topic)) is not None:
            try:
                watcher(message)
            except Exception:  # a watcher's bug must not stop the bridge
                log.exception("bridge: watcher of %s failed", topic)
        self._record_in(
            topic,
            message.kind,
            parsed.agent,
            message.sender,
            message.tick,
            message.seq,
            len(payload),
            message.ts_s,
            received,
            rtt_s,
            dropped,
            rtt_sample=not isinstance(message, SetpointBatchMessage),
        )

    def _accept_setpoint(
        self, message: SetpointMessage, received_perf: float
    ) -> tuple[float | None, DropReason | None]:
        agent = message.sender
        if message.tick != self._pending_tick or agent not in self._waiting:
            self.dropped.count(DropReason.STALE)
            return None, DropReason.STALE
        self._take(agent, message.body.values)
        if not self._waiting:
            self._all_in.set()
        sent = self._sent_perf.get(agent)
        return (received_perf - sent if sent is not None else None), None

    def _take(self, agent: str, values: Values) -> None:
        """An awaited agent's setpoints for the pending tick: kept for the step and as its last."""
        kept = dict(values)
        self._received[agent] = kept
        self._last[agent] = kept
        self._waiting.discard(agent)

    def _accept_batch(
        self, message: SetpointBatchMessage, received_perf: float
    ) -> tuple[float | None, DropReason | None]:
        """Take the setpoints of a host's batch for the agents still awaited. A batch naming an
        agent of another host is dropped whole; an entry that is not awaited (an earlier tick, an
        agent that has answered) is counted as stale, the batch as stale if all of them are."""
        host, entries = message.sender, message.body.values
        if not self.batches.answers_for_own_agents(host, entries):
            self.dropped.count(DropReason.TOPIC_MISMATCH)
            return None, DropReason.TOPIC_MISMATCH
        sent = self._host_sent_perf.get(host)
        rtt_s = received_perf - sent if sent is not None and message.tick == self._pending_tick else None
        accepted: list[str] = []
        if message.tick == self._pending_tick:
            waiting = self._waiting
            for agent, values in entries.items():
                if agent in waiting:
                    self._take(agent, values)
                    accepted.append(agent)
            if not waiting:
                self._all_in.set()
        for _ in range(len(entries) - len(accepted)):
            self.dropped.count(DropReason.STALE)
        self.recorder.add_batched("in", accepted, rtt_s, host=host)
        if not accepted:
            return None, DropReason.STALE
        return rtt_s, None

    def _on_status(self, message: StatusMessage, received: float) -> None:
        if message.sender == self.bridge_id:
            return
        self.agent_states[message.sender] = message.body.state
        if message.body.state in LIVE_STATES and message.sender in self._meas_topics:
            self._ever_live.add(message.sender)
            self._rejoining.discard(message.sender)
        self.status_events.append(
            StatusEvent(message.sender, message.body.state, message.tick, message.body.detail, received)
        )
        self._online_changed.set()
        if message.body.state != "online":
            log.info("bridge: agent %s is %s %s", message.sender, message.body.state, message.body.detail)

    # ---------------------------------------------------------------- recording

    def _record_out(
        self, topic: str, kind: Kind, agent: str, tick: int, seq: int, size: int, sent: float
    ) -> None:
        self.path.observe(Passage("out", topic, kind.value, agent, self.bridge_id, tick, seq, size, sent))

    def _record_in(
        self,
        topic: str,
        kind: str,
        agent: str,
        sender: str,
        tick: int | None,
        seq: int | None,
        size: int,
        sent: float | None,
        received: float,
        rtt_s: float | None,
        dropped: DropReason | None,
        *,
        rtt_sample: bool = True,
    ) -> None:
        dropped_as = None if dropped is None else dropped.value
        self.path.observe(
            Passage("in", topic, kind, agent, sender, tick, seq, size, sent, received, rtt_s, dropped_as),
            rtt_sample,
        )
