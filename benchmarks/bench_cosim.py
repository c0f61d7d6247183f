"""Co-simulation benchmark: wall time per simulated step of the platform next to a bare mosaik world
with the same data-flow graph, and the grid simulator's step next to a plain pandapower.runpp.

The bare world mirrors the platform's world exactly (same simulators, entities, connections, time
shifts and step sizes), but every simulator is `simulators.constant` (no model, no results
written), so the ratio is what the platform's models and result writing add to mosaik's own cost.

    python benchmarks/bench_cosim.py [--sizes 10 100 1000] [--steps 12] [--repeats 2] [--no-mqtt]

"platform / bare" compares median step times (the target; each world's best median of the
repeats); "paired" is the median over the repeats of the ratio of the two medians measured back to
back in one repeat (steadier on a shared machine, where the two best medians can come from
different moments); "mean platform / bare" compares mean step times, which include the steps that
flush result parts to Parquet. With MQTT, the bridged
run is measured with the agents as tasks in the run's process and in one worker process, each
with one message per agent and step each way and with one batch per step (`controller.batch`).

"By broker" runs the bridged set-ups against two Mosquitto brokers the benchmark starts itself and
hands to the runs by URL (as a user's own broker): one with the platform's configuration
(`set_tcp_nodelay true`) and one with Debian's default configuration plus a listener line
(`cosim.brokers.debian_default_config`), alternately; the ratio is stock / platform.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_grid import run_case as grid_case  # benchmarks/ is on sys.path when run as a script
from rich.console import Console
from rich.table import Table

from cosim.mqtt.brokers import MosquittoBroker, debian_default_config, start_mosquitto
from cosim.run import run_scenario
from cosim.scenario.model import Scenario
from cosim.world.build import BuiltWorld
from cosim.world.registry import new_world
from simulators.constant.sim import STEP_TIMES

NETWORK = "kerber_vorstadtnetz_kabel_1"
SETUPS = {  # bridged set-ups: name -> (controller.agents, controller.batch)
    "tasks": ("tasks", False),
    "tasks batched": ("tasks", True),
    "worker": ("worker", False),
    "worker batched": ("worker", True),
}


def scenario(
    n_buildings: int, steps: int, transport: str = "inprocess", agents: str = "tasks", batch: bool = False,
    broker: str | None = None,
) -> Scenario:
    """N buildings with PV, a third with batteries, rule-based control, on a suburban feeder."""
    with_battery = n_buildings // 3
    return Scenario.model_validate(
        {
            "name": f"bench-{n_buildings}",
            "start": "2024-03-20T08:00:00",
            "duration": steps * 900,
            "step": 900,
            "seed": 1,
            "controller": {"kind": "rule_based", "transport": transport}
            | ({"agents": agents, "batch": batch, "broker": broker} if transport == "mqtt" else {}),
            "grid": {"network": NETWORK},
            "buildings": [
                g
                for count, g in (
                    (n_buildings - with_battery,
                     {"name": "plain", "count": n_buildings - with_battery, "pv_kwp": 5, "flex_share": 0.05}),
                    (with_battery,
                     {"name": "bat", "count": with_battery, "pv_kwp": 8, "battery": {"capacity_kwh": 10}}),
                )
                if count > 0
            ],
        }
    )


@dataclass(frozen=True)
class Measured:
    ms_per_step: float  # median
    entities: int
    connections: int
    mean_ms_per_step: float  # includes the steps that flush result parts (every 2 s of wall time)


def _gaps(stamps: list[float]) -> list[float]:
    """Wall time between consecutive steps (ms), leaving out the first (warm-up)."""
    return [(b - a) * 1e3 for a, b in itertools.pairwise(stamps[1:])]


def run_platform(s: Scenario) -> tuple[Measured, BuiltWorld]:
    stamps: list[float] = []
    captured: list[BuiltWorld] = []
    with tempfile.TemporaryDirectory() as out:
        run_scenario(
            s,
            Path(out),
            on_step=lambda _t: stamps.append(time.perf_counter()),
            on_built=captured.append,
            echo=lambda _text: None,
        )
    built = captured[0]
    entities = {e.full_id for link in built.links for e in (link.src, link.dest)}
    pairs = sum(len(link.pairs) for link in built.links)
    gaps = _gaps(stamps)
    return Measured(statistics.median(gaps), len(entities), pairs, statistics.mean(gaps)), built


def run_bare(built: BuiltWorld, s: Scenario) -> Measured:
    """The same graph with constant simulators; per-step time from the recorder's stand-in."""
    outputs: dict[str, set[str]] = defaultdict(set)
    for link in built.links:
        outputs[link.src.sid] |= {src for src, _ in link.pairs}
    sids = sorted({e.sid for link in built.links for e in (link.src, link.dest)})
    world = new_world()
    key = f"bare-{id(built)}"
    sims = {
        sid: world.start(
            "Constant",
            attrs=sorted(outputs[sid]),
            step_size=s.control_step if sid.startswith("Control") else s.step,
            timing_key=key if sid.startswith("Recorder") else None,
        )
        for sid in sids
    }
    mirror: dict[str, Any] = {}

    def entity(e: Any) -> Any:
        if e.full_id not in mirror:
            mirror[e.full_id] = sims[e.sid].Constant(values={a: 1.0 for a in outputs[e.sid]})
        return mirror[e.full_id]

    for link in built.links:
        world.connect(
            entity(link.src),
            entity(link.dest),
            *link.pairs,
            time_shifted=link.time_shifted,
            initial_data={a: 1.0 for a in link.initial_data},
        )
    world.run(until=s.duration, print_progress=False)
    stamps = STEP_TIMES.pop(key)
    n_entities = len(mirror)
    pairs = sum(len(link.pairs) for link in built.links)
    gaps = _gaps(stamps)
    return Measured(statistics.median(gaps), n_entities, pairs, statistics.mean(gaps))


