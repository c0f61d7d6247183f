"""The lockstep bridge core: 20 agents, late agents and fallbacks, stale setpoints, deadlines,
recording, and the synchronous facade."""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import asdict

import numpy as np
import pytest

from controllers.runtime import AgentHost, AgentRunner, create_agent
from cosim.mqtt.bridge_recording import LatencyStats, MessageRecord, MessageRecorder, percentile
from cosim.mqtt.bridge_sync import SyncBridge
from tests.mqtt.helpers import RUN, TIMEOUT_S, GatedAgent, OnceAgent, echo_runners, meas, running

pytestmark = pytest.mark.network


@pytest.mark.parametrize("hosting", ["connection per agent", "shared connection"])
async def test_lockstep_exchange_with_20_agents(session_mosquitto_url: str, topic_prefix: str,
                                                hosting: str) -> None:
    ids = [f"b{i:02d}" for i in range(20)]
    url = session_mosquitto_url
    host = AgentHost([create_agent("echo", a) for a in ids], url, RUN, prefix=topic_prefix)
    runners = echo_runners(url, topic_prefix, ids) if hosting == "connection per agent" else []
    async with contextlib.AsyncExitStack() as stack:
        if not runners:
            await stack.enter_async_context(host)
            assert await host.wait_ready(TIMEOUT_S)
        bridge = await stack.enter_async_context(running(runners, url, topic_prefix, ids))
        for tick in range(5):
            result = await bridge.exchange(tick, meas(ids, tick), time_s=900 * tick, step_s=900)
            assert result.all_on_time
            assert result.setpoints == meas(ids, tick)
            assert result.measurements_published == 20
            assert result.timings.total_s >= result.timings.wait_s >= 0
        traffic = bridge.recorder.traffic()
        records = bridge.recorder.drain()
        assert bridge.recorder.drain() == []
    for agent in ids:
        assert traffic[agent].messages_out == 5
        assert traffic[agent].rtt.count == 5
        assert traffic[agent].messages_in >= 5  # setpoints plus status announcements
        assert traffic[agent].bytes_in > 0 and traffic[agent].bytes_out > 0
    clock_records = [r for r in records if r.kind == "clock"]
    assert [r.tick for r in clock_records] == [0, 1, 2, 3, 4]
    setpoints = [r for r in records if r.kind == "setpoint"]
    assert len(setpoints) == 100 and all(r.rtt_s is not None and r.rtt_s > 0 for r in setpoints)
    assert all(r.received_unix_s is not None and r.sent_unix_s is not None for r in setpoints)


async def test_late_agent_gets_its_fallback(broker_url: str, topic_prefix: str) -> None:
    ids = ["a0", "a1", "quiet", "once"]
    runners = echo_runners(broker_url, topic_prefix, ids[:2])
    runners.append(AgentRunner(create_agent("silent", "quiet"), broker_url, RUN, prefix=topic_prefix))
    runners.append(AgentRunner(OnceAgent("once"), broker_url, RUN, prefix=topic_prefix))
    async with running(runners, broker_url, topic_prefix, ids, step_timeout_s=0.5) as bridge:
        first = await bridge.exchange(0, meas(ids, 0), fallbacks={"quiet": {"battery_p_kw": 0.0}},
                                      timeout_s=2.0)
        assert first.late_agents == ("quiet",)
        assert first.setpoints["quiet"] == {"battery_p_kw": 0.0}
        assert first.fallback_sources == {"quiet": "caller"}
        assert first.setpoints["once"] == {"p_kw": 7.0}
        second = await bridge.exchange(1, meas(ids, 1))
        assert second.late_agents == ("once", "quiet")
        assert second.fallback_sources == {"once": "last", "quiet": "none"}
        assert second.setpoints["once"] == {"p_kw": 7.0} and second.setpoints["quiet"] == {}
        assert second.setpoints["a0"] == meas(ids, 1)["a0"]


