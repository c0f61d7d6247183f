"""ADMM over a real MQTT broker: iterations, wall time per control step and optimality gap versus N,
on the platform's own broker and on a default-configured one, next to the centralised cvxpy solve
of the same problem (ratio).

For N = 10, 100, 1000 agents (the district of `bench_admm.py`: 10 % standalone batteries, the rest
heat-pump buildings, 30 % of them with a battery; 96 steps of 15 min; transformer limit at 80 % of
the uncoordinated peak) it runs the MQTT deployment of `cosim run` with `controller: admm`:
the building agents spread over host processes (each an `AgentHost` on one connection, as agents
would share a gateway; `--workers`, and at least one per `--max-agents-per-host` agents, so
N = 10,000 runs on 10 hosts), the coordinator in a process of its own, and the lockstep bridge in
this process, which sends every agent its forecast and the clock and waits for the coordinator's
statistics and every agent's setpoints. Two control steps: a cold start, then a warm start from
the first step shifted by one (forecasts came true). Every round goes through the broker.

Each N runs on the platform's broker (a spawned Mosquitto with `set_tcp_nodelay true`, or `--broker
URL`) and, up to `--compare-max` agents, once more on `--default-broker` (default: the Mosquitto on
127.0.0.1:1883, Debian's default configuration; `none` to skip): `default / tuned` is the ratio of
the step times. Up to N = `--repeats-max` (100) each broker runs `--repeats` times, alternating, and
the table shows the median step times (the first run's iterations and timings otherwise). The same
two steps run in process (`run_control_step`, one core; up to `--reference-max` agents) as a check:
the MQTT rounds must reach the same iterations. `Σ local solves` is the sum of the agents' OSQP
times of a step as they report them (compute that the hosts share; the rest of the MQTT step is
messaging, decoding and waiting).

Columns: `iters` rounds (cold / warm); `MQTT step` the bridge's wall time per control step
(forecasts out → every setpoint in); `in-process` the same rounds by direct calls on one core;
`gap` (J_admm − J_central)/|J_central|, or where the centralised solve is not run or does not finish
(from N = `--bound-from` on) "≤ x % (bound)": (J_admm − d)/|d| with d the certified dual
bound at the coordinator's last broadcast multiplier (`controllers.admm.dual_bound`), an upper bound
on the gap; `central` the centralised wall time (build + canonicalise
+ solve; Clarabel), run in a child process abandoned after `--central-timeout` ("> T" then, and the
ratio "> T / step"; skipped above `--central-max` agents); `ratio` central / MQTT step (> 1: the
decentralised step is faster).

Up to `--security-max` agents each N also runs on a secured Mosquitto (TLS, passwords, the ACL of
`cosim security init`, every message signed and verified; docs/security.md), alternating with the
tuned runs: `secured / tuned` is the ratio of the step times (cold / warm).

`--breakdown N` also prints where the rounds of N's cold and warm steps went: the round's wall
time (from one broadcast's arrival at the bridge to the next), the local solves per host (Σ solve
/ hosts), the coordinator's z-update, the encoding and decoding of the round's messages (their
count × the per-message cost measured here), and the rest (the broker, waking up, waiting for the
slowest host).

    python benchmarks/bench_admm_mqtt.py [--sizes 10 100 1000] [--broker mqtt://...]
                                         [--default-broker mqtt://127.0.0.1:1883] [--workers 2]
                                         [--central-timeout 120] [--breakdown 1000]

Each host answers a round in one `batch/admm-x` message (`--updates agent`: each agent in its own
`admm/x` message, as agents on their own devices do). The agents queue their round updates (no
wait for the PUBACK) on every broker: the platform's MQTT
session sets TCP_NODELAY and re-arms TCP_QUICKACK after every read, so the Nagle / delayed-ACK
stall of a broker without `set_tcp_nodelay` does not occur (`docs/mqtt.md`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import math
import multiprocessing as mp
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_admm import CentralTiming, central_with_timeout

from controllers.admm import AdmmAgent, AgentData, Coordinator, Coupling, SharedLimits, alm_qp, build_agents
from controllers.admm.dual_bound import coordinator_multipliers, dual_bound
from controllers.admm.messages import AgentPlan, LocalUpdate
from controllers.admm.mqtt import COORDINATOR_ID
from controllers.admm.runner import run_control_step
from controllers.admm.wire import agent_data_to_series
from controllers.messages import (
    AdmmBroadcastBody,
    AdmmDecisionBody,
    AdmmPackedUpdates,
    AdmmRound,
    AdmmStatsBody,
    AdmmStatsMessage,
    AdmmXBatchMessage,
    AdmmZMessage,
    DropCounter,
    Message,
    RoundUpdate,
    decode_for_topic,
    encode,
)
from controllers.runtime.broker_url import parse_broker_url
from controllers.runtime.collector import StepCollector
from controllers.runtime.host import round_chunks
from controllers.runtime.host_process import serve_agents
from controllers.runtime.stamping import LeanMessageFactory
from controllers.topics import Kind, TopicScheme
from cosim.mqtt.bridge_core import BridgeCore
from cosim.mqtt.brokers import provide_broker, start_mosquitto
from cosim.security import init_security
from cosim.security.run import RunSecurity
from experiments.synthetic_district import DistrictSpec, next_step_data, synthetic_district

HORIZON = 96
DT_H = 0.25
PREFIX = "bench-admm"
COORDINATOR_HOST = "coordinator-host"


@dataclass(frozen=True)
class Step:
    iterations: int
    converged: bool
    wall_s: float
    objective: float
    max_violation_kw: float
    sum_solve_s: float
    rounds: tuple[AdmmRound, ...] = ()
    round_wall_s: tuple[float, ...] = ()  # from a broadcast's arrival at the bridge to the next's
    bound: float | None = None  # a certified lower bound on the optimum (controllers.admm.dual_bound)


@dataclass(frozen=True)
class Mqtt:
    steps: tuple[Step, Step]
    messages: int
    megabytes: float
    cpu_s: float = math.nan  # CPU of the steps: this process, the agents' and `cpu_pids`' processes
    more_warm_s: tuple[float, ...] = ()  # wall times of the warm steps after the first (`datas` beyond two)


def process_cpu_s(pid: int | None) -> float:
    """CPU time (s) of a running process of this machine (Linux /proc), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class TimedOut:
    """A centralised solve abandoned after `seconds` (it would have taken longer)."""

    seconds: float


