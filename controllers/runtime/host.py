"""Many agents in one process behind one MQTT connection.

`AgentGroup` gives every agent a connection of its own, like separate processes would have.
`AgentHost` shares one connection between its agents: the broker then writes one socket instead
of hundreds, and a message for several agents (the clock, the bridge's status) is decoded once.
Use it for large in-process populations (benchmarks, 100+ simulated buildings).

A message for several of its agents (the clock, the bridge's status, a round's broadcast) passes
the middleware once, as the host's (its agents share one middleware chain), and reaches each of
them verified; a message for one agent passes that agent's.

Differences from one connection per agent: the last will is the host's (`status/{host_id}`
= offline), not one per agent, so a bridge notices a crashed host only through its agents'
missing setpoints; and a broker ACL must allow the host to publish under its agents' names.

Batches: a host also takes the measurements of all its agents in one message
(`batch/meas/{host_id}`, from a bridge told which agents the host carries) and answers for them
in one `batch/setpoint/{host_id}` message. Each agent handles its entry as it would its own
measurement (stale check, hooks, `step`), one agent after the other as messages are handled.
When the batch asks for it (`partial_after_s`), the setpoints gathered so far go out at that
time even if an agent is still stepping; the answers of the rest follow in a further batch.
Invalid setpoints of one agent are reported by that agent (status error) and left out; the
other agents' setpoints go out.

Round batches: the ADMM updates its agents send to one round in a batch
(`AgentContext.publish_round(..., batch=True)`) leave in one `batch/admm-x/{host_id}` message
(QoS 0) instead of one `admm/x` message each; a receiver must be told which agents the host
carries (the coordinator's `hosts`). The batch goes out whenever the event loop turns, so a host
that breathes while it solves sends the updates gathered so far and the rest in a further batch.
The batch is packed (`AdmmPackedUpdates`: every agent's net power in one base64 array, half the
bytes of JSON lists and a third of the time to encode and decode); an update that is not valid (a
value not finite, another number of steps) is left out and logged, as its agent's own `admm/x`
message would have been refused.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from controllers.messages import (
    PACKED_FLOAT_BYTES,
    AdmmPackedUpdates,
    AdmmUpdateBody,
    ClockMessage,
    Codec,
    DropCounter,
    DropReason,
    ForecastBatchMessage,
    MeasBatchMessage,
    Message,
    RoundUpdate,
    batch_chunks,
    chunked,
    encode,
)
from controllers.middleware import MessagePath, Middleware
from controllers.runtime.agent import Agent, AgentRunner, Setpoints, decode_raw
from controllers.runtime.broker_url import BrokerUrl
from controllers.runtime.collector import StepCollector
from controllers.runtime.connection import Backoff, InboundMessage, MqttConnection, Will, unique_client_id
from controllers.runtime.stamping import LeanMessageFactory
from controllers.topics import BRIDGE_ID, DEFAULT_PREFIX, Kind, TopicScheme, host_filters

log = logging.getLogger(__name__)

MAX_CACHED_TOPICS = 1 << 16
_BATCHED_TICKS_KEPT = 8
_UPDATE_BYTES = 512  # a bound on a round update's JSON in a packed batch without its floats: name and fields


class AgentHost:
    """Runs `agents` on one shared connection. `async with AgentHost(...) as host:` starts them;
    leaving the block shuts them down."""

    def __init__(
        self,
        agents: Sequence[Agent],
        url: BrokerUrl | str,
        run: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        bridge: str = BRIDGE_ID,
        qos: int = 1,
        codec: Codec = Codec.JSON,
        backoff: Backoff | None = None,
        host_id: str | None = None,
        middleware: Sequence[Middleware] = (),
        collector: StepCollector | None = None,
    ) -> None:
        """`middleware`: what every message of the host passes (`controllers.middleware`): the
        host's batches whole, each agent's own messages as the agent's. `collector`: told of each
        new control step (the first clock of a tick), in a process of the host's own
        (`controllers.runtime.collector`)."""
        self.scheme = TopicScheme(run=run, prefix=prefix)
        self.host_id = host_id or f"host-{uuid.uuid4().hex[:8]}"
        self.codec = codec
        self.path = MessagePath(self.host_id, codec, middleware)
        self.dropped = DropCounter()
        self._batch_factory = LeanMessageFactory(run, self.host_id)
        self._batch_topic = self.scheme.topic(Kind.SETPOINT_BATCH, self.host_id)
        self.collector = collector
        self._clock_tick = -1  # the newest tick a clock message announced
        self.connection = MqttConnection(
            url, client_id=unique_client_id(run, self.host_id), handler=self._dispatch, qos=qos,
            will=self._will, on_connect=self._on_connect, backoff=backoff,
        )
        self._routes: dict[str, list[AgentRunner]] = {}
        self._receivers: dict[str, tuple[AgentRunner, ...]] = {}  # topic -> runners, from _routes
        self.runners = [
            AgentRunner(agent, url, run, prefix=prefix, bridge=bridge, qos=qos, codec=codec,
                        middleware=middleware, connection=self.connection)
            for agent in agents
        ]
        for runner in self.runners:
            for topic_filter in runner.filters:
                self._add_route(topic_filter, runner)
            runner.set_router(self._add_route)
        self._by_id = {runner.agent.agent_id: runner for runner in self.runners}
        # the message kinds some of its agents' classes take for several agents at once
        self._shared_kinds = frozenset(
            kind for runner in self.runners for kind in type(runner.agent).shared_kinds
        )
        for topic_filter in host_filters(self.scheme, self.host_id):
            self.connection.add_subscription(topic_filter)
        self._tasks: list[asyncio.Task[None]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._round_topic = self.scheme.topic(Kind.ADMM_X_BATCH, self.host_id)
        # (tick, iteration) → updates
        self._rounds: dict[tuple[int, int], dict[str, AdmmUpdateBody | RoundUpdate]] = {}
        self._round_flush_due = False
        self._batched_ticks: set[int] = set()  # recent ticks the bridge addressed this host in batches
        self._setpoints_out: dict[int, dict[str, Setpoints]] = {}  # tick → setpoints for the next batch
        self._setpoint_flush_due = False
        for runner in self.runners:
            runner.outbox = self._queue_round
            runner.setpoint_outbox = self._queue_setpoints

    def _add_route(self, topic_filter: str, runner: AgentRunner) -> None:
        routed = self._routes.setdefault(topic_filter, [])
        if runner not in routed:
            routed.append(runner)
        self._receivers.clear()
        self.connection.add_subscription(topic_filter)

    def _receivers_of(self, topic: str, kind: str) -> tuple[AgentRunner, ...]:
        """The runners whose filters match `topic` (of `kind`), each once, in subscription order."""
        receivers = self._receivers.get(topic)
        if receivers is None:
            keys = (topic, self.scheme.filter(kind), self.scheme.filter())
            receivers = tuple(dict.fromkeys(runner for key in keys for runner in self._routes.get(key, ())))
            if len(self._receivers) >= MAX_CACHED_TOPICS:
                self._receivers.clear()
            self._receivers[topic] = receivers
        return receivers

    def _will(self) -> Will:
        message = self._batch_factory.status(0, "offline", "connection lost")
        topic = self.scheme.topic(Kind.STATUS, self.host_id)
        payload = self.path.encode(topic, message)  # signed in a secured run
        return Will(topic, payload if payload is not None else encode(message, self.codec), qos=1)

    async def _on_connect(self) -> None:
        for runner in self.runners:
            await runner.on_connected()

    async def _dispatch(self, raw: InboundMessage) -> None:
        message = decode_raw(self.scheme, raw, self.dropped)
        if message is None:
            return
        if isinstance(message, MeasBatchMessage | ForecastBatchMessage):
            if self.path:
                passed = self.path.accept(raw.topic, message, self.dropped)
                if not isinstance(passed, type(message)):
                    return
                message = passed
            if isinstance(message, MeasBatchMessage):
                await self._answer_batch(message)
            else:
                await self._hand_out_forecasts(message)
            return
        if isinstance(message, ClockMessage) and message.tick > self._clock_tick:
            self._clock_tick = message.tick
            if self.collector is not None:
                self.collector.step()
        # the topic's kind is the message's (checked by decode_raw), so receivers depend on the topic only
        receivers = self._receivers_of(raw.topic, message.kind)
        if len(receivers) == 1:
            await receivers[0].on_decoded(message, raw.topic)
            return
        if self.path:  # a message for several agents (the clock, a round's broadcast): the middleware
            # once, the host's (its agents' is the same), rejections counted and recorded once
            passed = self.path.accept(raw.topic, message, self.dropped)
            if passed is None:
                return
            message = passed
        left: Sequence[AgentRunner] = receivers
        if message.kind in self._shared_kinds:
            left = await self._handle_shared(receivers, message)
        for runner in left:
            await runner.handle_verified(message)

    async def _handle_shared(
        self, receivers: tuple[AgentRunner, ...], message: Message
    ) -> list[AgentRunner]:
        """`message` to the receivers' agents of each class that takes its kind together
        (`Agent.on_shared_message`); the receivers left to handle it one by one, in order."""
        groups: dict[type[Agent], list[AgentRunner]] = {}
        for runner in receivers:
            if message.kind in type(runner.agent).shared_kinds and not runner.stopping:
                groups.setdefault(type(runner.agent), []).append(runner)
        taken: set[int] = set()
        for cls, runners in groups.items():
            if len(runners) < 2:
                continue
            agents = [runner.agent for runner in runners]
            try:
                left = await cls.on_shared_message(agents, message)
            except Exception:
                log.exception("%s: %s.on_shared_message failed for %d agents", self.host_id, cls.__name__,
                              len(agents))
                for runner in runners:
                    runner.count_hook_error()
                left = ()
            kept = {id(agent) for agent in left}
            taken.update(id(runner) for runner in runners if id(runner.agent) not in kept)
        return [runner for runner in receivers if id(runner) not in taken]

    # ---------------------------------------------------------------- batches

    async def _hand_out_forecasts(self, batch: ForecastBatchMessage) -> None:
        """Every agent of `batch` handles its forecast as if it had come on its own topic (the
        batch has passed the host's middleware; the agents' own middleware does not see it)."""
        self._addressed_in_batches(batch.tick)
        runners = []
        for agent_id in batch.body.agent_ids():
            runner = self._by_id.get(agent_id)
            if runner is None:  # addressed to this host, but not one of its agents
                self.dropped.count(DropReason.TOPIC_MISMATCH)
                continue
            runners.append(runner)
        if batch.kind in self._shared_kinds:  # agents that take their entries of the batch together
            runners = await self._handle_shared(tuple(runners), batch)
        for runner in runners:
            await runner.handle_verified(batch.forecast(runner.agent.agent_id))

    async def _answer_batch(self, batch: MeasBatchMessage) -> None:
        """Every agent of `batch` handles its measurement; their setpoints go out in one batch (or
        more: see `partial_after_s`)."""
        self._addressed_in_batches(batch.tick)
        answers: dict[str, Setpoints] = {}
        timer = None
        if batch.body.partial_after_s is not None:
            timer = asyncio.get_running_loop().call_later(
                batch.body.partial_after_s, self._flush_partial, batch.tick, answers
            )
        try:
            for agent_id in batch.body.values:
                runner = self._by_id.get(agent_id)
                if runner is None:  # addressed to this host, but not one of its agents
                    self.dropped.count(DropReason.TOPIC_MISMATCH)
                    continue
                setpoints = await runner.measured(batch.measurement(agent_id))
                if setpoints is not None:
                    answers[agent_id] = setpoints
        finally:
            if timer is not None:
                timer.cancel()
        await self._publish_answers(batch.tick, answers)

    def _addressed_in_batches(self, tick: int) -> None:
        """The bridge batches for this host at `tick`: it takes setpoint batches from it then."""
        self._batched_ticks.add(tick)
        if len(self._batched_ticks) > _BATCHED_TICKS_KEPT:
            self._batched_ticks.discard(min(self._batched_ticks))

    def _queue_setpoints(self, agent_id: str, tick: int, setpoints: Setpoints) -> bool:
        """Keep `agent_id`'s setpoints, sent outside a measurement batch (e.g. on an ADMM decision),
        for the host's next setpoint batch, if the bridge batches for this host at `tick` (they are
        validated there; invalid ones are reported by their agent and left out, `_publish_answers`)."""
        if tick not in self._batched_ticks or not isinstance(setpoints, Mapping):
            return False
        self._setpoints_out.setdefault(tick, {})[agent_id] = dict(setpoints)
        if not self._setpoint_flush_due:
            self._setpoint_flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_setpoints)
        return True

    def _flush_setpoints(self) -> None:
        self._setpoint_flush_due = False
        queued, self._setpoints_out = self._setpoints_out, {}
        for tick, answers in queued.items():
            self._in_background(self._publish_answers(tick, answers))

    def _in_background(self, sending: Coroutine[Any, Any, None]) -> None:
        """Run `sending` as a task that shutdown waits for."""
        task = asyncio.get_running_loop().create_task(sending)
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    def _flush_partial(self, tick: int, answers: dict[str, Setpoints]) -> None:
        """Publish the answers gathered so far (the rest of the batch follows in another)."""
        if not answers:
            return
        taken = dict(answers)
        answers.clear()
        self._in_background(self._publish_answers(tick, taken))

    async def _publish_answers(self, tick: int, answers: dict[str, Setpoints]) -> None:
        """`answers` (agent → setpoints) as batch messages; an agent whose setpoints are invalid
        reports that (status error) and is left out."""
        if not answers:
            return
        items: list[tuple[str, bytes]] = []
        carried: list[list[str]] = []
        for chunk in batch_chunks(answers):
            try:
                message = self._batch_factory.setpoint_batch(tick, chunk)
            except ValueError:  # one agent's setpoints are invalid: check them one by one
                message = None
                valid: dict[str, Setpoints] = {}
                for agent_id, setpoints in chunk.items():
                    checked = await self._by_id[agent_id].setpoint_message(tick, setpoints)
                    if checked is not None:
                        valid[agent_id] = checked.body.values
                if valid:
                    message = self._batch_factory.setpoint_batch(tick, valid)
            if message is not None and (payload := self.path.encode(self._batch_topic, message)) is not None:
                items.append((self._batch_topic, payload))
                carried.append(list(message.body.values))
        published = await self.connection.publish_many(items)
        for agents in carried[:published]:
            for agent_id in agents:
                self._by_id[agent_id].count_published()

    # ---------------------------------------------------------------- round batches

    def _queue_round(
        self, agent_id: str, tick: int, iteration: int, update: AdmmUpdateBody | RoundUpdate
    ) -> None:
        """Keep `agent_id`'s round update for the next round batch (sent when the loop turns)."""
        self._rounds.setdefault((tick, iteration), {})[agent_id] = update
        if not self._round_flush_due:
            self._round_flush_due = True
            asyncio.get_running_loop().call_soon(self._flush_rounds)

    def _flush_rounds(self) -> None:
        self._round_flush_due = False
        rounds, self._rounds = self._rounds, {}
        items: list[tuple[str, bytes]] = []
        for (tick, iteration), updates in rounds.items():
            for chunk in round_chunks(updates):
                packed, rejected = AdmmPackedUpdates.pack(chunk)
                if rejected:
                    log.warning("%s: round %d of tick %d: updates not valid, not sent: %s",
                                self.host_id, iteration, tick, ", ".join(rejected))
                if packed is None:
                    continue
                message = self._batch_factory.admm_x_packed(tick, iteration, packed)
                if (payload := self.path.encode(self._round_topic, message)) is not None:
                    items.append((self._round_topic, payload))
        if items:
            self._in_background(self._send_rounds(items))

    async def _send_rounds(self, items: list[tuple[str, bytes]]) -> None:
        await self.connection.publish_many(items, qos=0)  # a lost batch: its agents are stragglers

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> AgentHost:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.connection.run(), name=f"{self.host_id}-mqtt")]
        self._tasks += [asyncio.create_task(r.run(), name=f"agent-{r.agent.agent_id}") for r in self.runners]

    async def wait_ready(self, timeout_s: float = 10.0) -> bool:
        """True once connected and every agent has announced itself, False after `timeout_s`."""
        try:
            await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in self.runners)), timeout_s)
        except TimeoutError:
            return False
        return True

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop every agent (`on_stop`, offline status), then the connection."""
        await asyncio.gather(*(r.shutdown() for r in self.runners), *self._flushes, return_exceptions=True)
        self.connection.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)


def round_chunks(
    updates: dict[str, AdmmUpdateBody | RoundUpdate],
) -> list[dict[str, AdmmUpdateBody | RoundUpdate]]:
    """`updates` in parts that each fit one packed batch message (one part for a host of ~1,000
    agents at a day's horizon): a bound on an update's JSON is its name and fields, and 11 bytes
    per float."""
    return chunked(updates, lambda update: _UPDATE_BYTES + PACKED_FLOAT_BYTES * len(update.p_net_kw))