async def test_setpoint_after_its_tick_is_stale(broker_url: str, topic_prefix: str) -> None:
    agent = GatedAgent("g")
    runner = AgentRunner(agent, broker_url, RUN, prefix=topic_prefix)
    async with running([runner], broker_url, topic_prefix, ["g"]) as bridge:
        late = await bridge.exchange(0, meas(["g"], 0), timeout_s=0.2)
        assert late.late_agents == ("g",)
        agent.gate.set()
        on_time = await bridge.exchange(1, meas(["g"], 1))
        assert on_time.late_agents == () and on_time.setpoints["g"] == {"tick": 1.0}
        assert bridge.dropped.by_reason() == {"stale": 1}
        stale = [r for r in bridge.recorder.drain() if r.dropped == "stale"]
        assert len(stale) == 1 and stale[0].tick == 0 and stale[0].rtt_s is None


async def test_real_time_deadline(broker_url: str, topic_prefix: str) -> None:
    ids = ["a0", "quiet"]
    runners = echo_runners(broker_url, topic_prefix, ["a0"])
    runners.append(AgentRunner(create_agent("silent", "quiet"), broker_url, RUN, prefix=topic_prefix))
    async with running(runners, broker_url, topic_prefix, ids) as bridge:
        deadline = time.time() + 0.3
        result = await bridge.exchange(0, meas(ids, 0), deadline_unix_s=deadline)
        assert result.late_agents == ("quiet",)
        assert result.deadline_missed and result.lag_s >= 0.0
        assert time.time() >= deadline
    solo = echo_runners(broker_url, topic_prefix, ["a1"])
    async with running(solo, broker_url, topic_prefix, ["a1"]) as bridge:
        result = await bridge.exchange(0, meas(["a1"], 0), deadline_unix_s=time.time() + TIMEOUT_S)
        assert result.all_on_time and not result.deadline_missed and result.lag_s == 0.0


async def test_exchange_refuses_bad_calls(broker_url: str, topic_prefix: str) -> None:
    async with running(echo_runners(broker_url, topic_prefix, ["a0"]), broker_url, topic_prefix,
                       ["a0"]) as bridge:
        with pytest.raises(KeyError, match="unknown agents"):
            await bridge.exchange(0, {"zz": {"p_kw": 1.0}})
        await bridge.exchange(3, meas(["a0"], 3))
        with pytest.raises(ValueError, match="does not follow"):
            await bridge.exchange(3, meas(["a0"], 3))


@pytest.mark.slow
def test_sync_bridge_with_agent_processes(session_mosquitto_url: str, topic_prefix: str) -> None:
    """The synchronous facade (as a mosaik simulator uses it) against agents started as processes."""
    import subprocess

    ids = ["p0", "p1"]
    processes = [
        subprocess.Popen([sys.executable, "-m", "controllers.agent", "--broker", session_mosquitto_url,
                          "--run", RUN, "--agent", agent, "--kind", "constant", "--prefix", topic_prefix,
                          "--param", f"battery_p_kw={i}", "--param", "t_set_c=none"])
        for i, agent in enumerate(ids)
    ]
    try:
        with SyncBridge(session_mosquitto_url, RUN, ids, prefix=topic_prefix,
                        step_timeout_s=TIMEOUT_S) as bridge:
            assert bridge.wait_ready(TIMEOUT_S * 2) == frozenset()
            for tick in range(3):
                result = bridge.exchange(tick, meas(ids, tick), time_s=900 * tick)
                assert result.all_on_time
                assert result.setpoints == {"p0": {"battery_p_kw": 0.0, "t_set_c": None},
                                            "p1": {"battery_p_kw": 1.0, "t_set_c": None}}
            assert len([r for r in bridge.drain_rows() if r["kind"] == "setpoint"]) == 6
            bridge.exchange(3, meas(ids, 3), final=True)
            assert len([r for r in bridge.drain_records() if r.kind == "setpoint"]) == 2
            assert set(bridge.traffic()) >= set(ids)
            assert bridge.rtt().count == 8
            assert bridge.dropped() == {}
        for process in processes:
            assert process.wait(timeout=TIMEOUT_S) == 0  # the final clock ends them
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_latency_stats() -> None:
    assert LatencyStats.of([]).median_s is None
    stats = LatencyStats.of([0.003, 0.001, 0.002])
    assert (stats.count, stats.median_s, stats.max_s) == (3, 0.002, 0.003)
    assert percentile([0.0, 1.0], 50.0) == 0.5
    assert percentile(list(range(101)), 99.0) == 99.0