Central = CentralTiming | TimedOut | None  # None: not run


@dataclass(frozen=True)
class Row:
    n_agents: int
    hosts: int
    tuned: tuple[Mqtt, ...]  # one per repeat, alternating with the default broker's
    default: tuple[Mqtt, ...]
    inprocess: tuple[Step, Step] | None
    central: tuple[Central, Central]
    limit_kw: float
    secured: tuple[Mqtt, ...] = ()  # on a secured broker (TLS, ACL, signed messages), alternating


@dataclass
class _Watch:
    """What the bridge sees of the coordinator: broadcast arrival times, decisions, statistics."""

    arrivals: dict[int, list[float]] = field(default_factory=dict)
    decided_at: dict[int, float] = field(default_factory=dict)
    decisions: dict[int, AdmmDecisionBody] = field(default_factory=dict)
    reports: dict[int, AdmmStatsBody] = field(default_factory=dict)
    last_broadcast: dict[int, AdmmBroadcastBody] = field(default_factory=dict)

    def on_z(self, message: Message) -> None:
        now = time.perf_counter()
        if isinstance(message, AdmmZMessage):
            if isinstance(message.body, AdmmBroadcastBody):
                self.arrivals.setdefault(message.tick, []).append(now)
                self.last_broadcast[message.tick] = message.body
            elif isinstance(message.body, AdmmDecisionBody):
                self.decided_at[message.tick] = now
                self.decisions[message.tick] = message.body

    def on_stats(self, message: Message) -> None:
        if isinstance(message, AdmmStatsMessage):
            self.reports[message.tick] = message.body

    def round_walls(self, tick: int) -> tuple[float, ...]:
        times = [*self.arrivals.get(tick, []), self.decided_at.get(tick, math.nan)]
        return tuple(float(b - a) for a, b in itertools.pairwise(times))


