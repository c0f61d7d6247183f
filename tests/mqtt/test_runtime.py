"""Agent runtime on a real broker: the running Mosquitto and the embedded amqtt broker."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import ClassVar

import aiomqtt
import pytest

from controllers.messages import AdmmBroadcastBody, MessageFactory, encode
from controllers.runtime import (
    Agent,
    AgentGroup,
    AgentRunner,
    MqttConnection,
    agent_class,
    agent_kinds,
    create_agent,
    register_agent_kind,
)
from controllers.runtime.builtin import ConstantAgent, EchoAgent
from controllers.runtime.connection import InboundMessage
from controllers.topics import Kind, TopicScheme
from cosim.mqtt.brokers import MosquittoBroker
from tests.mqtt.helpers import RUN, TIMEOUT_S, FailingAgent, RecordingAgent, echo_runners, meas, running

pytestmark = pytest.mark.network


async def test_echo_agents_answer_every_tick(broker_url: str, topic_prefix: str) -> None:
    ids = ["a0", "a1", "a2"]
    runners = echo_runners(broker_url, topic_prefix, ids)
    async with running(runners, broker_url, topic_prefix, ids) as bridge:
        for tick in range(3):
            result = await bridge.exchange(tick, meas(ids, tick), time_s=900 * tick, step_s=900)
            assert result.late_agents == ()
            assert result.setpoints == meas(ids, tick)
    for runner in runners:
        assert runner.stats.steps == 3
        assert runner.stats.setpoints_published == 3
        assert runner.stats.last_tick == 2


async def test_hooks_run_in_order_and_final_clock_stops_agents(broker_url: str, topic_prefix: str) -> None:
    agent = RecordingAgent("r1")
    runner = AgentRunner(agent, broker_url, RUN, prefix=topic_prefix)
    async with running([runner], broker_url, topic_prefix, ["r1"]) as bridge:
        await bridge.exchange(0, meas(["r1"], 0), time_s=0)
        await bridge.exchange(1, meas(["r1"], 1), time_s=900, final=True)
        await asyncio.wait_for(runner.stopped.wait(), TIMEOUT_S)
        assert await bridge.wait_for_state("r1", "offline", TIMEOUT_S)
    assert agent.calls == [
        ("on_start", None),
        ("on_measurement", 0), ("step", 0), ("on_tick", 0),
        ("on_measurement", 1), ("step", 1), ("on_tick", 1),
        ("on_stop", None),
    ]


async def test_clock_triggered_agent_steps_without_measurements(broker_url: str, topic_prefix: str) -> None:
    class Coordinator(Agent):
        trigger = "clock"

        async def step(self, tick: int, measurement: object) -> dict[str, float | None]:
            assert measurement is None
            return {"price_per_kwh": 0.3 + tick}

    runner = AgentRunner(Coordinator("coord"), broker_url, RUN, prefix=topic_prefix)
    async with running([runner], broker_url, topic_prefix, ["coord"]) as bridge:
        result = await bridge.exchange(0, {}, time_s=0)
        assert result.setpoints == {"coord": {"price_per_kwh": 0.3}}
        assert result.measurements_published == 0


async def test_failing_step_is_reported_and_the_agent_keeps_running(
    broker_url: str, topic_prefix: str
) -> None:
    runner = AgentRunner(FailingAgent("f1", fail_at=[1]), broker_url, RUN, prefix=topic_prefix)
    async with running([runner], broker_url, topic_prefix, ["f1"], step_timeout_s=1.0) as bridge:
        assert (await bridge.exchange(0, meas(["f1"], 0))).late_agents == ()
        failed = await bridge.exchange(1, meas(["f1"], 1))
        assert failed.late_agents == ("f1",)
        assert failed.setpoints["f1"] == {"ok": 1.0} and failed.fallback_sources["f1"] == "last"
        assert (await bridge.exchange(2, meas(["f1"], 2), timeout_s=TIMEOUT_S)).late_agents == ()
        errors = [e for e in bridge.status_events if e.state == "error"]
        assert len(errors) == 1 and "boom at 1" in errors[0].detail
    assert runner.stats.hook_errors == 1


async def test_garbage_is_dropped_by_agents_and_bridge(broker_url: str, topic_prefix: str) -> None:
    ids = ["a0"]
    runners = echo_runners(broker_url, topic_prefix, ids)
    scheme = TopicScheme(run=RUN, prefix=topic_prefix)
    async with running(runners, broker_url, topic_prefix, ids) as bridge:
        host, port = broker_url.removeprefix("mqtt://").split(":")
        async with aiomqtt.Client(host, int(port)) as attacker:
            await attacker.publish(scheme.topic(Kind.MEAS, "a0"), b"\x00not json", qos=1)
            await attacker.publish(scheme.topic(Kind.SETPOINT, "a0"), b'{"v": 9, "kind": "setpoint"}', qos=1)
            spoofed = MessageFactory(RUN, "mallory").setpoint(0, {"p_kw": 99.0})
            await attacker.publish(scheme.topic(Kind.SETPOINT, "a0"), encode(spoofed), qos=1)
        result = await bridge.exchange(0, meas(ids, 0))
        assert result.late_agents == ()
        assert result.setpoints["a0"] == meas(ids, 0)["a0"]
        # the broker acknowledged the garbage before the step began, so it was delivered first
        assert bridge.dropped.by_reason() == {"version": 1, "topic_mismatch": 1}
    assert runners[0].dropped.by_reason() == {"malformed": 1}


def test_registry() -> None:
    assert {"echo", "constant", "silent"} <= set(agent_kinds())
    assert agent_class("echo") is EchoAgent
    constant = create_agent("constant", "c1", battery_p_kw=2, t_set_c=None)
    assert isinstance(constant, ConstantAgent)
    assert constant.setpoints == {"battery_p_kw": 2.0, "t_set_c": None}
    with pytest.raises(KeyError, match="registered: "):
        agent_class("nope")
    register_agent_kind("recording-test", RecordingAgent)
    assert agent_class("recording-test") is RecordingAgent
    with pytest.raises(ValueError, match="already registered"):
        register_agent_kind("recording-test", EchoAgent)
    register_agent_kind("broken-test", "no_such_module.deep:Thing")
    with pytest.raises(ImportError, match="broken-test"):
        agent_class("broken-test")
    with pytest.raises(ValueError, match="module:Class"):
        register_agent_kind("bad-test", "no_colon")


async def test_tcp_nodelay_is_set_on_client_sockets(
    broker_url: str, mosquitto_broker: MosquittoBroker, topic_prefix: str
) -> None:
    async def ignore(_: InboundMessage) -> None:
        return None

    for url in (broker_url, mosquitto_broker.url):
        connection = MqttConnection(url, client_id=f"nodelay-{topic_prefix[-8:]}", handler=ignore)
        task = asyncio.create_task(connection.run())
        try:
            assert await connection.wait_connected(TIMEOUT_S)
            assert connection.socket_nodelay() is True
        finally:
            connection.stop()
            await asyncio.wait_for(task, TIMEOUT_S)
        assert connection.socket_nodelay() is None
    # and the default of a plain socket is off, so the option is really ours
    with socket.socket() as plain:
        assert plain.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0


async def test_group_shutdown_without_bridge(broker_url: str, topic_prefix: str) -> None:
    runners = echo_runners(broker_url, topic_prefix, ["a0", "a1"])
    async with AgentGroup(runners) as group:
        assert await group.wait_ready(TIMEOUT_S)
    assert all(r.stopped.is_set() for r in runners)


async def test_agent_host_shares_one_connection(broker_url: str, topic_prefix: str) -> None:
    from controllers.messages import AdmmZMessage, Message
    from controllers.runtime import AgentHost

    class Follower(EchoAgent):
        def __init__(self, agent_id: str) -> None:
            super().__init__(agent_id)
            self.z: list[AdmmZMessage] = []
            self.got_z = asyncio.Event()

        def subscriptions(self) -> list[tuple[Kind, str | None]]:
            return [(Kind.ADMM_Z, "coord")]

        async def on_message(self, message: Message) -> None:
            if isinstance(message, AdmmZMessage):
                self.z.append(message)
                self.got_z.set()

    ids = ["h0", "h1", "h2"]
    agents = [Follower(a) for a in ids]
    async with AgentHost(agents, broker_url, RUN, prefix=topic_prefix) as host:
        assert await host.wait_ready(TIMEOUT_S)
        assert {r.connection for r in host.runners} == {host.connection}
        async with running([], broker_url, topic_prefix, ids) as bridge:
            for tick in range(2):
                result = await bridge.exchange(tick, meas(ids, tick))
                assert result.all_on_time and result.setpoints == meas(ids, tick)
            coordinator = AgentRunner(create_agent("silent", "coord"), broker_url, RUN, prefix=topic_prefix)
            task = asyncio.create_task(coordinator.run())
            await asyncio.wait_for(coordinator.ready.wait(), TIMEOUT_S)
            body = AdmmBroadcastBody(rho=1.0, rows=1, steps=1, x_mean=[0.5], z_mean=[0.5], u_scaled=[0.0])
            z = coordinator.factory.admm_z(1, 3, body)
            assert await coordinator.publish(z)
            await asyncio.wait_for(asyncio.gather(*(a.got_z.wait() for a in agents)), TIMEOUT_S)
            await coordinator.shutdown()
            await task
    assert all(a.z == [z] for a in agents)
    assert all(r.stopped.is_set() for r in host.runners)


async def test_agent_host_hands_a_shared_message_to_each_class_once(
    broker_url: str, topic_prefix: str
) -> None:
    """A round's broadcast to five agents of a class that takes it together (`shared_kinds`): one
    `on_shared_message` call with the live agents in the host's order; the agents it leaves (and an
    agent of another class) get `on_message`; when it raises, none of them gets the message and
    each counts a hook error."""
    from controllers.messages import AdmmZMessage, Message
    from controllers.runtime import AgentHost

    class Follower(EchoAgent):
        def __init__(self, agent_id: str) -> None:
            super().__init__(agent_id)
            self.alone: list[int] = []

        def subscriptions(self) -> list[tuple[Kind, str | None]]:
            return [(Kind.ADMM_Z, "coord")]

        async def on_message(self, message: Message) -> None:
            if isinstance(message, AdmmZMessage):
                self.alone.append(message.iteration or 0)

    class Together(Follower):
        shared_kinds = frozenset({Kind.ADMM_Z.value})
        calls: ClassVar[list[tuple[list[str], int]]] = []

        @classmethod
        async def on_shared_message(cls, agents: Sequence[Agent], message: Message) -> Sequence[Agent]:
            cls.calls.append(([a.agent_id for a in agents], message.iteration or 0))
            if message.iteration == 2:
                raise RuntimeError("a failing shared handler")
            return [a for a in agents if a.agent_id == "t3"]  # left to on_message

    together = [Together(f"t{i}") for i in range(5)]
    other = Follower("o0")
    agents: list[Agent] = [together[0], other, *together[1:]]
    ids = [a.agent_id for a in agents]
    async with AgentHost(agents, broker_url, RUN, prefix=topic_prefix) as host:
        assert await host.wait_ready(TIMEOUT_S)
        host.runners[-1].stop()  # t4: stopped, handles nothing from now on
        async with running([], broker_url, topic_prefix, ids[:-1]):  # t4 went offline
            coordinator = AgentRunner(create_agent("silent", "coord"), broker_url, RUN, prefix=topic_prefix)
            task = asyncio.create_task(coordinator.run())
            await asyncio.wait_for(coordinator.ready.wait(), TIMEOUT_S)
            body = AdmmBroadcastBody(rho=1.0, rows=1, steps=1, x_mean=[0.5], z_mean=[0.5], u_scaled=[0.0])
            for iteration in (1, 2):
                assert await coordinator.publish(coordinator.factory.admm_z(1, iteration, body))

            async def both_handled() -> None:
                while len(Together.calls) < 2 or len(other.alone) < 2:
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(both_handled(), TIMEOUT_S)
            await coordinator.shutdown()
            await task
        errors = [r.stats.hook_errors for r in host.runners]
    assert Together.calls == [(["t0", "t1", "t2", "t3"], 1), (["t0", "t1", "t2", "t3"], 2)]
    assert other.alone == [1, 2]
    assert [a.alone for a in together] == [[], [], [], [1], []]
    assert errors == [1, 0, 1, 1, 1, 0]  # t0, o0, t1, t2, t3, t4 (stopped): the failed call's agents
