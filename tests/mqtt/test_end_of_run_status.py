"""The bridge's end-of-run status (issue 15): `stopping`, and whether the run finished (a final clock
went out) or only ended (ADMM runs send no final clock; a run stopped early)."""

from __future__ import annotations

import asyncio

from controllers.messages import DropCounter, StatusMessage, decode
from controllers.runtime.connection import InboundMessage, MqttConnection
from controllers.topics import Kind, TopicScheme
from tests.mqtt.helpers import RUN, TIMEOUT_S, echo_runners, meas, running

IDS = ["b1", "b2"]


async def _statuses_after(url: str, prefix: str, ticks: int, final_last: bool) -> list[tuple[str, str]]:
    """The bridge's status messages (state, detail) seen by a watcher while a bridge exchanges
    `ticks` ticks with echo agents and stops."""
    seen: list[tuple[str, str]] = []
    stopped = asyncio.Event()

    async def keep(message: InboundMessage) -> None:
        decoded = decode(bytes(message.payload), DropCounter())
        if isinstance(decoded, StatusMessage):
            seen.append((decoded.body.state, decoded.body.detail))
            if decoded.body.state == "stopping":
                stopped.set()

    topic = TopicScheme(run=RUN, prefix=prefix).topic(Kind.STATUS, "bridge")
    watcher = MqttConnection(url, client_id=f"watch-{prefix[-8:]}", handler=keep, subscriptions=[topic])
    task = asyncio.create_task(watcher.run())
    try:
        assert await watcher.wait_connected(TIMEOUT_S)
        async with running(echo_runners(url, prefix, IDS), url, prefix, IDS) as bridge:
            for tick in range(ticks):
                await bridge.exchange(tick, meas(IDS, tick), final=final_last and tick == ticks - 1)
        await asyncio.wait_for(stopped.wait(), TIMEOUT_S)
    finally:
        watcher.stop()
        await asyncio.wait_for(task, TIMEOUT_S)
    return seen


async def test_a_run_that_sent_its_final_clock_has_finished(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    seen = await _statuses_after(session_mosquitto_url, topic_prefix, 3, final_last=True)
    assert seen[-1] == ("stopping", "run finished at tick 2")


async def test_a_run_without_a_final_clock_has_ended(session_mosquitto_url: str, topic_prefix: str) -> None:
    seen = await _statuses_after(session_mosquitto_url, topic_prefix, 2, final_last=False)
    assert seen[-1] == ("stopping", "run ended at tick 1")


async def test_an_agent_ends_with_a_run_that_sent_no_final_clock(
    session_mosquitto_url: str, topic_prefix: str
) -> None:
    """An agent beside a run without a final clock (ADMM) ends on the bridge's `stopping`."""
    url = session_mosquitto_url
    beside = echo_runners(url, topic_prefix, ["beside"])[0]
    task = asyncio.create_task(beside.run())
    try:
        async with running(echo_runners(url, topic_prefix, IDS), url, topic_prefix, IDS) as bridge:
            for tick in range(2):
                await bridge.exchange(tick, meas(IDS, tick))
        await asyncio.wait_for(task, TIMEOUT_S)  # returns once the agent has ended
    finally:
        if not task.done():
            task.cancel()