def _district(n_agents: int, seed: int) -> tuple[list[AgentData], SharedLimits, list[AgentPlan]]:
    n_storage = max(1, n_agents // 10)
    data = synthetic_district(DistrictSpec(n_agents - n_storage, n_storage, HORIZON, DT_H, seed=seed))
    free = [AdmmAgent(a).solve_alone() for a in data]
    peak = float(np.stack([p.p_net_kw for p in free]).sum(axis=0).max())
    return data, SharedLimits.transformer(0.8 * peak, HORIZON), free


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
    hosts: int,
    round_timeout_s: float,
    batch: bool = True,
    security: RunSecurity | None = None,
    bound: bool = False,
    cpu_pids: Sequence[int] = (),
) -> Mqtt:
    """The steps over MQTT on the broker at `url`, one per entry of `datas` (the first cold, the rest
    warm; `Mqtt.steps` are the first two, `Mqtt.more_warm_s` the walls of the rest); `security`: a
    secured run (the broker runs with the folder's TLS, passwords and ACL, made by
    `security_folder`; each host logs in and signs as its principal, the bridge as `bridge`).
    `batch`: the bridge knows the agent hosts (their agents' forecasts go in one message per host,
    their setpoints come back in one) and each host answers a round in one message; else one
    message per agent for each. `cpu_pids`: further processes (the broker) whose CPU time counts in
    `Mqtt.cpu_s`."""
    names = [d.name for d in datas[0]]
    run = f"bench-{uuid.uuid4().hex[:8]}"
    host_ids = [f"host-{w}" for w in range(hosts)]
    carried = {host_ids[w]: names[w::hosts] for w in range(hosts)} if batch else {}
    coordinator = {
        "agents": list(names),
        "limit_kw": float(limits.p_max_kw[0]),
        "horizon": HORIZON,
        "round_timeout_s": round_timeout_s,
        "hosts": carried,
    }
    groups: list[list[tuple[str, str, dict[str, Any]]]] = [
        [("admm", n, {"batch_updates": batch}) for n in names[w::hosts]] for w in range(hosts)
    ]
    groups.append([("admm-coordinator", COORDINATOR_ID, coordinator)])
    host_ids.append(COORDINATOR_HOST)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=serve_agents, args=(g, url, run, PREFIX),
                         kwargs={"host_id": h, "security": None if security is None else security.host(h)},
                         daemon=True)
             for g, h in zip(groups, host_ids, strict=True)]
    for p in procs:
        p.start()
    login = None if security is None else security.bridge()
    middleware = [] if login is None else [login.middleware()]
    # the bridge's process is the benchmark's: its garbage collector skips what each step leaves alive,
    # as the agents' host processes do (`controllers.runtime.collector`)
    bridge = BridgeCore(url if login is None else login.broker_url(url), run, [*names, COORDINATOR_ID],
                        prefix=PREFIX, step_timeout_s=3600.0, hosts=carried, middleware=middleware,
                        collector=StepCollector())
    watch = _Watch()
    try:
        await bridge.start(30.0)
        await bridge.watch(Kind.ADMM_STATS, COORDINATOR_ID, watch.on_stats)
        await bridge.watch(Kind.ADMM_Z, COORDINATOR_ID, watch.on_z)
        missing = await bridge.wait_ready(600.0)
        if missing:
            raise RuntimeError(f"{len(missing)} agents did not come online")
        steps = []

        def cpu_s() -> float:
            own = os.times()
            pids = [p.pid for p in procs if p.pid is not None] + list(cpu_pids)
            return own.user + own.system + sum(process_cpu_s(pid) for pid in pids)

        cpu_before = cpu_s()
        for tick in range(len(datas)):
            forecasts = {d.name: agent_data_to_series(d) for d in datas[tick]}
            r = await bridge.exchange(tick, {}, time_s=900 * tick, step_s=900, forecasts=forecasts)
            if r.late_agents:
                raise RuntimeError(f"late agents at tick {tick}: {list(r.late_agents)[:5]}")
            s = watch.reports[tick]  # the coordinator's admm/stats, sent before its answer
            decision = watch.decisions.get(tick)
            steps.append(
                Step(
                    s.iterations,
                    s.converged,
                    r.timings.total_s,
                    np.nan if s.objective is None else s.objective,
                    s.max_violation_kw,
                    s.sum_solve_time_ms / 1e3,
                    tuple(decision.rounds) if decision is not None else (),
                    watch.round_walls(tick),
                )
            )
        cpu_used = cpu_s() - cpu_before
        if middleware and middleware[0].counts:
            raise RuntimeError(f"the bridge rejected messages: {middleware[0].counts}")
        traffic = bridge.recorder.traffic()
        messages = sum(t.messages_in + t.messages_out for t in traffic.values())
        mbytes = sum(t.bytes_in + t.bytes_out for t in traffic.values()) / 1e6
    finally:
        await bridge.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(10.0)
    if bound:  # after the run: ~4 ms an agent, which would hold the bridge's event loop between steps
        steps[:2] = [dataclasses.replace(step, bound=_bound(datas[tick], limits, watch.last_broadcast[tick]))
                     for tick, step in enumerate(steps[:2])]
    return Mqtt((steps[0], steps[1]), messages, mbytes, cpu_used, tuple(step.wall_s for step in steps[2:]))


