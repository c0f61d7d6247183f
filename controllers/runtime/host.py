"""Many agents in one process behind one MQTT connection.

`AgentGroup` gives every agent a connection of its own, like separate processes would have.
`AgentHost` shares one connection between its agents: the broker then writes one socket instead
of hundreds, and a message for several agents (the clock, the bridge's status) is decoded once.
Use it for large in-process populations (benchmarks, 100+ simulated buildings).

Differences from one connection per agent: the last will is the host's (`status/{host_id}`
= offline), not one per agent, so a bridge notices a crashed host only through its agents'
missing setpoints; and a broker ACL must allow the host to publish under its agents' names.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

import aiomqtt

from controllers.messages import Codec, DropCounter, MessageFactory, encode
from controllers.runtime.agent import Agent, AgentRunner, decode_raw
from controllers.runtime.broker_url import BrokerUrl
from controllers.runtime.connection import Backoff, MqttConnection, unique_client_id
from controllers.topics import BRIDGE_ID, DEFAULT_PREFIX, Kind, TopicScheme

log = logging.getLogger(__name__)

MAX_CACHED_TOPICS = 1 << 16


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
    ) -> None:
        self.scheme = TopicScheme(run=run, prefix=prefix)
        self.host_id = host_id or f"host-{uuid.uuid4().hex[:8]}"
        self.codec = codec
        self.dropped = DropCounter()
        self._factory = MessageFactory(run, self.host_id)
        self.connection = MqttConnection(
            url, client_id=unique_client_id(run, self.host_id), handler=self._dispatch, qos=qos,
            will=self._will, on_connect=self._on_connect, backoff=backoff,
        )
        self._routes: dict[str, list[AgentRunner]] = {}
        self._receivers: dict[str, tuple[AgentRunner, ...]] = {}  # topic -> runners, from _routes
        self.runners = [
            AgentRunner(agent, url, run, prefix=prefix, bridge=bridge, qos=qos, codec=codec,
                        connection=self.connection)
            for agent in agents
        ]
        for runner in self.runners:
            for topic_filter in runner.filters:
                self._add_route(topic_filter, runner)
            runner.set_router(self._add_route)
        self._tasks: list[asyncio.Task[None]] = []

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

    def _will(self) -> aiomqtt.Will:
        message = self._factory.status(0, "offline", "connection lost")
        return aiomqtt.Will(self.scheme.topic(Kind.STATUS, self.host_id), encode(message, self.codec), qos=1)

    async def _on_connect(self) -> None:
        for runner in self.runners:
            await runner.on_connected()

    async def _dispatch(self, raw: aiomqtt.Message) -> None:
        message = decode_raw(self.scheme, raw, self.dropped)
        if message is None:
            return
        # the topic's kind is the message's (checked by decode_raw), so receivers depend on the topic only
        for runner in self._receivers_of(raw.topic.value, message.kind):
            await runner.on_decoded(message)

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
        await asyncio.gather(*(r.shutdown() for r in self.runners), return_exceptions=True)
        self.connection.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
