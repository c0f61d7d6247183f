"""What securing the control plane costs: the same runs with security off and on, in one process run.

1. Bridged co-simulation at `--agents` (100) buildings (the rule-based district of `bench_cosim.py`,
   agents as tasks, one batch per step each way, and with `--unbatched` one message per agent too):
   median wall time per control step of `cosim run` with a spawned Mosquitto, plain against
   `--security` (TLS, passwords, ACL, every message signed and verified).
2. ADMM over MQTT at N = `--admm-agents` (100; the district of `bench_admm_mqtt.py`, agents in
   `--workers` processes, the coordinator in its own; each host answers a round in one batch, and
   with `--unbatched` each agent in its own message too): wall time of the cold and the warm control
   step, plain against secured.
3. Per message: signing and verifying (µs) a setpoint, a batch of 100 agents' measurements, an
   ADMM update and broadcast (96 steps), and the clock (Ed25519).

Off and on alternate `--repeats` times; "best" is the best of the repeats (the machine's other load
only ever adds), "paired" the median of the ratios of the runs measured back to back, with their
quartiles. A warm ADMM step is the median of the `--warm-steps` warm steps of one run. Targets
(issue 18): ADMM step ≤ 1.15×, bridged step ≤ 1.3×.

    python benchmarks/bench_security.py [--agents 100] [--admm-agents 100] [--steps 24] [--repeats 7]
                                        [--warm-steps 4] [--unbatched]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_admm_mqtt import (  # benchmarks/ is on sys.path when run as a script
    _district,
    _over_mqtt,
    process_cpu_s,
    security_folder,
)
from bench_cosim import scenario as cosim_scenario

from controllers.admm import alm_qp
from controllers.admm.agent import AdmmAgent
from controllers.admm.data import AgentData, SharedLimits
from controllers.messages import AdmmUpdateBody, Message, decode, encode
from controllers.runtime.identity import ClientSecurity
from controllers.runtime.stamping import LeanMessageFactory
from controllers.signing import SigningMiddleware
from controllers.topics import Kind, TopicScheme
from cosim.control.agents import agent_specs
from cosim.mqtt.brokers import MosquittoBroker, start_mosquitto
from cosim.mqtt.plane import ControlPlane
from cosim.run import run_scenario
from cosim.security import init_security
from cosim.security.run import RunSecurity
from experiments.synthetic_district import next_step_data

# ------------------------------------------------------------------------------------ co-simulation


def cosim_step_ms(n_agents: int, steps: int, batch: bool,
                  security: RunSecurity | None) -> tuple[float, float]:
    """Median wall time (ms) between control steps of a bridged run, the first step left out, and the
    CPU time (ms) per step of this process (every thread) and the run's broker from the second step
    to the last (start-up and shut-down left out)."""
    s = cosim_scenario(n_agents, steps, "mqtt", "tasks", batch)
    stamps: list[float] = []
    cpu: list[float] = []
    broker: list[int | None] = []

    def stepped(_time_s: int) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) in (2, steps):
            own = os.times()
            cpu.append(own.user + own.system + process_cpu_s(broker[0] if broker else None))

    def plane_started(plane: ControlPlane) -> None:
        handle = plane.broker.handle
        broker.append(handle.pid if isinstance(handle, MosquittoBroker) else None)

    with tempfile.TemporaryDirectory() as out:
        run_scenario(s, Path(out), on_step=stepped, echo=lambda _text: None, security=security,
                     on_control_plane=plane_started)
    cpu_ms = (cpu[-1] - cpu[0]) * 1e3 / (steps - 2)
    return statistics.median((b - a) * 1e3 for a, b in itertools.pairwise(stamps[1:])), cpu_ms


# ------------------------------------------------------------------------------------ ADMM


@functools.cache
def _step_datas(n_agents: int, seed: int, steps: int) -> tuple[list[list[AgentData]], SharedLimits]:
    """The data of `steps` control steps and the shared limit: the district of `bench_admm_mqtt`, each
    next step's data from the agents' own optima of the one before (every step a warm one after the
    first). Made once per process for each case (every agent solved alone per step)."""
    data, limits, free = _district(n_agents, seed)
    datas = [data]
    while len(datas) < steps:
        data = [next_step_data(a, p) for a, p in zip(data, free, strict=True)]
        datas.append(data)
        free = [AdmmAgent(a).solve_alone() for a in data]
    return datas, limits


def admm_steps_s(n_agents: int, workers: int, security: RunSecurity | None,
                 seed: int, batch: bool = True, warm_steps: int = 4) -> tuple[float, float, float]:
    """Wall time (s) of the cold ADMM control step over MQTT (`bench_admm_mqtt`'s runs, on a
    Mosquitto of their own), the median wall time (s) of the `warm_steps` warm steps after it, and
    the CPU time (s) of all the steps in this process, the agents' processes and the broker.
    `batch`: the bridge and each agent host exchange one message per host (forecasts, setpoints,
    each round's updates), else one per agent."""
    datas, limits = _step_datas(n_agents, seed, 1 + warm_steps)
    broker = start_mosquitto(security=None if security is None else security.broker())
    try:
        run = asyncio.run(_over_mqtt(datas, limits, broker.url, workers, 60.0, batch, security,
                                     cpu_pids=[broker.pid] if broker.pid is not None else []))
    finally:
        broker.close()
    return run.steps[0].wall_s, statistics.median((run.steps[1].wall_s, *run.more_warm_s)), run.cpu_s


# ------------------------------------------------------------------------------------ per message


def _sign_and_verify_us(signer: SigningMiddleware, verifier: SigningMiddleware, make: Callable[[], Message],
                        topic: str, number: int, repeats: int = 7) -> tuple[float, float]:
    """CPU µs of this thread to sign (beyond encoding) and to verify (beyond decoding) a fresh
    message: per stage the best of `repeats` rounds of `number` messages."""
    best = [float("inf")] * 4  # encode, encode signed, decode, decode and verify
    for _ in range(repeats):
        messages = [make() for _ in range(number)]
        start = time.thread_time()
        for message in messages:
            encode(message)
        encoded = time.thread_time()
        payloads = [encode(signer.outgoing(m.sender, topic, m)) for m in messages]
        signed = time.thread_time()
        for payload in payloads:
            decode(payload)
        decoded = time.thread_time()
        for payload in payloads:
            if verifier.incoming("receiver", topic, decode(payload)) is None:  # type: ignore[arg-type]
                raise RuntimeError(f"{topic}: rejected {verifier.counts}")
        verified = time.thread_time()
        for i, took in enumerate((encoded - start, signed - encoded, decoded - signed, verified - decoded)):
            best[i] = min(best[i], took)
    return (best[1] - best[0]) / number * 1e6, (best[3] - best[2]) / number * 1e6


def per_message_us(folder: RunSecurity, number: int = 100) -> list[tuple[str, float, float]]:
    """(message, sign µs, verify µs) for typical messages of a step."""
    agents = folder.folder.names("agent")[:100]
    host = folder.host()
    bridge_factory = LeanMessageFactory("bench", "bridge")
    agent_factory = LeanMessageFactory("bench", agents[0])
    scheme = TopicScheme("bench")
    update = AdmmUpdateBody(p_net_kw=[1.0 + i / 7 for i in range(96)], local_cost=1.5, solve_time_s=1e-4,
                            solver_iterations=25, solver_status="solved")
    values = {a: {"p_kw": 1.0, "soc": 0.5, "t_in_c": 21.0} for a in agents}
    bridge, agent = folder.bridge(), folder.client(agents[0])
    cases: list[tuple[str, ClientSecurity, ClientSecurity, Callable[[], Message], str]] = [
        ("setpoint (2 values), HMAC", agent, bridge,
         lambda: agent_factory.setpoint(1, {"p_kw": 1.0, "soc": 0.5}),
         scheme.topic(Kind.SETPOINT, agents[0])),
        (f"batch of {len(agents)} agents' measurements, HMAC", bridge, host,
         lambda: bridge_factory.meas_batch(1, values), scheme.topic(Kind.MEAS_BATCH, host.username)),
        ("ADMM update (96 steps), HMAC", agent, bridge, lambda: agent_factory.admm_x(1, 3, update),
         scheme.topic(Kind.ADMM_X, agents[0])),
        ("clock, Ed25519", bridge, host,
         lambda: bridge_factory.clock(1, 900), scheme.topic(Kind.CLOCK, "bridge")),
    ]
    return [(name, *_sign_and_verify_us(sender.middleware(), receiver.middleware(), make, topic, number))
            for name, sender, receiver, make, topic in cases]


# ------------------------------------------------------------------------------------ main


def _ratio(on: float, off: float) -> str:
    return f"{on / off:.2f}×"


def _paired(on: list[float], off: list[float]) -> str:
    """The median of the ratios of the runs measured back to back (steadier on a shared machine),
    and their lower and upper quartiles: how far one pair of runs can be from it."""
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    if len(ratios) < 4:
        return f"{statistics.median(ratios):.2f}×"
    low, _, high = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):.2f}× ({low:.2f}–{high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100,
                        help="buildings of the bridged co-simulation (0: skip it)")
    parser.add_argument("--admm-agents", type=int, default=100, help="agents of the ADMM step (0: skip)")
    parser.add_argument("--workers", type=int, default=2, help="ADMM agent processes")
    parser.add_argument("--steps", type=int, default=24, help="control steps of each bridged run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warm-steps", type=int, default=4, help="warm ADMM steps after the cold one")
    parser.add_argument("--unbatched", action="store_true",
                        help="also one message per agent (bridged) and one update per agent (ADMM)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    alm_qp.warm_up()  # numba compiles the ADMM agents' local solver once into its cache
    with tempfile.TemporaryDirectory() as tmp:
        cosim_agents = ([s.agent_id for s in agent_specs(cosim_scenario(args.agents, args.steps, "mqtt"))]
                        if args.agents else ["none"])
        admm_agents = ([d.name for d in _step_datas(args.admm_agents, args.seed, 1 + args.warm_steps)[0][0]]
                       if args.admm_agents else [])
        security = security_folder(admm_agents, args.workers, Path(tmp) / "security") if admm_agents else None
        cosim_security = RunSecurity(init_security(cosim_agents, Path(tmp) / "cosim"))
        rows: list[tuple[str, str, str, str, str]] = []
        setups = [("batched", True), *([("one message per agent", False)] if args.unbatched else [])]
        for label, batch in setups if args.agents else []:
            off, on, cpu_off, cpu_on = [], [], [], []
            for _ in range(args.repeats):
                wall_ms, cpu_ms = cosim_step_ms(args.agents, args.steps, batch, None)
                off.append(wall_ms)
                cpu_off.append(cpu_ms)
                wall_ms, cpu_ms = cosim_step_ms(args.agents, args.steps, batch, cosim_security)
                on.append(wall_ms)
                cpu_on.append(cpu_ms)
            what = f"bridged co-simulation step, {args.agents} agents, {label} [ms]"
            best = (f"{min(off):.2f}", f"{min(on):.2f}", _ratio(min(on), min(off)))
            rows.append((what, *best, _paired(on, off)))
            what = f"CPU per step of that run (this process and the broker), {label} [ms]"
            best = (f"{min(cpu_off):.2f}", f"{min(cpu_on):.2f}", _ratio(min(cpu_on), min(cpu_off)))
            rows.append((what, *best, _paired(cpu_on, cpu_off)))
            print(rows[-2:], flush=True)
        admm_setups = [("a batch per host and round", True),
                       *([("one update per agent", False)] if args.unbatched else [])]
        for label, batch in admm_setups if security is not None else []:
            cold_off, warm_off, cold_on, warm_on, cpu_off, cpu_on = [], [], [], [], [], []
            for _ in range(args.repeats):  # off and on alternate, ~10-20 s each
                c, w, cpu = admm_steps_s(args.admm_agents, args.workers, None, args.seed, batch,
                                         args.warm_steps)
                cold_off.append(c)
                warm_off.append(w)
                cpu_off.append(cpu)
                c, w, cpu = admm_steps_s(args.admm_agents, args.workers, security, args.seed, batch,
                                         args.warm_steps)
                cold_on.append(c)
                warm_on.append(w)
                cpu_on.append(cpu)
            for what, off_s, on_s in (("cold", cold_off, cold_on),
                                      (f"warm (median of {args.warm_steps})", warm_off, warm_on),
                                      ("CPU of the steps (bridge, agents, broker)", cpu_off, cpu_on)):
                rows.append((f"ADMM step over MQTT, N = {args.admm_agents}, {label}, {what} [s]",
                             f"{min(off_s):.3f}", f"{min(on_s):.3f}", _ratio(min(on_s), min(off_s)),
                             _paired(on_s, off_s)))
                print(rows[-1], flush=True)
        micro = per_message_us(cosim_security)
    print()
    print("| what | security off (best) | security on (best) | on / off (best) "
          "| on / off (paired median, quartiles) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("| message | sign [CPU µs] (beyond encoding) | verify [CPU µs] (beyond decoding) |")
    print("|---|---|---|")
    for name, sign_us, verify_us in micro:
        print(f"| {name} | {sign_us:.1f} | {verify_us:.1f} |")


if __name__ == "__main__":
    main()