def security_folder(names: list[str], hosts: int, folder: Path) -> RunSecurity:
    """A security folder for the agents `names` on `hosts` hosts (`host-w` carries `names[w::hosts]`)
    and the coordinator on a host of its own: a principal per host, as hosts that run at the same
    time need (`init_security`)."""
    carried: dict[str, list[str]] = {f"host-{w}": names[w::hosts] for w in range(hosts)}
    carried[COORDINATOR_HOST] = [COORDINATOR_ID]
    return RunSecurity(init_security(names, folder, prefix=PREFIX, hosts=carried))


def _bound(data: list[AgentData], limits: SharedLimits, last: AdmmBroadcastBody) -> float:
    """The certified dual bound at the multiplier of the step's last broadcast (one round before
    the final one: a valid bound, marginally looser than at the final multiplier)."""
    u_scaled = np.reshape(np.asarray(last.u_scaled, dtype=float), (last.rows, last.steps))
    coupling = Coupling.from_limits(tuple(d.name for d in data), limits)
    return dual_bound(data, coupling, coordinator_multipliers(last.rho, u_scaled)).value


def hosts_for(n_agents: int, workers: int, max_agents_per_host: int) -> int:
    """Agent host processes for N agents: `workers`, and at least one per `max_agents_per_host`."""
    return max(workers, math.ceil(n_agents / max_agents_per_host))