def test_batch_round_trips_are_kept_once_with_the_statistics_of_every_agents_samples() -> None:
    """A batch's round trip is stored once per host (a long run's memory grows with its batches, not
    agents × steps), yet every agent's statistics and the run's are exactly those of the samples
    listed one by one: two hosts, partial batches (an agent late in some steps), batches without
    a sample, agents with setpoints of their own, odd and even counts."""
    rng = np.random.default_rng(7)
    recorder = MessageRecorder(keep_records=False)
    listed: dict[str, list[float]] = {}
    hosts = {"h1": [f"a{i}" for i in range(5)], "h2": [f"b{i}" for i in range(3)]}
    for step in range(200):
        for host, agents in hosts.items():
            carried = [a for a in agents if rng.random() > 0.1]
            rtt = None if step % 17 == 0 else float(rng.exponential(0.01))
            recorder.add_batched("in", carried, rtt, host=host)
            for agent in carried if rtt is not None else []:
                listed.setdefault(agent, []).append(rtt)  # type: ignore[arg-type]
        own = float(rng.exponential(0.02))
        recorder.add_row("in", "p/r/setpoint/c", "setpoint", "c", "c", step, step, 50, None, None, own)
        listed.setdefault("c", []).append(own)
    traffic = recorder.traffic()
    for agent, samples in listed.items():
        assert traffic[agent].rtt == LatencyStats.of(samples), agent
    got, want = recorder.rtt(), LatencyStats.of([s for samples in listed.values() for s in samples])
    assert (got.count, got.median_s, got.p99_s, got.max_s) == (want.count, want.median_s, want.p99_s,
                                                                want.max_s)
    assert got.mean_s == pytest.approx(want.mean_s, rel=1e-12)
    assert sum(len(s) for s in recorder._batch_rtt.values()) < 400  # one per batch with a sample
    recorder.add_batched("in", ["a0"], 0.5, host="h1")
    assert recorder.rtt().count == want.count + 1 and recorder.rtt().max_s == 0.5


def test_recorder_rows_and_records_agree() -> None:
    recorder = MessageRecorder()
    recorder.add_row("out", "p/r/meas/a", "meas", "a", "bridge", 3, 7, 120, 1.5, None)
    recorder.add(MessageRecord("in", "p/r/setpoint/a", "setpoint", "a", "a", 3, 2, 80, 1.6, 1.7, 0.2))
    recorder.add_row("in", "p/r/setpoint/b", "", "b", "", None, None, 5, None, 1.8, None, "malformed")
    rows = [
        ("out", "p/r/meas/a", "meas", "a", "bridge", 3, 7, 120, 1.5, None, None, None),
        ("in", "p/r/setpoint/a", "setpoint", "a", "a", 3, 2, 80, 1.6, 1.7, 0.2, None),
        ("in", "p/r/setpoint/b", "", "b", "", None, None, 5, None, 1.8, None, "malformed"),
    ]
    assert recorder.drain() == [MessageRecord(*row) for row in rows]  # type: ignore[arg-type]
    assert recorder.drain() == [] and recorder.drain_rows() == []
    for row in rows:
        recorder.add(MessageRecord(*row))  # type: ignore[arg-type]
    assert recorder.drain_rows() == [asdict(MessageRecord(*row)) for row in rows]  # type: ignore[arg-type]
    traffic = recorder.traffic()
    assert (traffic["a"].messages_out, traffic["a"].bytes_out, traffic["a"].messages_in) == (2, 240, 2)
    assert (traffic["b"].messages_in, traffic["b"].dropped_in) == (2, 2)
    assert traffic["a"].rtt.count == 2 and recorder.rtt().median_s == 0.2
