"""Batches per agent host on a real Mosquitto: the same setpoints as one message per agent, one
message per host each way, per-agent lateness and fallbacks inside a batch, malformed batches
counted and dropped on both sides."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from controllers.messages import MeasMessage, MessageFactory, encode
from controllers.runtime import Agent, AgentHost, MqttConnection, Setpoints, create_agent
from controllers.runtime.connection import InboundMessage
from controllers.topics import Kind, TopicScheme
from cosim.mqtt.bridge_batch import HostBatches
from cosim.mqtt.bridge_core import BridgeCore
from tests.mqtt.helpers import RUN, TIMEOUT_S, GatedAgent, meas

pytestmark = pytest.mark.network


class NanAgent(Agent):
    """Answers with a setpoint that no message may carry (NaN)."""

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        return {"battery_p_kw": float("nan")}


class ListAgent(Agent):
    """Answers with something that is not a mapping at all."""

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        return [1.0]  # type: ignore[return-value]  # the error under test


class LaterAgent(Agent):
    """Sets its setpoints outside `step`, as an ADMM agent does when its decision arrives: the echo of
    its measurement, or what `answer` gives."""

    def __init__(self, agent_id: str, answer: Any = None) -> None:
        super().__init__(agent_id)
        self.answer = answer

    async def on_measurement(self, message: MeasMessage) -> None:
        answer = dict(message.body.values) if self.answer is None else self.answer
        await self.ctx.publish_setpoints(message.tick, answer)


@asynccontextmanager
async def hosted(url: str, prefix: str, hosts: Mapping[str, Sequence[Agent]], *, batches: bool = True,
                 alone: Sequence[Agent] = (),
                 **bridge_kwargs: Any) -> AsyncIterator[tuple[BridgeCore, dict[str, AgentHost]]]:
    """One `AgentHost` per entry of `hosts` and a bridge that batches for them (or not); the agents
    `alone` on a host the bridge is not told about (as in processes of their own)."""
    bridge_kwargs.setdefault("step_timeout_s", TIMEOUT_S)
    ids = [agent.agent_id for agents in (*hosts.values(), alone) for agent in agents]
    async with contextlib.AsyncExitStack() as stack:
        running = {}
        for host_id, agents in {**hosts, **({"unannounced": alone} if alone else {})}.items():
            host = AgentHost(agents, url, RUN, prefix=prefix, host_id=host_id)
            running[host_id] = await stack.enter_async_context(host)
            assert await host.wait_ready(TIMEOUT_S), f"host {host_id} did not connect"
        members = {h: [a.agent_id for a in agents] for h, agents in hosts.items()} if batches else None
        bridge = BridgeCore(url, RUN, ids, prefix=prefix, hosts=members, **bridge_kwargs)
        await bridge.start(TIMEOUT_S)
        stack.push_async_callback(bridge.stop)
        assert await bridge.wait_ready(TIMEOUT_S) == frozenset()
        yield bridge, running


@asynccontextmanager
async def raw_client(url: str, prefix: str, subscribe: Sequence[str] = ()) -> AsyncIterator[
        tuple[MqttConnection, asyncio.Queue[InboundMessage]]]:
    """A plain connection to publish hand-made payloads and to watch topics."""
    received: asyncio.Queue[InboundMessage] = asyncio.Queue()

    async def keep(message: InboundMessage) -> None:
        received.put_nowait(message)

    connection = MqttConnection(url, client_id=f"raw-{prefix[-8:]}", handler=keep, subscriptions=subscribe)
    task = asyncio.create_task(connection.run())
    try:
        assert await connection.wait_connected(TIMEOUT_S)
        yield connection, received
    finally:
        connection.stop()
        await asyncio.wait_for(task, TIMEOUT_S)


async def test_batches_give_the_setpoints_of_one_message_per_agent(session_mosquitto_url: str,
                                                                   topic_prefix: str) -> None:
    ids = [f"b{i:02d}" for i in range(20)]
    results = {}
    for batches in (False, True):
        agents = [create_agent("echo", a) for a in ids]
        async with hosted(session_mosquitto_url, f"{topic_prefix}-{batches}", {"h1": agents},
                          batches=batches) as (bridge, _):
            results[batches] = [await bridge.exchange(t, meas(ids, t), time_s=900 * t) for t in range(4)]
            records = bridge.recorder.drain()
            traffic = bridge.recorder.traffic()
    assert [r.setpoints for r in results[True]] == [r.setpoints for r in results[False]]
    assert all(r.all_on_time and r.measurements_published == 20 for r in results[True])
    kinds = [(r.direction, r.kind) for r in records if r.kind != "status"]
    assert sorted(kinds) == sorted([("out", "batch/meas"), ("in", "batch/setpoint"), ("out", "clock")] * 4)
    answers = [r for r in records if r.kind == "batch/setpoint"]
    assert all(r.agent == "h1" and r.sender == "h1" and r.rtt_s is not None and r.rtt_s > 0 for r in answers)
    for agent in ids:  # per agent: no message of its own, an entry in each batch, a round trip per step
        assert traffic[agent].batched_out == 4 and traffic[agent].batched_in == 4
        assert traffic[agent].rtt.count == 4
    assert traffic["h1"].messages_out == 4 and traffic["h1"].messages_in == 4
    assert traffic["h1"].rtt.count == 0  # the samples are the agents'
    assert bridge.dropped.by_reason() == {}


async def test_agents_on_their_own_keep_their_topics(session_mosquitto_url: str, topic_prefix: str) -> None:
    """A bridge with a host and an agent on no host it knows of (as a device or a separate process)."""
    hosts = {"h1": [create_agent("echo", "a0")]}
    async with hosted(session_mosquitto_url, topic_prefix, hosts, alone=[create_agent("echo", "solo")]) as (
        bridge, _
    ):
        result = await bridge.exchange(0, meas(["a0", "solo"], 0))
        assert result.all_on_time and result.setpoints == meas(["a0", "solo"], 0)
        kinds = {(r.kind, r.agent) for r in bridge.recorder.drain() if r.kind != "status"}
    assert kinds == {("batch/meas", "h1"), ("batch/setpoint", "h1"), ("meas", "solo"), ("setpoint", "solo"),
                     ("clock", "bridge")}


async def test_late_agent_inside_a_batch_gets_its_fallback(session_mosquitto_url: str,
                                                            topic_prefix: str) -> None:
    gated = GatedAgent("slow")
    agents = [create_agent("echo", "a0"), create_agent("echo", "a1"), create_agent("silent", "quiet"), gated]
    ids = [a.agent_id for a in agents]
    async with hosted(session_mosquitto_url, topic_prefix, {"h1": agents}) as (bridge, _):
        # the host answers for a0 and a1 after half the step's budget while "slow" still steps
        fallbacks = {"slow": {"battery_p_kw": 0.0}}
        first = await bridge.exchange(0, meas(ids, 0), fallbacks=fallbacks, timeout_s=1.0)
        assert first.late_agents == ("quiet", "slow")
        assert first.fallback_sources == {"quiet": "none", "slow": "caller"}
        assert first.setpoints["slow"] == {"battery_p_kw": 0.0} and first.setpoints["quiet"] == {}
        assert first.setpoints["a0"] == meas(ids, 0)["a0"] and first.setpoints["a1"] == meas(ids, 0)["a1"]
        gated.gate.set()  # its answer to tick 0 follows in a batch of its own, too late
        second = await bridge.exchange(1, meas(ids, 1), fallbacks={"quiet": {"battery_p_kw": 0.0}})
        assert second.late_agents == ("quiet",) and second.fallback_sources == {"quiet": "caller"}
        assert second.setpoints["slow"] == {"tick": 1.0}
        records = bridge.recorder.drain()
    answers = [(r.tick, r.dropped) for r in records if r.kind == "batch/setpoint"]
    assert answers == [(0, None), (0, "stale"), (1, None)]
    assert bridge.dropped.by_reason() == {"stale": 1}


async def test_invalid_setpoints_leave_out_only_their_agent(session_mosquitto_url: str,
                                                            topic_prefix: str) -> None:
    agents = [create_agent("echo", "a0"), NanAgent("bad"), ListAgent("odd"), create_agent("echo", "a1")]
    hosts = {"h1": agents}
    ids = ["a0", "bad", "odd", "a1"]
    async with hosted(session_mosquitto_url, topic_prefix, hosts, step_timeout_s=1.0) as (bridge, _):
        result = await bridge.exchange(0, meas(ids, 0))
        assert result.late_agents == ("bad", "odd")
        assert result.setpoints["a0"] == meas(ids, 0)["a0"] and result.setpoints["a1"] == meas(ids, 0)["a1"]
        for agent in ("bad", "odd"):
            assert await bridge.wait_for_state(agent, "error", TIMEOUT_S)  # the agent said why


async def test_setpoints_set_outside_step_join_the_batch_and_invalid_ones_leave_out_their_agent(
        session_mosquitto_url: str, topic_prefix: str) -> None:
    agents = [LaterAgent("a0"), LaterAgent("bad", {"battery_p_kw": float("nan")}), LaterAgent("odd", [1.0]),
              LaterAgent("a1")]
    ids = ["a0", "bad", "odd", "a1"]
    async with hosted(session_mosquitto_url, topic_prefix, {"h1": agents}, step_timeout_s=1.0) as (bridge, _):
        result = await bridge.exchange(0, meas(ids, 0))
        assert result.late_agents == ("bad", "odd")
        assert result.setpoints["a0"] == meas(ids, 0)["a0"] and result.setpoints["a1"] == meas(ids, 0)["a1"]
        for agent in ("bad", "odd"):
            assert await bridge.wait_for_state(agent, "error", TIMEOUT_S)  # the agent said why
        traffic = bridge.recorder.traffic()
    assert traffic["a0"].batched_in == traffic["a1"].batched_in == 1  # in the host's batch, not alone


async def test_malformed_setpoint_batches_are_counted_and_dropped(session_mosquitto_url: str,
                                                                  topic_prefix: str) -> None:
    url = session_mosquitto_url
    hosts = {"h1": [create_agent("echo", a) for a in ("a0", "a1")], "h2": [create_agent("echo", "b0")]}
    scheme = TopicScheme(run=RUN, prefix=topic_prefix)
    h1, h2 = MessageFactory(RUN, "h1"), MessageFactory(RUN, "h2")
    good = json.loads(encode(h1.setpoint_batch(0, {"a0": {"x": 1.0}})))
    bad: list[tuple[str, bytes]] = [
        ("h1", b"not json"),  # malformed
        ("h1", json.dumps({**good, "body": {"values": {}}}).encode()),  # schema: an empty batch
        ("h1", json.dumps({**good, "body": {"values": {"a0": {"x": "1"}}}}).encode()),  # schema: a string
        ("h1", json.dumps({**good, "extra": 1}).encode()),  # schema: an unknown field
        ("h1", encode(h2.setpoint_batch(0, {"b0": {"x": 1.0}}))),  # topic_mismatch: h2 on h1's topic
        ("h1", encode(h1.setpoint_batch(0, {"a0": {"x": 1.0}, "b0": {"x": 1.0}}))),  # topic_mismatch: b0
        ("h1", encode(MessageFactory("other", "h1").setpoint_batch(0, {"a0": {"x": 1.0}}))),  # wrong_run
        ("h1", encode(h1.setpoint_batch(7, {"a0": {"x": 1.0}, "a1": {"x": 1.0}}))),  # stale: no tick awaited
    ]
    async with hosted(url, topic_prefix, hosts) as (bridge, _), raw_client(url, topic_prefix) as (raw, _):
        items = [(scheme.topic(Kind.SETPOINT_BATCH, host), payload) for host, payload in bad]
        probe = encode(MessageFactory(RUN, "probe").status(0, "online"))  # published last: a marker
        assert await raw.publish_many([*items, (scheme.topic(Kind.STATUS, "probe"), probe)]) == len(items) + 1
        assert await bridge.wait_for_state("probe", "online", TIMEOUT_S)
        expected = {"malformed": 1, "schema": 3, "topic_mismatch": 2, "wrong_run": 1, "stale": 2}
        assert bridge.dropped.by_reason() == expected  # stale: one for each entry of the batch
        dropped = [r.dropped for r in bridge.recorder.drain() if r.topic.endswith("/batch/setpoint/h1")]
        assert dropped == ["malformed", "schema", "schema", "schema", "topic_mismatch", "topic_mismatch",
                           "wrong_run", "stale"]
        ids = ["a0", "a1", "b0"]
        result = await bridge.exchange(0, meas(ids, 0))  # and the bridge goes on as before
        assert result.all_on_time and result.setpoints == meas(ids, 0)


async def test_malformed_measurement_batches_are_counted_and_dropped(session_mosquitto_url: str,
                                                                     topic_prefix: str) -> None:
    url = session_mosquitto_url
    scheme = TopicScheme(run=RUN, prefix=topic_prefix)
    bridge_factory, other_run = MessageFactory(RUN, "bridge"), MessageFactory("other", "bridge")
    topic = scheme.topic(Kind.MEAS_BATCH, "h1")
    agents = [create_agent("echo", "a0"), create_agent("echo", "a1")]
    watch = [scheme.filter(Kind.SETPOINT_BATCH, "h1")]
    async with hosted(url, topic_prefix, {"h1": agents}) as (bridge, hosts), \
            raw_client(url, topic_prefix, watch) as (raw, answers):
        items = [
            (topic, b"\x00\x01garbage"),  # malformed
            (topic, b'{"v": 1, "kind": "batch/meas"}'),  # schema: the envelope is missing
            (topic, encode(other_run.meas_batch(3, {"a0": {"p_kw": 1.0}}))),  # wrong_run
            # valid, with an entry for an agent that is not on this host: the others answer
            (topic, encode(bridge_factory.meas_batch(3, {"a0": {"p_kw": 1.0}, "zz": {"p_kw": 2.0}}))),
        ]
        assert await raw.publish_many(items) == len(items)
        answer = await asyncio.wait_for(answers.get(), TIMEOUT_S)  # a0's, to the crafted tick 3
        assert json.loads(bytes(answer.payload))["body"]["values"] == {"a0": {"p_kw": 1.0}}
        assert hosts["h1"].dropped.by_reason() == {"malformed": 1, "schema": 1, "wrong_run": 1,
                                                   "topic_mismatch": 1}
        result = await bridge.exchange(4, meas(["a0", "a1"], 4))  # the host goes on as before
        assert result.all_on_time and result.setpoints == meas(["a0", "a1"], 4)


def test_hosts_are_checked() -> None:
    agents = ["a0", "a1"]
    measurements: dict[str, dict[str, float | None]] = {"a0": {}, "a1": {}}
    split = HostBatches.of({"h": ["a0"]}, agents).split(measurements)
    assert split == ({"h": {"a0": {}}}, {"a1": {}})
    with pytest.raises(ValueError, match="unknown agents"):
        HostBatches.of({"h": ["zz"]}, agents)
    with pytest.raises(ValueError, match="on two hosts"):
        HostBatches.of({"h": ["a0"], "g": ["a0"]}, agents)
    with pytest.raises(ValueError, match="also an agent's id"):
        HostBatches.of({"a1": ["a0"]}, agents)
    with pytest.raises(ValueError, match="invalid agent host id"):
        HostBatches.of({"h/1": ["a0"]}, agents)