def bench(
    n_agents: int,
    urls: tuple[str, str | None],
    hosts: int,
    timeout_s: float | None,
    seed: int,
    reference: bool,
    round_timeout_s: float,
    repeats: int = 1,
    batch: bool = True,
    secure: bool = False,
    bound: bool = False,
) -> Row:
    """N's row: over MQTT on the tuned broker (`urls[0]`) and, unless None, on the default one,
    `repeats` times each, alternating."""
    data0, limits, free = _district(n_agents, seed)
    if reference:
        inprocess: tuple[Step, Step] | None
        inprocess, datas = _in_process(data0, limits)
    else:  # the second step's data from the agents' own first plans, without the rounds in process
        inprocess = None
        datas = [data0, [next_step_data(a, p) for a, p in zip(data0, free, strict=True)]]
    tuned: list[Mqtt] = []
    default: list[Mqtt] = []
    secured: list[Mqtt] = []
    with contextlib.ExitStack() as stack:
        security = secured_url = None
        if secure:  # a security folder for these agents and a Mosquitto that enforces it
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "security"
            security = security_folder([d.name for d in data0], hosts, folder)
            secured_broker = start_mosquitto(security=security.broker())
            stack.callback(secured_broker.close)
            secured_url = secured_broker.url
        for repeat in range(repeats):
            tuned.append(asyncio.run(_over_mqtt(datas, limits, urls[0], hosts, round_timeout_s, batch,
                                                bound=bound and repeat == 0)))
            if urls[1] is not None:
                default.append(asyncio.run(_over_mqtt(datas, limits, urls[1], hosts, round_timeout_s, batch)))
            if secured_url is not None:
                secured.append(asyncio.run(
                    _over_mqtt(datas, limits, secured_url, hosts, round_timeout_s, batch, security)))
    central: tuple[Central, Central] = (None, None)
    if timeout_s is not None:
        solved = [central_with_timeout(datas[tick], limits, timeout_s) for tick in range(2)]
        central = (solved[0] or TimedOut(timeout_s), solved[1] or TimedOut(timeout_s))
    return Row(n_agents, hosts, tuple(tuned), tuple(default), inprocess, central, float(limits.p_max_kw[0]),
               tuple(secured))


def _pair(a: float, b: float, fmt: str) -> str:
    return f"{a:{fmt}} / {b:{fmt}}"


def median_walls(runs: tuple[Mqtt, ...]) -> tuple[float, float]:
    """The median cold and warm step times of `runs`."""
    return (
        float(np.median([r.steps[0].wall_s for r in runs])),
        float(np.median([r.steps[1].wall_s for r in runs])),
    )


def _against(walls: tuple[float, float], tuned: tuple[float, float]) -> str:
    return _pair(walls[0] / tuned[0], walls[1] / tuned[1], ".2f")


def print_table(rows: list[Row]) -> None:
    print(
        "| N | hosts | iters MQTT (cold / warm) | iters in-process | MQTT step tuned [s] "
        "| MQTT step default [s] "
        "| default / tuned | Σ local solves [s] | in-process step [s] | gap | viol (rel) | central wall [s] "
        "| ratio central/MQTT | bridge msgs, MB | secured / tuned |"
    )
    print("|" + "---|" * 15)
    for r in rows:
        m, i, d = r.tuned[0].steps, r.inprocess, r.default
        tuned = median_walls(r.tuned)
        gaps, ratio, central = [], [], []
        for step, c in zip(m, r.central, strict=True):
            if not isinstance(c, CentralTiming):
                gaps.append("n/a" if step.bound is None else
                            f"≤ {100 * (step.objective - step.bound) / abs(step.bound):.4f} % (bound)")
                if c is None:
                    ratio.append("n/a")
                    central.append("skipped")
                else:  # abandoned: the decentralised step is at least this much faster
                    ratio.append(f"> {c.seconds / tuned[len(ratio)]:.1f}")
                    central.append(f"> {c.seconds:.0f}")
            else:
                gaps.append(f"{100 * (step.objective - c.objective) / abs(c.objective):.4f} %")
                ratio.append(f"{c.wall_s / tuned[len(ratio)]:.1f}")
                central.append(f"{c.wall_s:.2f}")
        flag = "" if all(s.converged for s in m) else " (not converged)"
        viol = max(s.max_violation_kw for s in m) / r.limit_kw
        its = "n/a" if i is None else f"{i[0].iterations} / {i[1].iterations}"
        wall = "n/a" if i is None else _pair(i[0].wall_s, i[1].wall_s, ".3f")
        if not d:
            dwall = against = "n/a"
        else:
            dflag = "" if all(s.converged for run in d for s in run.steps) else " (not converged)"
            default = median_walls(d)
            dwall = _pair(*default, ".3f") + dflag
            against = _against(default, tuned)
        print(
            f"| {r.n_agents} | {r.hosts} | {m[0].iterations} / {m[1].iterations}{flag} | {its} "
            f"| {_pair(*tuned, '.3f')} | {dwall} | {against} "
            f"| {_pair(m[0].sum_solve_s, m[1].sum_solve_s, '.2f')} "
            f"| {wall} | {' / '.join(gaps)} | {viol:.1e} "
            f"| {' / '.join(central)} | {' / '.join(ratio)} "
            f"| {r.tuned[0].messages}, {r.tuned[0].megabytes:.1f} "
            f"| {_against(median_walls(r.secured), tuned) if r.secured else 'n/a'} |"
        )


