"""The agent base class and the runner that puts one agent on MQTT.

Protocol of a control step (lockstep and real time alike), for tick `t`:
1. the bridge publishes each agent's measurements on `meas/{agent}` (tick t) and a `clock`
   message (tick t) on `clock/{bridge}`;
2. an agent steps once per tick: when its measurement for t arrives (`trigger = "measurement"`,
   the default) or when the clock for t arrives (`trigger = "clock"`, for agents without
   measurements, e.g. a coordinator);
3. `step` returns setpoints, which the runner publishes on `setpoint/{agent}` with tick t.
   Returning None publishes nothing (the bridge then uses the agent's fallback).
   On a shared connection (`AgentHost`) the bridge may send the measurements of all the host's
   agents in one `batch/meas` message instead; each agent then handles its entry the same way
   and the host answers for all of them in one `batch/setpoint` message.

Liveness: on every (re)connect the runner publishes `status/{agent}` = online; its last will is
`offline`. When the bridge publishes `status/{bridge}` = waiting, every agent announces itself
again. A clock message with `final = True` ends the agent, and so does the bridge's `stopping`
status (the end of a run that sent no final clock, e.g. ADMM).

Hooks run one at a time, in message order. An exception in a hook is logged, counted and
reported as `status` = error; the agent keeps running (the bridge falls back for that tick).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from controllers.messages import (
    AdmmUpdateBody,
    ClockMessage,
    Codec,
    DecodeError,
    DropCounter,
    DropReason,
    MeasMessage,
    Message,
    MessageFactory,
    RoundUpdate,
    SetpointMessage,
    StatusMessage,
    StatusState,
    decode_for_topic,
    encode,
)
from controllers.middleware import MessagePath, Middleware
from controllers.runtime.broker_url import BrokerUrl
from controllers.runtime.connection import (
    Backoff,
    ConnectionStats,
    InboundMessage,
    MqttConnection,
    Will,
    unique_client_id,
)
from controllers.runtime.stamping import LeanMessageFactory
from controllers.topics import BRIDGE_ID, DEFAULT_PREFIX, Kind, TopicScheme, agent_filters, validate_name

log = logging.getLogger(__name__)

Setpoints = Mapping[str, float | None]


class Agent:
    """Base class of every controller agent. Override the hooks you need; all are optional except
    `step` for an agent that should answer with setpoints.

    Hooks: `on_start` (once connected the first time), `on_measurement`, `on_tick`,
    `step` (returns setpoints), `on_message` (plan, ADMM, alarm and other messages),
    `on_stop` (before disconnecting). `self.ctx` gives access to the run, topics and publishing.
    """

    kind: ClassVar[str] = "base"
    trigger: ClassVar[Literal["measurement", "clock"]] = "measurement"

    def __init__(self, agent_id: str, **params: Any) -> None:
        self.agent_id = validate_name(agent_id, "agent id")
        self.params = params
        self._ctx: AgentContext | None = None

    @property
    def ctx(self) -> AgentContext:
        if self._ctx is None:
            raise RuntimeError(f"agent {self.agent_id!r} is not attached to a runner yet")
        return self._ctx

    def subscriptions(self) -> Sequence[tuple[Kind, str | None]]:
        """Extra (kind, agent) subscriptions beyond measurements, plan, clock and bridge status;
        agent None = every agent. E.g. `[(Kind.ADMM_Z, "coordinator")]`."""
        return ()

    async def on_start(self) -> None:
        """Called once, after the first connect and subscribe."""

    async def on_measurement(self, message: MeasMessage) -> None:
        """Called for each new measurement (before `step` when the trigger is "measurement")."""

    async def on_tick(self, message: ClockMessage) -> None:
        """Called for each clock message (before `step` when the trigger is "clock")."""

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        """Setpoints for `tick` (attribute name with unit → value, None = not set), or None."""
        return None

    async def on_message(self, message: Message) -> None:
        """Called for every other message the agent receives (plan, admm/x, admm/z, alarm, status)."""

    async def on_stop(self) -> None:
        """Called once before the agent disconnects."""

    # message kinds (`Kind` values) that `on_shared_message` may take for several agents at once
    shared_kinds: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    async def on_shared_message(cls, agents: Sequence[Agent], message: Message) -> Sequence[Agent]:
        """Optional, for many agents of one class on one agent host (`AgentHost`): handle `message`,
        of a kind in `shared_kinds` and received by all of `agents` (each of this class, in the
        host's order), for them together, e.g. one vectorised computation instead of one per agent.
        Return the agents left to `on_message` one by one (the default: all of them). An exception
        is logged and counted as a hook error of each of `agents`; none of them then gets the
        message."""
        return agents


@dataclass(frozen=True)
class AgentStats:
    """What one agent runner did."""

    steps: int
    setpoints_published: int
    hook_errors: int
    last_tick: int
    dropped: Mapping[str, int]
    connection: ConnectionStats


class AgentContext:
    """What an agent sees of the runtime: its run, topics, message factory and publishing."""

    def __init__(self, runner: AgentRunner) -> None:
        self._runner = runner

    @property
    def run(self) -> str:
        return self._runner.scheme.run

    @property
    def agent_id(self) -> str:
        return self._runner.agent.agent_id

    @property
    def topics(self) -> TopicScheme:
        return self._runner.scheme

    @property
    def messages(self) -> MessageFactory:
        return self._runner.factory

    async def publish(
        self,
        message: Message,
        *,
        agent: str | None = None,
        retain: bool = False,
        wait_for_ack: bool = True,
        qos: int | None = None,
    ) -> bool:
        """Publish `message` on its kind's topic under `agent` (default: this agent).

        `wait_for_ack=False` only queues it and returns at once, for messages whose loss the
        receiver tolerates and that must not wait one broker round trip each: the ADMM rounds,
        where an agent host answers for all its agents one after another. `qos`: this message's
        QoS (default: the connection's); QoS 0 has no acknowledgement, so no PUBACK from the broker
        can sit in front of the next message to this client (Nagle on a broker without
        TCP_NODELAY holds a second small write until the first is acknowledged).
        """
        if not wait_for_ack:
            return await self._runner.publish_queued(message, agent=agent, qos=qos)
        return await self._runner.publish(message, agent=agent, retain=retain, qos=qos)

    async def publish_round(self, tick: int, iteration: int, update: AdmmUpdateBody | RoundUpdate, *,
                            batch: bool = False) -> bool:
        """Send this agent's ADMM round update (`admm/x` of round `iteration` of `tick`) at QoS 0
        without waiting. With `batch`, on an agent host (`AgentHost`), the update joins the host's
        `batch/admm-x` message for that round, sent as soon as the host's event loop turns: its
        agents' updates to one broadcast leave together (one message and one signature per host and
        round instead of one per agent), and this agent's own middleware is not applied (the host's
        is, to the batch). The receiver must know which agents the host carries. Without a host,
        `batch` has no effect. `update` may be a `RoundUpdate` (its net power an array, packed into
        the host's batch as it is; checked there, or made an `AdmmUpdateBody` here without a host)."""
        outbox = self._runner.outbox
        if batch and outbox is not None:
            outbox(self._runner.agent.agent_id, tick, iteration, update)
            return True
        body = update.body() if isinstance(update, RoundUpdate) else update
        return await self._runner.publish_queued(self._runner.factory.admm_x(tick, iteration, body), qos=0)

    async def publish_setpoints(self, tick: int, setpoints: Setpoints) -> None:
        """Validate and send this agent's `setpoints` for `tick` to the bridge, outside `step` (e.g.
        when a decision arrives). On an agent host that the bridge addressed in batches for `tick`
        (a forecast or measurement batch), they join the host's `batch/setpoint` message, sent as
        soon as the host's event loop turns; otherwise they go on this agent's setpoint topic.
        Invalid setpoints are reported (status error) and not sent."""
        await self._runner.publish_setpoints(tick, setpoints)

    async def subscribe(self, kind: Kind, agent: str | None = None) -> None:
        """Receive messages of `kind` from `agent` (None: from every agent) from now on."""
        await self._runner.subscribe(self._runner.scheme.filter(kind, agent))

    def count_hook_error(self) -> None:
        """Count a failure of this agent's part in a hook that handles several agents at once
        (`Agent.on_shared_message`), as a failing hook of its own is counted."""
        self._runner.count_hook_error()


class AgentRunner:
    """Runs one `Agent` on MQTT until `stop()` or a final clock message."""

    def __init__(
        self,
        agent: Agent,
        url: BrokerUrl | str,
        run: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        bridge: str = BRIDGE_ID,
        qos: int = 1,
        codec: Codec = Codec.JSON,
        backoff: Backoff | None = None,
        connection: MqttConnection | None = None,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        """`connection`: a connection shared with other agents (see `AgentHost`, which routes
        messages to this runner); by default the runner has a connection of its own.
        `middleware`: what every message this agent sends or receives passes
        (`controllers.middleware`)."""
        self.agent = agent
        self.scheme = TopicScheme(run=run, prefix=prefix)
        self.bridge = validate_name(bridge, "bridge id")
        self.factory = LeanMessageFactory(run, agent.agent_id)
        self.codec = codec
        self.path = MessagePath(agent.agent_id, codec, middleware)
        self.dropped = DropCounter()
        self.ready = asyncio.Event()
        self.stopped = asyncio.Event()
        self._status_topic = self.scheme.topic(Kind.STATUS, agent.agent_id)
        self._setpoint_topic = self.scheme.topic(Kind.SETPOINT, agent.agent_id)
        filters = list(agent_filters(self.scheme, agent.agent_id, bridge))
        filters += [self.scheme.filter(kind, who) for kind, who in agent.subscriptions()]
        self.filters: tuple[str, ...] = tuple(dict.fromkeys(filters))
        self._owns_connection = connection is None
        # set by the agent host this runner is on: where batched round updates go (`publish_round`)
        self.outbox: Callable[[str, int, int, AdmmUpdateBody | RoundUpdate], None] | None = None
        # … and where setpoints go that the host batches (it returns False for a tick it does not batch)
        self.setpoint_outbox: Callable[[str, int, Setpoints], bool] | None = None
        self.connection = connection if connection is not None else MqttConnection(
            url, client_id=unique_client_id(run, agent.agent_id), handler=self._on_mqtt_message,
            subscriptions=self.filters, qos=qos, will=self._will, on_connect=self.on_connected,
            backoff=backoff,
        )
        self._stop_requested = asyncio.Event()
        self._route: Callable[[str, AgentRunner], None] | None = None
        self._last_tick = -1
        self._steps = 0
        self._setpoints = 0
        self._hook_errors = 0
        self._started = False
        self._finished = False
        # hooks left as the base class has them do nothing: not called (a coroutine each, per message)
        self._calls_on_measurement = _overrides(agent, "on_measurement")
        self._calls_on_tick = _overrides(agent, "on_tick")
        agent._ctx = AgentContext(self)

    @property
    def stats(self) -> AgentStats:
        return AgentStats(self._steps, self._setpoints, self._hook_errors, self._last_tick,
                          self.dropped.by_reason(), self.connection.stats)

    def stop(self) -> None:
        self._stop_requested.set()
        if self._owns_connection:
            self.connection.stop()

    async def run(self) -> None:
        """Serve the agent; returns after `stop()` or a final clock, having called `on_stop`.
        With a shared connection the host runs the connection; this only waits for the end."""
        try:
            if self._owns_connection:
                await self.connection.run()
            else:
                await self._stop_requested.wait()
        finally:
            self.stopped.set()

    def set_router(self, router: Callable[[str, AgentRunner], None]) -> None:
        """Called with every filter this runner subscribes to later (by a host that routes)."""
        self._route = router

    async def subscribe(self, topic_filter: str) -> None:
        """Receive messages on `topic_filter` from now on (and after every reconnect)."""
        if topic_filter not in self.filters:
            self.filters = (*self.filters, topic_filter)
            if self._route is not None:
                self._route(topic_filter, self)
        await self.connection.subscribe(topic_filter)

    async def publish(
        self, message: Message, *, agent: str | None = None, retain: bool = False, qos: int | None = None
    ) -> bool:
        topic = self.scheme.topic(message.kind, agent or self.agent.agent_id)
        payload = self.path.encode(topic, message)
        if payload is None:  # the middleware kept it back
            return True
        return await self.connection.publish(topic, payload, retain=retain, qos=qos)

    async def publish_queued(
        self, message: Message, *, agent: str | None = None, qos: int | None = None
    ) -> bool:
        """Queue `message` for sending without waiting for the broker's acknowledgement (`qos`: the
        message's QoS, default the connection's)."""
        topic = self.scheme.topic(message.kind, agent or self.agent.agent_id)
        payload = self.path.encode(topic, message)
        if payload is None:  # the middleware kept it back
            return True
        return await self.connection.publish_many([(topic, payload)], qos=qos) == 1

    # ---------------------------------------------------------------- connection hooks

    def _will(self) -> Will:
        message = self.factory.status(max(self._last_tick, 0), "offline", "connection lost")
        payload = self.path.encode(self._status_topic, message)  # signed in a secured run
        if payload is None:
            payload = encode(message, self.codec)
        return Will(self._status_topic, payload, qos=1)

    async def _announce(self, state: StatusState, detail: str = "") -> None:
        message = self.factory.status(max(self._last_tick, 0), state, detail)
        if state == "offline":  # the last word before disconnecting: wait for the broker to have it
            await self.publish(message)
        elif (payload := self.path.encode(self._status_topic, message)) is not None:
            await self.connection.publish_many([(self._status_topic, payload)])

    async def on_connected(self) -> None:
        """After every (re)connect: `on_start` the first time, then announce online."""
        if not self._started:
            self._started = True
            await self._hook("on_start", self.agent.on_start())
        await self._announce("online")
        self.ready.set()

    # ---------------------------------------------------------------- message dispatch

    async def _on_mqtt_message(self, raw: InboundMessage) -> None:
        message = decode_raw(self.scheme, raw, self.dropped)
        if message is not None:
            await self.on_decoded(message, raw.topic)

    async def on_decoded(self, message: Message, topic: str = "") -> None:
        """Handle one decoded, topic-checked message (called by the host for shared connections)
        after this agent's middleware."""
        if self.path:
            passed = self.path.accept(topic, message, self.dropped)
            if passed is None:
                return
            message = passed
        await self._handle(message)

    async def handle_verified(self, message: Message) -> None:
        """Handle `message` without this agent's middleware: an entry of a batch that passed its
        host's (`AgentHost`)."""
        await self._handle(message)

    async def _handle(self, message: Message) -> None:
        if self._stop_requested.is_set():
            return
        if isinstance(message, MeasMessage):
            await self._on_measurement(message)
        elif isinstance(message, ClockMessage):
            await self._on_clock(message)
        elif isinstance(message, StatusMessage) and message.sender == self.bridge:
            if message.body.state == "waiting":
                await self._announce("online")
            elif message.body.state == "stopping":  # the run is over (ADMM runs send no final clock)
                await self._finish()
        else:
            await self._hook("on_message", self.agent.on_message(message))

    async def _on_measurement(self, message: MeasMessage) -> None:
        setpoints = await self.measured(message)
        if setpoints is not None:
            await self.publish_setpoints(message.tick, setpoints)

    async def measured(self, message: MeasMessage) -> Setpoints | None:
        """Handle one measurement (stale check, `on_measurement`, `step` when the agent steps on
        measurements) and return the setpoints to answer with, or None. `AgentHost` calls this
        for every agent of a measurement batch and answers for all of them in one batch."""
        if self._stop_requested.is_set():
            return None
        if message.tick <= self._last_tick:
            self.dropped.count(DropReason.STALE)
            return None
        if self._calls_on_measurement:
            await self._hook("on_measurement", self.agent.on_measurement(message))
        if self.agent.trigger == "measurement":
            return await self._step(message.tick, message)
        return None

    async def _on_clock(self, message: ClockMessage) -> None:
        if self._calls_on_tick:
            await self._hook("on_tick", self.agent.on_tick(message))
        if self.agent.trigger == "clock" and message.tick > self._last_tick:
            setpoints = await self._step(message.tick, None)
            if setpoints is not None:
                await self.publish_setpoints(message.tick, setpoints)
        if message.body.final:
            await self._finish()

    async def _step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        self._last_tick = tick
        self._steps += 1
        try:
            return await self.agent.step(tick, measurement)
        except Exception as exc:
            self._hook_errors += 1
            log.exception("%s: step failed at tick %d", self.agent.agent_id, tick)
            await self._announce("error", f"step failed at tick {tick}: {type(exc).__name__}: {exc}"[:1000])
            return None

    async def setpoint_message(self, tick: int, setpoints: Setpoints) -> SetpointMessage | None:
        """`setpoints` as a validated message, or None after reporting invalid ones (status error)."""
        try:
            return self.factory.setpoint(tick, setpoints)
        except (TypeError, ValueError) as exc:  # not a mapping, or values no message may carry
            self._hook_errors += 1
            log.error("%s: invalid setpoints at tick %d: %s", self.agent.agent_id, tick, exc)
            await self._announce("error", f"invalid setpoints at tick {tick}"[:1000])
            return None

    async def publish_setpoints(self, tick: int, setpoints: Setpoints) -> None:
        """Validate and publish `setpoints` for `tick` on this agent's setpoint topic, or hand them to
        the host's setpoint batch (`setpoint_outbox`), which validates them there."""
        outbox = self.setpoint_outbox
        if outbox is not None and outbox(self.agent.agent_id, tick, setpoints):
            return
        message = await self.setpoint_message(tick, setpoints)
        if message is None:
            return
        # queued without waiting for the broker's acknowledgement: the bridge is the judge of arrival
        payload = self.path.encode(self._setpoint_topic, message)
        if payload is not None and await self.connection.publish_many([(self._setpoint_topic, payload)]):
            self._setpoints += 1

    @property
    def stopping(self) -> bool:
        """`stop()` was called: messages are no longer handled."""
        return self._stop_requested.is_set()

    def count_hook_error(self) -> None:
        """A hook of this agent failed where its host called it for several agents."""
        self._hook_errors += 1

    def count_published(self) -> None:
        """One setpoint of this agent went out in its host's batch."""
        self._setpoints += 1

    async def _hook(self, name: str, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception:
            self._hook_errors += 1
            log.exception("%s: hook %s failed", self.agent.agent_id, name)

    async def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        await self._hook("on_stop", self.agent.on_stop())
        await self._announce("offline", "run finished")
        self.stop()

    async def shutdown(self) -> None:
        """Call `on_stop`, announce offline and stop (for a clean end without a final clock)."""
        if self.connection.connected.is_set():
            await self._finish()
        elif not self._finished:
            self._finished = True
            await self._hook("on_stop", self.agent.on_stop())
        self.stop()


def _overrides(agent: Agent, hook: str) -> bool:
    """Whether `agent` has its own `hook` (the base class's do nothing)."""
    method = getattr(agent, hook)
    return getattr(method, "__func__", None) is not getattr(Agent, hook)


def decode_raw(scheme: TopicScheme, raw: InboundMessage, dropped: DropCounter) -> Message | None:
    """The checked message in `raw`, or None (counted in `dropped`) if its topic or payload is bad."""
    parsed = scheme.parse(raw.topic)
    if parsed is None:
        dropped.count(DropReason.TOPIC_MISMATCH)
        return None
    payload = raw.payload if isinstance(raw.payload, bytes | bytearray) else str(raw.payload).encode()
    message = decode_for_topic(parsed, payload, dropped)
    if isinstance(message, DecodeError):
        log.debug("dropped a payload on %s: %s", raw.topic, message.detail)
        return None
    return message


class AgentGroup:
    """Many agents as tasks in one process, each with its own MQTT connection.

    `async with AgentGroup(runners) as group:` starts them; leaving the block shuts them down.
    """

    def __init__(self, runners: Sequence[AgentRunner]) -> None:
        self.runners = list(runners)
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> AgentGroup:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(r.run(), name=f"agent-{r.agent.agent_id}") for r in self.runners]

    async def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """True once every agent is connected and announced, False after `timeout_s`."""
        try:
            await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in self.runners)), timeout_s)
        except TimeoutError:
            return False
        return True

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop every agent cleanly; cancel those that do not stop within `timeout_s`."""
        await asyncio.gather(*(r.shutdown() for r in self.runners), return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
