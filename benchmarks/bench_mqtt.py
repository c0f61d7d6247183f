"""MQTT control-plane benchmark: broker round trip and throughput, and lockstep step time.

    python benchmarks/bench_mqtt.py            # full: 10, 100 and 1000 agents
    python benchmarks/bench_mqtt.py --quick    # fewer samples, 10 and 100 agents

Round trip: client A publishes a 200-byte payload, client B (subscribed) publishes it back, A
receives it: two passes through the broker, as between the bridge and an agent. Both clients
use TCP_NODELAY; the spawned Mosquitto runs with `set_tcp_nodelay true`.
Throughput: one client publishes N messages, another receives them; N / (last receipt − first
publish). Lockstep: `BridgeCore.exchange` with N echo agents as tasks in this process, each with its own
MQTT connection (`AgentGroup`) or all on one shared connection (`AgentHost`), QoS 1, Mosquitto:
wall time per control step. The "shared, threads" rows run as a co-simulation does
(`cosim.mqtt.plane`): the agents' `AgentHost` on an event loop in one thread, the bridge
(`SyncBridge`) on another, `exchange` called from the main thread; "CPU/step" is the process's CPU
time per step (all threads; the GIL lets them run one at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from controllers.runtime import AgentGroup, AgentHost, AgentRunner, MqttConnection, create_agent
from controllers.runtime.connection import InboundMessage
from cosim.mqtt.bridge_core import BridgeCore
from cosim.mqtt.bridge_recording import percentile
from cosim.mqtt.bridge_sync import SyncBridge
from cosim.mqtt.brokers import find_mosquitto, start_embedded_broker, start_mosquitto

PAYLOAD = b"x" * 200
LOCKSTEP_ROWS = (("per agent", 1), ("shared", 1), ("shared", 0), ("threads", 1), ("threads", 0))


@dataclass(frozen=True)
class BrokerRow:
    broker: str
    qos: int
    rtt_median_ms: float
    rtt_p99_ms: float
    throughput_msgs_per_s: float


@dataclass(frozen=True)
class LockstepRow:
    broker: str
    hosting: str
    qos: int
    agents: int
    steps: int
    step_median_ms: float
    step_p95_ms: float
    rtt_median_ms: float
    late: int
    connect_s: float
    cpu_ms: float | None = None


@contextmanager
def broker(kind: str) -> Iterator[str]:
    if kind == "mosquitto":
        mosquitto = start_mosquitto()
        try:
            yield mosquitto.url
        finally:
            mosquitto.close()
    else:
        embedded = start_embedded_broker()
        try:
            yield embedded.url
        finally:
            embedded.stop()


Handler = Callable[[InboundMessage], Awaitable[None]]


async def _ignore(_: InboundMessage) -> None:
    return None


async def _connected(url: str, name: str, handler: Handler, subscriptions: Sequence[str],
                     qos: int) -> tuple[MqttConnection, asyncio.Task[None]]:
    connection = MqttConnection(url, client_id=f"bench-{name}-{uuid.uuid4().hex[:6]}", handler=handler,
                                subscriptions=subscriptions, qos=qos)
    task = asyncio.create_task(connection.run())
    if not await connection.wait_connected(10.0):
        raise RuntimeError(f"benchmark client {name} could not connect to {url}")
    return connection, task


async def _close(*pairs: tuple[MqttConnection, asyncio.Task[None]]) -> None:
    for connection, _ in pairs:
        connection.stop()
    await asyncio.gather(*(task for _, task in pairs))


async def round_trip_ms(url: str, qos: int, samples: int, warmup: int = 50) -> list[float]:
    root = f"bench/{uuid.uuid4().hex[:8]}"
    arrived: asyncio.Queue[float] = asyncio.Queue()
    echo_box: list[MqttConnection] = []

    async def on_pong(_: InboundMessage) -> None:
        arrived.put_nowait(time.perf_counter())

    async def on_ping(message: InboundMessage) -> None:
        await echo_box[0].publish_many([(f"{root}/pong", PAYLOAD)])

    echo = await _connected(url, "echo", on_ping, [f"{root}/ping"], qos)
    echo_box.append(echo[0])
    pinger = await _connected(url, "ping", on_pong, [f"{root}/pong"], qos)
    result: list[float] = []
    try:
        for i in range(warmup + samples):
            start = time.perf_counter()
            await pinger[0].publish_many([(f"{root}/ping", PAYLOAD)])
            end = await asyncio.wait_for(arrived.get(), 10.0)
            if i >= warmup:
                result.append((end - start) * 1e3)
    finally:
        await _close(pinger, echo)
    return result


async def throughput(url: str, qos: int, count: int) -> float:
    root = f"bench/{uuid.uuid4().hex[:8]}"
    received = 0
    done = asyncio.Event()

    async def on_message(_: InboundMessage) -> None:
        nonlocal received
        received += 1
        if received == count:
            done.set()

    subscriber = await _connected(url, "sub", on_message, [f"{root}/t"], qos)
    publisher = await _connected(url, "pub", _ignore, [], qos)
    try:
        start = time.perf_counter()
        batch = 200
        for first in range(0, count, batch):
            await publisher[0].publish_many([(f"{root}/t", PAYLOAD)] * min(batch, count - first))
            await asyncio.sleep(0)  # let the socket drain between batches
        await asyncio.wait_for(done.wait(), 120.0)
        return count / (time.perf_counter() - start)
    finally:
        await _close(publisher, subscriber)


async def lockstep(url: str, broker_name: str, agents: int, steps: int, shared: bool,
                   qos: int = 1) -> LockstepRow:
    prefix, run = f"bench{uuid.uuid4().hex[:6]}", "bench"
    ids = [f"a{i:04d}" for i in range(agents)]
    group: AgentGroup | AgentHost
    if shared:
        group = AgentHost([create_agent("echo", a) for a in ids], url, run, prefix=prefix, qos=qos)
    else:
        group = AgentGroup([AgentRunner(create_agent("echo", a), url, run, prefix=prefix, qos=qos)
                            for a in ids])
    start = time.perf_counter()
    async with group:
        if not await group.wait_ready(120.0):
            raise RuntimeError(f"{agents} agents did not connect")
        bridge = BridgeCore(url, run, ids, prefix=prefix, step_timeout_s=60.0, qos=qos)
        await bridge.start()
        try:
            missing = await bridge.wait_ready(60.0)
            if missing:
                raise RuntimeError(f"{len(missing)} agents not online")
            connect_s = time.perf_counter() - start
            await bridge.exchange(0, {a: {"p_kw": 0.0} for a in ids})  # warm-up
            times, late = [], 0
            cpu_start = time.process_time()
            for tick in range(1, steps + 1):
                values = {a: {"p_kw": float(tick), "pv_kw": 0.5, "soc": 0.5} for a in ids}
                result = await bridge.exchange(tick, values, time_s=900 * tick, step_s=900)
                times.append(result.timings.total_s * 1e3)
                late += len(result.late_agents)
            cpu_ms = (time.process_time() - cpu_start) / steps * 1e3
            rtt = bridge.recorder.rtt()
        finally:
            await bridge.stop()
    ordered = sorted(times)
    hosting = "shared" if shared else "per agent"
    return LockstepRow(broker_name, hosting, qos, agents, steps, statistics.median(ordered),
                       percentile(ordered, 95.0), (rtt.median_s or 0.0) * 1e3, late, connect_s, cpu_ms)


class _AgentThread:
    """An `AgentHost` on its own event loop in a background thread (as `cosim.mqtt.plane`)."""

    def __init__(self, ids: Sequence[str], url: str, run: str, prefix: str, qos: int) -> None:
        self._ids, self._url, self._run, self._prefix, self._qos = ids, url, run, prefix, qos
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        if not self._ready.wait(60.0):
            raise RuntimeError("agent thread did not start")

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        host = AgentHost([create_agent("echo", a) for a in self._ids], self._url, self._run,
                         prefix=self._prefix, qos=self._qos)
        host.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await host.shutdown()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30.0)


def lockstep_threads(url: str, broker_name: str, agents: int, steps: int, qos: int = 1) -> LockstepRow:
    """As a co-simulation runs it: agents in one thread, the bridge in another, steps from this one."""
    prefix, run = f"bench{uuid.uuid4().hex[:6]}", "bench"
    ids = [f"a{i:04d}" for i in range(agents)]
    start = time.perf_counter()
    host = _AgentThread(ids, url, run, prefix, qos)
    try:
        with SyncBridge(url, run, ids, prefix=prefix, step_timeout_s=60.0, qos=qos) as bridge:
            missing = bridge.wait_ready(120.0)
            if missing:
                raise RuntimeError(f"{len(missing)} agents not online")
            connect_s = time.perf_counter() - start
            bridge.exchange(0, {a: {"p_kw": 0.0} for a in ids})  # warm-up
            getattr(bridge, "drain_rows", bridge.drain_records)()  # drain_rows: since the tuning
            times, late = [], 0
            cpu_start = time.process_time()
            for tick in range(1, steps + 1):
                values = {a: {"p_kw": float(tick), "pv_kw": 0.5, "soc": 0.5} for a in ids}
                result = bridge.exchange(tick, values, time_s=900 * tick, step_s=900)
                getattr(bridge, "drain_rows", bridge.drain_records)()  # drain_rows: since the tuning
                times.append(result.timings.total_s * 1e3)
                late += len(result.late_agents)
            cpu_ms = (time.process_time() - cpu_start) / steps * 1e3
            rtt = bridge.rtt()
    finally:
        host.close()
    ordered = sorted(times)
    return LockstepRow(broker_name, "shared, threads", qos, agents, steps, statistics.median(ordered),
                       percentile(ordered, 95.0), (rtt.median_s or 0.0) * 1e3, late, connect_s, cpu_ms)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MQTT round trip, throughput and lockstep benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer samples; 10 and 100 agents only")
    parser.add_argument("--agents", type=int, nargs="*", help="agent counts for the lockstep part")
    parser.add_argument("--steps", type=int, help="lockstep steps per row (default 20, 5 above 100 agents)")
    parser.add_argument("--skip", nargs="*", default=[], help="parts to leave out",
                        choices=["round-trip", "per agent", "shared", "threads"])
    args = parser.parse_args(argv)
    samples, count = (300, 2000) if args.quick else (2000, 20000)
    agent_counts = args.agents or ([10, 100] if args.quick else [10, 100, 1000])
    brokers = (["mosquitto"] if find_mosquitto() else []) + ["embedded"]
    load = os.getloadavg()[0]
    print(f"# MQTT benchmark (loopback, {os.cpu_count()} CPUs, load average {load:.2f})\n")

    rows: list[BrokerRow] = []
    for kind in brokers if "round-trip" not in args.skip else []:
        with broker(kind) as url:
            for qos in (0, 1):
                rtt = sorted(asyncio.run(round_trip_ms(url, qos, samples)))
                rate = asyncio.run(throughput(url, qos, count))
                rows.append(BrokerRow(kind, qos, statistics.median(rtt), percentile(rtt, 99.0), rate))
    if rows:
        print("| broker | QoS | round trip median (ms) | round trip p99 (ms) | throughput (msg/s) |")
        print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row.broker} | {row.qos} | {row.rtt_median_ms:.3f} | {row.rtt_p99_ms:.3f} "
              f"| {row.throughput_msgs_per_s:,.0f} |")

    print("\n| broker | agent connections | QoS | agents | steps | step median (ms) | step p95 (ms) "
          "| CPU/step (ms) | agent RTT median (ms) | late | setup (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    lock_broker = brokers[0]
    with broker(lock_broker) as url:
        for agents in agent_counts:
            steps = args.steps or (20 if agents <= 100 else 5)
            for hosting, qos in LOCKSTEP_ROWS:
                if hosting in args.skip:
                    continue
                if hosting == "threads":
                    step = lockstep_threads(url, lock_broker, agents, steps, qos)
                else:
                    step = asyncio.run(lockstep(url, lock_broker, agents, steps, hosting == "shared", qos))
                cpu = "" if step.cpu_ms is None else f"{step.cpu_ms:.1f}"
                print(f"| {step.broker} | {step.hosting} | {step.qos} | {step.agents} | {step.steps} "
                      f"| {step.step_median_ms:.1f} | {step.step_p95_ms:.1f} | {cpu} "
                      f"| {step.rtt_median_ms:.2f} | {step.late} | {step.connect_s:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