BROKER_SETUPS = {"tasks batched": ("tasks", True), "tasks": ("tasks", False), "worker": ("worker", False)}


def compare_brokers(n: int, steps: int, repeats: int) -> list[str]:
    """One row: each bridged set-up over the platform-configured and the stock-configured Mosquitto."""
    started: dict[str, MosquittoBroker] = {
        "platform": start_mosquitto(),
        "stock": start_mosquitto(config=debian_default_config),
    }
    try:
        cells = [str(n)]
        for agents, batch in BROKER_SETUPS.values():
            best: dict[str, float] = {}
            for _ in range(repeats):
                for name, broker in started.items():
                    measured = run_platform(scenario(n, steps, "mqtt", agents, batch, broker.url))[0]
                    best[name] = min(best.get(name, float("inf")), measured.ms_per_step)
            ratio = best["stock"] / best["platform"]
            cells += [f"{best['platform']:.2f}", f"{best['stock']:.2f}", f"{ratio:.2f}"]
        return cells
    finally:
        for broker in started.values():
            broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per configuration; the best median counts"
    )
    parser.add_argument("--no-mqtt", action="store_true", help="skip the MQTT comparisons")
    parser.add_argument(
        "--no-brokers", action="store_true", help="skip the comparison of broker configurations"
    )
    args = parser.parse_args()
    console = Console(width=200)
    overhead = Table(
        title=f"Co-simulation step time, in-process control ({args.steps} steps of 15 min; "
        f"best of {args.repeats} medians)"
    )
    for column in (
        "buildings",
        "entities",
        "attr links",
        "platform ms/step",
        "bare mosaik ms/step",
        "platform / bare",
        "paired",
        "mean platform / bare",
        "grid ms/step",
        "plain runpp ms/step",
        "runpp / grid",
    ):
        overhead.add_column(column, justify="right")
    bridged = Table(
        title="Control over MQTT (lockstep, spawned Mosquitto, QoS 1) vs in process (ms/step and ratio); "
        "agents as tasks in the run's process or all in one worker process (`agents: worker`), one message "
        "per agent each way or one batch (`batch: true`)"
    )
    columns = [f"{name} {what}" for name in SETUPS for what in ("ms/step", "/ in-proc")]
    for column in ("agents", "in-process ms/step", *columns):
        bridged.add_column(column, justify="right")
    brokers = Table(
        title="Bridged step by broker configuration (ms/step, best of the repeats, run alternately): the "
        "platform's Mosquitto configuration vs Debian's default configuration plus a listener line"
    )
    for column in ("agents", *(f"{name} {what}" for name in BROKER_SETUPS for what in ("platform", "stock",
                                                                                        "stock / platform"))):
        brokers.add_column(column, justify="right")
    for n in args.sizes:
        inprocess, bare = [], []
        bridged_runs: dict[str, list[Measured]] = {name: [] for name in SETUPS}
        for _ in range(args.repeats):  # interleaved, so load changes on a shared machine hit every set-up
            platform, built = run_platform(scenario(n, args.steps))
            inprocess.append(platform)
            bare.append(run_bare(built, scenario(n, args.steps)))
            if not args.no_mqtt:
                for name, (agents, batch) in SETUPS.items():
                    bridged_runs[name].append(run_platform(scenario(n, args.steps, "mqtt", agents, batch))[0])
        best = min(inprocess, key=lambda m: m.ms_per_step)
        best_bare = min(bare, key=lambda m: m.ms_per_step)
        paired = statistics.median(
            p.ms_per_step / b.ms_per_step for p, b in zip(inprocess, bare, strict=True)
        )
        grid = grid_case(NETWORK, n, steps=30, seed=1)
        overhead.add_row(
            str(n),
            str(best.entities),
            str(best.connections),
            f"{best.ms_per_step:.1f}",
            f"{best_bare.ms_per_step:.1f}",
            f"{best.ms_per_step / best_bare.ms_per_step:.2f}",
            f"{paired:.2f}",
            f"{min(m.mean_ms_per_step for m in inprocess) / min(m.mean_ms_per_step for m in bare):.2f}",
            f"{grid.ours_auto.ms_per_step:.2f}",
            f"{grid.plain.ms_per_step:.2f}",
            f"{grid.plain.ms_per_step / grid.ours_auto.ms_per_step:.0f}x",
        )
        if not args.no_mqtt:
            cells = [str(n), f"{best.ms_per_step:.1f}"]
            for runs in bridged_runs.values():
                ms = min(m.ms_per_step for m in runs)
                cells += [f"{ms:.1f}", f"{ms / best.ms_per_step:.2f}"]
            bridged.add_row(*cells)
        if not args.no_mqtt and not args.no_brokers:
            brokers.add_row(*compare_brokers(n, args.steps, args.repeats))
        console.print(f"done N={n}")
    console.print(overhead)
    console.print("Targets: platform / bare ≤ 1.5; runpp / grid ≥ 3.")
    if not args.no_mqtt:
        console.print(bridged)
        console.print("Target: MQTT / in-process ≤ 2 at 100 agents.")
    if not args.no_mqtt and not args.no_brokers:
        console.print(brokers)
        console.print("Target: stock / platform ≤ 1.2.")


if __name__ == "__main__":
    main()
