"""ADMM rounds in a secured run with several agent hosts, each a principal of its own
(`init_security(hosts=...)`), on a real Mosquitto with TLS, passwords and the ACL: every host
answers a round in one signed batch (and takes its agents' forecasts and answers their setpoints in
one each a step), the decisions are those of the in-process rounds, nothing is
rejected; a host that slips another host's agent into its own signed batch is not heard for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from controllers.admm.messages import LocalUpdate
from controllers.admm.mqtt import COORDINATOR_ID, AdmmCoordinatorAgent
from controllers.admm.wire import agent_data_to_series, update_to_body
from controllers.messages import AdmmStatsBody, AdmmStatsMessage, Message, MessageFactory, encode
from controllers.runtime import AgentHost, MqttConnection, create_agent
from controllers.runtime.connection import InboundMessage
from controllers.topics import Kind, TopicScheme
from cosim.mqtt.bridge_core import BridgeCore
from cosim.mqtt.brokers import MosquittoBroker, start_mosquitto
from cosim.security import init_security
from cosim.security.run import RunSecurity
from tests.controllers.test_admm_mqtt import HORIZON, _district, _in_process

pytestmark = pytest.mark.network

PREFIX = "sec-rounds"
RUN = "r1"
TIMEOUT_S = 20.0
STEPS = 2


@contextlib.asynccontextmanager
async def _secured_rounds(tmp_path: Path) -> AsyncIterator[tuple[BridgeCore, AdmmCoordinatorAgent,
                                                                   dict[int, AdmmStatsBody], RunSecurity,
                                                                   MosquittoBroker, list[str]]]:
    data, limit_kw = _district()
    names = [d.name for d in data]
    carried = {"host-0": names[::2], "host-1": names[1::2], "coordinator-host": [COORDINATOR_ID]}
    security = RunSecurity(init_security(names, tmp_path / "security", prefix=PREFIX, hosts=carried))
    agent_hosts = {h: a for h, a in carried.items() if h.startswith("host-")}
    coordinator = create_agent("admm-coordinator", COORDINATOR_ID, agents=names, limit_kw=limit_kw,
                               horizon=HORIZON, hosts=agent_hosts)
    assert isinstance(coordinator, AdmmCoordinatorAgent)
    with start_mosquitto(security=security.broker()) as broker:
        hosts = []
        for host_id, agents in carried.items():
            login = security.host(host_id)
            members = [coordinator] if host_id == "coordinator-host" else [
                create_agent("admm", name, batch_updates=True) for name in agents]
            hosts.append(AgentHost(members, login.broker_url(broker.url), RUN, prefix=PREFIX, host_id=host_id,
                                   middleware=[login.middleware()]))
        bridge_login = security.bridge()
        verifier = bridge_login.middleware()
        bridge = BridgeCore(bridge_login.broker_url(broker.url), RUN, [*names, COORDINATOR_ID], prefix=PREFIX,
                            step_timeout_s=TIMEOUT_S, middleware=[verifier], hosts=agent_hosts)
        async with contextlib.AsyncExitStack() as stack:
            for host in hosts:
                await stack.enter_async_context(host)
                assert await host.wait_ready(TIMEOUT_S)
            await bridge.start(TIMEOUT_S)
            stack.push_async_callback(bridge.stop)
            reports: dict[int, AdmmStatsBody] = {}

            def keep(message: Message) -> None:
                if isinstance(message, AdmmStatsMessage):
                    reports[message.tick] = message.body

            await bridge.watch(Kind.ADMM_STATS, COORDINATOR_ID, keep)
            assert await bridge.wait_ready(TIMEOUT_S) == frozenset()
            yield bridge, coordinator, reports, security, broker, names
            assert verifier.counts == {}


async def test_each_host_answers_in_one_signed_batch_with_the_in_process_decisions(tmp_path: Path) -> None:
    data, limit_kw = _district()
    expected = _in_process(data, limit_kw, STEPS)
    async with _secured_rounds(tmp_path) as (bridge, coordinator, reports, _, _, names):
        for tick, (step_data, want_setpoints, want_iterations) in enumerate(expected):
            forecasts = {d.name: agent_data_to_series(d) for d in step_data}
            result = await bridge.exchange(tick, {}, time_s=3600 * tick, step_s=3600, forecasts=forecasts)
            assert result.all_on_time, result.late_agents
            assert reports[tick].iterations == want_iterations and reports[tick].converged
            for name in names:
                for key, want in want_setpoints[name].items():
                    got = result.setpoints[name].get(key)
                    assert (got is None) if want is None else got == pytest.approx(want, rel=1e-9, abs=1e-9)
        traffic = bridge.recorder.traffic()
    assert coordinator.rejected == {"unknown sender": 0, "duplicate": 0, "not carried": 0}
    rounds = sum(r.iterations for r in reports.values())
    assert 2 * rounds <= coordinator.received["batches"] < coordinator.received["updates"]
    # the forecasts went to each host in one signed batch a step, the setpoints came back in the hosts'
    assert [traffic[host].messages_out for host in ("host-0", "host-1")] == [STEPS, STEPS]
    assert all(traffic[name].messages_out == 0 and traffic[name].batched_in == STEPS for name in names)


async def test_a_host_cannot_speak_for_another_hosts_agent(tmp_path: Path) -> None:
    """host-1, with its valid login and key, sends a round batch on its own topic that holds an entry
    for host-0's agent: the broker lets it through (the topic is host-1's), the signature verifies,
    and the coordinator drops the entry as `not carried`."""
    async with _secured_rounds(tmp_path) as (_, coordinator, _, security, broker, names):
        coordinator.round_key = (0, 0)  # a round open, as `_rounds` would have it
        login = security.host("host-1")
        signer = login.middleware()
        topic = TopicScheme(RUN, PREFIX).topic(Kind.ADMM_X_BATCH, "host-1")
        body = update_to_body(LocalUpdate("x", 0, 0, np.ones(HORIZON), 0.0, 0.0, 1, "solved"))
        forged = MessageFactory(RUN, "host-1").admm_x_batch(0, 0, {names[0]: body})  # names[0] is host-0's
        async def ignore(_: InboundMessage) -> None:
            return None

        connection = MqttConnection(login.broker_url(broker.url), client_id="host-1-forger", handler=ignore)
        task = asyncio.create_task(connection.run())
        try:
            assert await connection.wait_connected(TIMEOUT_S)
            assert await connection.publish(topic, encode(signer.outgoing("host-1", topic, forged)))
            for _ in range(100):
                if coordinator.rejected["not carried"]:
                    break
                await asyncio.sleep(0.05)
        finally:
            connection.stop()
            await task
    assert coordinator.rejected["not carried"] == 1 and names[0] not in coordinator.updates