def message_costs_s(n_updates: int, repeat: int = 20) -> tuple[float, float]:
    """(encode, decode) seconds per round update (96 values) in a host's packed batches of `n_updates`
    (in as many messages as the host needs: `round_chunks`), as the hosts and the coordinator do:
    the agents' `RoundUpdate`s packed and encoded, then decoded and taken as `LocalUpdate`s."""
    factory = LeanMessageFactory("bench", "host-0")
    scheme = TopicScheme(run="bench", prefix=PREFIX)
    p = np.linspace(0.0, 5.0, HORIZON)
    names = [f"b{i}" for i in range(max(1, n_updates))]
    payloads: list[bytes] = []
    start = time.perf_counter()
    for _ in range(repeat):
        payloads = []
        for chunk in round_chunks({a: RoundUpdate(p, 1.25, 1e-3, 40, "solved") for a in names}):
            packed, _ = AdmmPackedUpdates.pack(chunk)
            assert packed is not None
            payloads.append(encode(factory.admm_x_packed(0, 3, packed)))
    encode_s = (time.perf_counter() - start) / repeat / len(names)
    parsed = scheme.parse(scheme.topic(Kind.ADMM_X_BATCH, "host-0"))
    assert parsed is not None
    dropped = DropCounter()
    start = time.perf_counter()
    for _ in range(repeat):
        for payload in payloads:
            message = decode_for_topic(parsed, payload, dropped)
            assert isinstance(message, AdmmXBatchMessage)
            [LocalUpdate(e.agent, 0, 3, e.p_net_kw, e.local_cost, e.solve_time_s, e.solver_iterations,
                         e.solver_status) for e in message.body.entries()]
    return encode_s, (time.perf_counter() - start) / repeat / len(names)


