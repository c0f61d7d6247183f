"""ADMM over a real MQTT broker: iterations, wall time per control step and optimality gap versus N,
next to the centralised cvxpy solve of the same problem (ratio).

For N = 10, 100, 1000 agents (the district of `bench_admm.py`: 10 % standalone batteries, the rest
heat-pump buildings, 30 % of them with a battery; 96 steps of 15 min; transformer limit at 80 % of
the uncoordinated peak) it runs the MQTT deployment of `cosim run` with `controller: admm`:
the building agents spread over `--workers` processes (each an `AgentHost` on one connection, as
agents would share a gateway), the coordinator in a process of its own, and the lockstep bridge in
this process, which sends every agent its forecast and the clock and waits for the coordinator's
statistics and every agent's setpoints. Two control steps: a cold start, then a warm start from
the first step shifted by one (forecasts came true). The same two steps run in process
(`run_control_step`, one core; up to `--reference-max` agents) as a check: the MQTT rounds must
reach the same iterations. `Σ local solves` is the sum of the agents' OSQP times of a step as they
report them (compute that `--workers` processes share; the rest of the MQTT step is messaging,
decoding and waiting).

Columns: `iters` rounds (cold / warm); `MQTT step` the bridge's wall time per control step
(forecasts out → every setpoint in); `in-process` the same rounds by direct calls on one core;
`gap` (J_admm − J_central)/|J_central|; `central` the centralised wall time (build + canonicalise
+ solve; Clarabel), run in a child process abandoned after `--central-timeout`; `ratio`
central / MQTT step (> 1: the decentralised step is faster).

    python benchmarks/bench_admm_mqtt.py [--sizes 10 100 1000] [--broker mqtt://127.0.0.1:1883]
                                         [--workers 2] [--central-timeout 120]

A broker without `set_tcp_nodelay true` (Debian's default Mosquitto configuration) delays every
round by the client's delayed ACK (~40 ms): the broker's PUBACK for an agent's update and the next
broadcast are two small writes, and Nagle holds the second until the first is acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench_admm import CentralTiming, central_with_timeout

from controllers.admm import AdmmAgent, AgentData, Coordinator, Coupling, SharedLimits, build_agents
from controllers.admm.mqtt import COORDINATOR_ID
from controllers.admm.runner import run_control_step
from controllers.admm.wire import agent_data_to_series
from controllers.messages import AdmmStatsBody, AdmmStatsMessage, Message
from controllers.runtime.host_process import serve_agents
from controllers.topics import Kind
from cosim.mqtt.bridge_core import BridgeCore
from cosim.mqtt.brokers import provide_broker
from experiments.synthetic_district import DistrictSpec, next_step_data, synthetic_district

HORIZON = 96
DT_H = 0.25
PREFIX = "bench-admm"


@dataclass(frozen=True)
class Step:
    iterations: int
    converged: bool
    wall_s: float
    objective: float
    max_violation_kw: float
    sum_solve_s: float


@dataclass(frozen=True)
class Row:
    n_agents: int
    workers: int
    mqtt: tuple[Step, Step]
    inprocess: tuple[Step, Step] | None
    central: tuple[CentralTiming | None, CentralTiming | None]
    limit_kw: float
    messages: int
    megabytes: float


def _district(n_agents: int, seed: int) -> tuple[list[AgentData], SharedLimits]:
    n_storage = max(1, n_agents // 10)
    data = synthetic_district(DistrictSpec(n_agents - n_storage, n_storage, HORIZON, DT_H, seed=seed))
    free = np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in data])
    return data, SharedLimits.transformer(0.8 * float(free.sum(axis=0).max()), HORIZON)


def _in_process(
    data0: list[AgentData], limits: SharedLimits
) -> tuple[tuple[Step, Step], list[list[AgentData]]]:
    """The two steps by direct calls, and each step's data (the second from the first's plans)."""
    coordinator = Coordinator(Coupling.from_limits(tuple(a.name for a in data0), limits))
    agents = build_agents(data0, coordinator)
    steps, data, datas = [], data0, [data0]
    for tick in range(2):
        r = run_control_step(agents, coordinator, tick, data)
        steps.append(
            Step(
                r.iterations,
                r.decision.converged,
                r.wall_time_s,
                r.objective,
                r.max_violation_kw,
                r.sum_solve_time_s,
            )
        )
        data = [next_step_data(a, p) for a, p in zip(data, r.plans, strict=True)]
        datas.append(data)
    return (steps[0], steps[1]), datas


async def _over_mqtt(
    datas: list[list[AgentData]],
    limits: SharedLimits,
    url: str,
    workers: int,
    round_timeout_s: float,
    queue_updates: bool,
) -> tuple[tuple[Step, Step], int, float]:
    names = [d.name for d in datas[0]]
    run = f"bench-{uuid.uuid4().hex[:8]}"
    coordinator = {
        "agents": list(names),
        "limit_kw": float(limits.p_max_kw[0]),
        "horizon": HORIZON,
        "round_timeout_s": round_timeout_s,
    }
    groups: list[list[tuple[str, str, dict[str, Any]]]] = [
        [("admm", n, {"queue_updates": 1} if queue_updates else {}) for n in names[w::workers]]
        for w in range(workers)
    ]
    groups.append([("admm-coordinator", COORDINATOR_ID, coordinator)])
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=serve_agents, args=(g, url, run, PREFIX), daemon=True) for g in groups]
    for p in procs:
        p.start()
    bridge = BridgeCore(url, run, [*names, COORDINATOR_ID], prefix=PREFIX, step_timeout_s=3600.0)
    try:
        await bridge.start(30.0)
        reports: dict[int, AdmmStatsBody] = {}

        def keep(message: Message) -> None:
            if isinstance(message, AdmmStatsMessage):
                reports[message.tick] = message.body

        await bridge.watch(Kind.ADMM_STATS, COORDINATOR_ID, keep)
        missing = await bridge.wait_ready(300.0)
        if missing:
            raise RuntimeError(f"{len(missing)} agents did not come online")
        steps = []
        for tick in range(2):
            forecasts = {d.name: agent_data_to_series(d) for d in datas[tick]}
            r = await bridge.exchange(tick, {}, time_s=900 * tick, step_s=900, forecasts=forecasts)
            if r.late_agents:
                raise RuntimeError(f"late agents at tick {tick}: {list(r.late_agents)[:5]}")
            s = reports[tick]  # the coordinator's admm/stats, sent before its answer
            steps.append(
                Step(
                    s.iterations,
                    s.converged,
                    r.timings.total_s,
                    np.nan if s.objective is None else s.objective,
                    s.max_violation_kw,
                    s.sum_solve_time_ms / 1e3,
                )
            )
        traffic = bridge.recorder.traffic()
        messages = sum(t.messages_in + t.messages_out for t in traffic.values())
        mbytes = sum(t.bytes_in + t.bytes_out for t in traffic.values()) / 1e6
    finally:
        await bridge.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(10.0)
    return (steps[0], steps[1]), messages, mbytes


def bench(
    n_agents: int,
    url: str,
    workers: int,
    timeout_s: float,
    seed: int,
    reference: bool,
    round_timeout_s: float,
    queue_updates: bool = True,
) -> Row:
    data0, limits = _district(n_agents, seed)
    if reference:
        inprocess: tuple[Step, Step] | None
        inprocess, datas = _in_process(data0, limits)
    else:  # the second step's data from the agents' own first plans, without the rounds in process
        inprocess = None
        datas = [data0, [next_step_data(a, AdmmAgent(a).solve_alone()) for a in data0]]
    mqtt, messages, mbytes = asyncio.run(
        _over_mqtt(datas, limits, url, workers, round_timeout_s, queue_updates)
    )
    central = (
        central_with_timeout(datas[0], limits, timeout_s),
        central_with_timeout(datas[1], limits, timeout_s),
    )
    return Row(n_agents, workers, mqtt, inprocess, central, float(limits.p_max_kw[0]), messages, mbytes)


def _pair(a: float, b: float, fmt: str) -> str:
    return f"{a:{fmt}} / {b:{fmt}}"


def print_table(rows: list[Row]) -> None:
    print(
        "| N | workers | iters MQTT (cold / warm) | iters in-process | MQTT step [s] | Σ local solves [s] "
        "| in-process step [s] | gap | viol (rel) | central wall [s] | ratio central/MQTT | bridge msgs, MB |"
    )
    print("|" + "---|" * 12)
    for r in rows:
        m, i = r.mqtt, r.inprocess
        gaps, ratio, central = [], [], []
        for step, c in zip(m, r.central, strict=True):
            if c is None:
                gaps.append("n/a")
                ratio.append("n/a")
                central.append("skipped")
            else:
                gaps.append(f"{100 * (step.objective - c.objective) / abs(c.objective):.4f} %")
                ratio.append(f"{c.wall_s / step.wall_s:.1f}")
                central.append(f"{c.wall_s:.2f}")
        flag = "" if all(s.converged for s in m) else " (not converged)"
        viol = max(s.max_violation_kw for s in m) / r.limit_kw
        its = "n/a" if i is None else f"{i[0].iterations} / {i[1].iterations}"
        wall = "n/a" if i is None else _pair(i[0].wall_s, i[1].wall_s, ".3f")
        print(
            f"| {r.n_agents} | {r.workers} | {m[0].iterations} / {m[1].iterations}{flag} | {its} "
            f"| {_pair(m[0].wall_s, m[1].wall_s, '.3f')} "
            f"| {_pair(m[0].sum_solve_s, m[1].sum_solve_s, '.2f')} "
            f"| {wall} | {' / '.join(gaps)} | {viol:.1e} "
            f"| {' / '.join(central)} | {' / '.join(ratio)} | {r.messages}, {r.megabytes:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument(
        "--broker",
        default=None,
        help="a running broker, e.g. mqtt://127.0.0.1:1883 (default: spawn a Mosquitto with "
        "set_tcp_nodelay, as `cosim run` does)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="agent processes")
    parser.add_argument("--central-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--round-timeout",
        type=float,
        default=60.0,
        help="the coordinator's wait for a round's answers (s); with many agents per worker a round "
        "takes the worker's whole share of local solves, so the deployment default of 2 s would turn "
        "every round into stragglers",
    )
    parser.add_argument(
        "--reference-max", type=int, default=100, help="run the in-process reference up to this N"
    )
    args = parser.parse_args()
    broker = provide_broker(args.broker)
    rows = []
    try:
        for n in args.sizes:
            start = time.perf_counter()
            reference = n <= args.reference_max
            rows.append(
                bench(
                    n,
                    broker.url,
                    args.workers,
                    args.central_timeout,
                    args.seed,
                    reference,
                    args.round_timeout,
                    queue_updates=broker.kind != "external",  # as `cosim run` with its own broker
                )
            )
            print(f"N = {n}: done in {time.perf_counter() - start:.1f} s", flush=True)
            print_table(rows)  # so far, in case a larger size takes long
    finally:
        broker.close()
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
