"""The message path's middleware (`controllers.middleware`) at the bridge, agent hosts and agents,
on a real Mosquitto: what a middleware changes is what the other side gets, what it drops never
arrives (the bridge falls back for that agent), and a recording middleware sees every message."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest

from controllers.messages import DropReason, MeasMessage, Message, SetpointMessage
from controllers.middleware import Middleware, Passage, RecordingMiddleware
from controllers.runtime import AgentHost, create_agent
from cosim.mqtt.bridge_core import BridgeCore
from tests.mqtt.helpers import RUN, TIMEOUT_S

pytestmark = pytest.mark.network


class DoubleLoad(Middleware):
    """Doubles `p_kw` in every measurement it sends (a false-data injection on the bridge's side)."""

    def outgoing(self, owner: str, topic: str, message: Message) -> Message | None:
        if isinstance(message, MeasMessage) and message.body.values.get("p_kw") is not None:
            values = {**message.body.values, "p_kw": 2 * message.body.values["p_kw"]}
            return message.model_copy(update={"body": message.body.model_copy(update={"values": values})})
        return message


class DropMeasurementsOf(Middleware):
    """Drops every measurement addressed to `agent` on its way in (a denial of service)."""

    def __init__(self, agent: str) -> None:
        self.agent = agent

    def incoming(self, owner: str, topic: str, message: Message) -> Message | None:
        return None if isinstance(message, MeasMessage) and owner == self.agent else message


class Trace(Middleware):
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def outgoing(self, owner: str, topic: str, message: Message) -> Message | None:
        self.seen.append(f"out:{self.name}:{message.kind}")
        return message

    def incoming(self, owner: str, topic: str, message: Message) -> Message | None:
        self.seen.append(f"in:{self.name}:{message.kind}")
        return message


def meas(p_kw: float) -> dict[str, float | None]:
    return {"p_kw": p_kw}


@contextlib.asynccontextmanager
async def district(
    url: str,
    prefix: str,
    agents: Sequence[str],
    *,
    bridge_middleware: Sequence[Middleware] = (),
    host_middleware: Sequence[Middleware] = (),
) -> AsyncIterator[BridgeCore]:
    """Echo agents (they answer with their measurement) on one host, one message per agent."""
    host = AgentHost(
        [create_agent("echo", a) for a in agents],
        url,
        RUN,
        prefix=prefix,
        host_id="h1",
        middleware=host_middleware,
    )
    async with host:
        assert await host.wait_ready(TIMEOUT_S)
        bridge = BridgeCore(url, RUN, agents, prefix=prefix, step_timeout_s=2.0, middleware=bridge_middleware)
        await bridge.start(TIMEOUT_S)
        try:
            assert await bridge.wait_ready(TIMEOUT_S) == frozenset()
            yield bridge
        finally:
            await bridge.stop()


async def test_what_a_middleware_changes_is_what_the_agents_get(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    async with district(
        session_mosquitto_url, topic_prefix, ["a", "b"], bridge_middleware=[DoubleLoad()]
    ) as bridge:
        result = await bridge.exchange(0, {"a": meas(1.5), "b": meas(-2.0)}, time_s=0)
    assert result.late_agents == ()
    assert result.setpoints["a"]["p_kw"] == 3.0 and result.setpoints["b"]["p_kw"] == -4.0  # echoed back
    out = [r for r in bridge.recorder.drain() if r.direction == "out" and r.kind == "meas"]
    assert len(out) == 2  # the bridge records what left it


async def test_a_dropped_message_never_arrives_and_the_bridge_falls_back(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    drop = DropMeasurementsOf("b")
    async with district(session_mosquitto_url, topic_prefix, ["a", "b"], host_middleware=[drop]) as bridge:
        first = await bridge.exchange(0, {"a": meas(1.0), "b": meas(2.0)}, time_s=0)
        second = await bridge.exchange(1, {"a": meas(1.0), "b": meas(2.0)}, time_s=900, timeout_s=0.5)
    assert first.late_agents == ("b",) and second.late_agents == ("b",)
    assert second.setpoints["a"]["p_kw"] == 1.0


async def test_recording_and_chain_order(session_mosquitto_url: str, topic_prefix: str) -> None:
    """Outgoing messages pass the chain in order, incoming ones in reverse; a recording middleware
    sees every message of its agents: a measurement in and a setpoint out per agent and tick."""
    seen: list[str] = []
    recording = RecordingMiddleware()
    chain = [Trace("first", seen), Trace("second", seen), recording]
    async with district(session_mosquitto_url, topic_prefix, ["a", "b"], host_middleware=chain) as bridge:
        for tick in range(3):
            result = await bridge.exchange(tick, {"a": meas(1.0), "b": meas(2.0)}, time_s=900 * tick)
            assert result.late_agents == ()
    records = recording.drain()
    for agent in ("a", "b"):
        got = [
            (r.direction, r.kind, r.tick)
            for r in records
            if r.owner == agent and r.kind in ("meas", "setpoint")
        ]
        assert got == [(d, k, t) for t in range(3) for d, k in (("in", "meas"), ("out", "setpoint"))]
    i = seen.index("in:second:meas")
    assert seen[i + 1] == "in:first:meas"  # reverse order inward
    j = seen.index("out:first:setpoint")
    assert seen[j + 1] == "out:second:setpoint"  # in order outward
    assert (
        all(isinstance(r.seq, int) for r in records)
        and SetpointMessage.model_fields["kind"].default == "setpoint"
    )


def test_drop_reason_is_named() -> None:
    assert DropReason.MIDDLEWARE.value == "middleware"


class DropSetpointsOf(Middleware):
    """Drops every setpoint `agent` sends, at the bridge (its answers never count)."""

    def __init__(self, agent: str) -> None:
        self.agent = agent

    def incoming(self, owner: str, topic: str, message: Message) -> Message | None:
        return None if isinstance(message, SetpointMessage) and message.sender == self.agent else message


class Watch(Middleware):
    """Observes the bridge's traffic as its recording does (sizes, round trips, drops)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

    def observed(self, owner: str, passage: Passage, rtt_sample: bool) -> None:
        assert passage.size_bytes > 0 and owner == "bridge"
        self.seen.append((passage.direction, passage.kind, passage.dropped))


async def test_the_bridges_recording_is_its_first_middleware(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    """What the bridge records (`mqtt_messages`) is what its recording middleware observed; any
    other middleware observes the same messages, and what a middleware drops is recorded as such."""
    watch = Watch()
    async with district(
        session_mosquitto_url,
        topic_prefix,
        ["a", "b"],
        bridge_middleware=[watch, DropSetpointsOf("b")],
    ) as bridge:
        assert bridge.path.middleware[0] is bridge.recorder
        result = await bridge.exchange(0, {"a": meas(1.0), "b": meas(2.0)}, time_s=0, timeout_s=1.0)
    assert result.late_agents == ("b",)
    records = [(r.direction, r.kind, r.dropped) for r in bridge.recorder.drain()]
    assert records == watch.seen
    assert ("out", "meas", None) in records and ("in", "setpoint", None) in records
    assert ("in", "setpoint", "middleware") in records  # b's answer, kept back by the middleware