def print_breakdown(row: Row) -> None:
    """Where the rounds of N's steps went (see the module docstring), tuned broker."""
    encode_s, decode_s = message_costs_s(row.n_agents // row.hosts)
    print(f"\nPer-round time at N = {row.n_agents} ({row.hosts} hosts; one update in a host's packed batch "
          f"{1e6 * encode_s:.1f} µs to encode, {1e6 * decode_s:.1f} µs to decode), tuned broker, sums over "
          "the step's rounds [s]:\n")
    print("| step | rounds | rounds wall | solves per host (Σ / hosts) | slowest agent's solves "
          "| coordinator z-update | encode + decode | broker, waking, waiting, rest | wall per round [ms] |")
    print("|" + "---|" * 9)
    for name, step in zip(("cold", "warm"), row.tuned[0].steps, strict=True):
        walls = [w for w in step.round_wall_s if np.isfinite(w)]
        if not step.rounds or len(walls) != len(step.rounds):
            print(f"| {name} | {step.iterations} | (no round times) | | | | | | |")
            continue
        wall = float(sum(walls))
        solves = sum(r.sum_solve_time_s for r in step.rounds) / row.hosts
        slowest = sum(r.max_solve_time_s for r in step.rounds)
        coordinate = sum(r.coordinate_time_s for r in step.rounds)
        # per round: every agent encodes its update and the coordinator decodes it (the encoding is
        # shared by the hosts); the broadcast's cost is the same order, once per host
        codec = len(step.rounds) * row.n_agents * (encode_s / row.hosts + decode_s)
        rest = wall - solves - coordinate - codec
        print(
            f"| {name} | {len(step.rounds)} | {wall:.3f} | {solves:.3f} | {slowest:.3f} | {coordinate:.3f} "
            f"| {codec:.3f} | {rest:.3f} | {1e3 * wall / len(step.rounds):.1f} |"
        )


def _reachable(url: str) -> bool:
    parsed = parse_broker_url(url)
    try:
        with socket.create_connection((parsed.host, parsed.port), timeout=2.0):
            return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument(
        "--broker",
        default=None,
        help="the tuned broker, running (default: spawn a Mosquitto with set_tcp_nodelay, as `cosim run` "
        "does)",
    )
    parser.add_argument(
        "--default-broker",
        default="mqtt://127.0.0.1:1883",
        help="a broker with its default configuration to compare with ('none': skip)",
    )
    parser.add_argument("--compare-max", type=int, default=1000, help="compare brokers up to this N")
    parser.add_argument(
        "--repeats", type=int, default=3,
        help="runs per broker up to N = --repeats-max, alternating (medians shown)",
    )
    parser.add_argument(
        "--repeats-max", type=int, default=100,
        help="repeat up to this N (a run at N = 1000: ~15 s a broker; medians are steadier when shared)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="agent host processes")
    parser.add_argument("--max-agents-per-host", type=int, default=1000)
    parser.add_argument("--central-timeout", type=float, default=120.0)
    parser.add_argument("--central-max", type=int, default=1000, help="solve centrally up to this N")
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
    parser.add_argument(
        "--breakdown", type=int, nargs="*", default=[1000], help="per-round breakdown at these N"
    )
    parser.add_argument(
        "--bound-from", type=int, default=2000,
        help="from this N on, the certified dual bound (controllers.admm.dual_bound; ~4 ms an agent, "
        "after the steps), the gap's measure where the centralised solve is not run or does not finish",
    )
    parser.add_argument(
        "--security-max", type=int, default=1000,
        help="also run on a secured broker (TLS, passwords, ACL, signed messages) up to this N "
        "(`secured / tuned`, alternating with the tuned runs; 0: never)",
    )
    parser.add_argument(
        "--updates", choices=("batch", "agent"), default="batch",
        help="a host's round updates: one batch message per host and round (default, as `cosim run` "
        "with agents on one host), or one message per agent (agents on their own devices)",
    )
    args = parser.parse_args()
    alm_qp.warm_up()  # numba compiles the local solver once into its cache, before the hosts load it
    default_url = None if args.default_broker.lower() == "none" else args.default_broker
    if default_url is not None and not _reachable(default_url):
        print(f"default broker {default_url} not reachable: comparing no brokers")
        default_url = None
    broker = provide_broker(args.broker)
    rows = []
    try:
        for n in args.sizes:
            start = time.perf_counter()
            rows.append(
                bench(
                    n,
                    (broker.url, default_url if n <= args.compare_max else None),
                    hosts_for(n, args.workers, args.max_agents_per_host),
                    args.central_timeout if n <= args.central_max else None,
                    args.seed,
                    n <= args.reference_max,
                    args.round_timeout,
                    args.repeats if n <= args.repeats_max else 1,
                    args.updates == "batch",
                    n <= args.security_max,
                    n >= args.bound_from,
                )
            )
            print(f"N = {n}: done in {time.perf_counter() - start:.1f} s", flush=True)
            print_table(rows)  # so far, in case a larger size takes long
            if n in args.breakdown:
                print_breakdown(rows[-1])
    finally:
        broker.close()
    print()
    print_table(rows)
    for row in rows:
        if row.n_agents in args.breakdown:
            print_breakdown(row)


if __name__ == "__main__":
    main()
