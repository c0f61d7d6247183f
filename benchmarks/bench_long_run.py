"""Long runs in bounded memory: wall time and peak memory of a run, its KPIs and its figures, by the
run's length (issue 22).

Each configuration runs in a child process of its own (so its peak resident memory, `ru_maxrss`, is
its own): `run_scenario` of the scenario with `duration` set to the given days and, with
`--scale K`, every building group's `count` multiplied by K (district-100 × 10 = 1,000 buildings),
then `cosim plot`'s figures (`--figures`). Printed: days, buildings, steps, how the simulators
are connected (`--links`: `vector`, the platform's vector entities, or `per-entity`, one mosaik
connection per entity and attribute as before issue 22; `both` runs each), wall time of the run,
wall and CPU time per step (after the first; the process' own CPU, its in-process agent threads
included), wall time of the run's end (compaction, KPIs) and of the figures, the CPU time of the
whole run (the process' own and its children's, e.g. the broker), the load average at the end,
and the peak memory; the ratios of each peak and each step time to the first row's.
`--log FILE` appends progress every ~0.5 % of the run (step, wall, CPU, load average, memory).

    python benchmarks/bench_long_run.py [--scenario scenarios/district-100.yaml] [--days 30 365]
                                        [--scale 1] [--figures] [--links vector|per-entity|both]
                                        [--log FILE]

The issue's targets: the same peak memory (±10 %) for 30 and 365 days of district-100, and a year
of 1,000 buildings (`--scale 10 --days 365 --figures`) within 45 minutes and 4 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
import yaml
import cosim.world.build
from cosim.run import run_scenario
from cosim.scenario.model import Scenario

path, days, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out, figures = Path(sys.argv[4]), sys.argv[5] == "1"
log = open(sys.argv[6], "a") if sys.argv[6] else None
links = sys.argv[7]
cosim.world.build.VECTOR_LINKS = links == "vector"
data = yaml.safe_load(Path(path).read_text())
data["duration"] = f"{days}d"
data.pop("outputs", None)
for group in data.get("buildings", []):
    group["count"] = int(group.get("count", 1)) * scale
scenario = Scenario.model_validate(data)
start = time.perf_counter()
every = max(1, scenario.n_steps // 200)
count = 0
first_step = last_step = first_cpu = last_cpu = 0.0


def cpu_s():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def on_step(time_s):  # progress: step, wall, CPU, load, resident and peak memory, every ~0.5 % of the run
    global count, first_step, last_step, first_cpu, last_cpu
    count += 1
    last_step, last_cpu = time.perf_counter(), cpu_s()
    if count == 1:
        first_step, first_cpu = last_step, last_cpu
    if log is not None and count % every == 0:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        load = os.getloadavg()[0]
        log.write(f"{days}d {links} step {count}/{scenario.n_steps} {last_step - start:.1f} s "
                  f"cpu {last_cpu:.1f} s load {load:.2f} rss {rss_mb():.0f} MB peak {peak:.0f} MB\n")
        log.flush()


summary = run_scenario(scenario, out, echo=lambda _m: None, on_step=on_step)
run_s = time.perf_counter() - start
end_s = time.perf_counter() - last_step  # the end of the run: compaction, KPIs, shutting down
step_s = (last_step - first_step) / max(1, count - 1)  # after the first step (calibration, start-up)
step_cpu_s = (last_cpu - first_cpu) / max(1, count - 1)
run_cpu_s = cpu_s()
if log is not None:
    log.write(f"{days}d run done {run_s:.1f} s peak "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0:.0f} MB\n")
    log.flush()
plot_s = 0.0
if figures:
    from cosim.results.plots import plot_run
    start = time.perf_counter()
    plot_run(summary.out_dir)
    plot_s = time.perf_counter() - start
steps = summary.kpis["run"]["steps"]
buildings = summary.kpis["run"]["buildings"]
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
result = {"steps": steps, "buildings": buildings, "run_s": run_s, "plot_s": plot_s, "peak_mb": peak_mb,
          "step_s": step_s, "step_cpu_s": step_cpu_s, "end_s": end_s, "cpu_s": cpu_s(),
          "run_cpu_s": run_cpu_s, "load": os.getloadavg()[0]}
print(json.dumps(result))
"""


@dataclass(frozen=True)
class Row:
    days: int
    buildings: int
    steps: int
    links: str
    run_s: float
    step_s: float
    step_cpu_s: float
    end_s: float
    plot_s: float
    cpu_s: float
    load: float
    peak_mb: float


def run_one(
    scenario: Path, days: int, scale: int, figures: bool, log: Path | None = None, links: str = "vector"
) -> Row:
    with tempfile.TemporaryDirectory(prefix="bench-long-") as tmp:
        out = Path(tmp) / "run"
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(scenario), str(days), str(scale), str(out), str(int(figures)),
             str(log or ""), links],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    r = result
    return Row(days, r["buildings"], r["steps"], links, r["run_s"], r["step_s"], r["step_cpu_s"], r["end_s"],
               r["plot_s"], r["cpu_s"], r["load"], r["peak_mb"])


def print_table(rows: list[Row]) -> None:
    print("| days | buildings | steps | links | run wall [s] | per step wall / CPU [ms] | end of run [s] "
          "| figures wall [s] | CPU [s] | load (1 min) | peak memory [MB] | peak / first row "
          "| step / first row |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.days} | {r.buildings} | {r.steps} | {r.links} | {r.run_s:.1f} "
            f"| {1000 * r.step_s:.1f} / {1000 * r.step_cpu_s:.1f} "
            f"| {r.end_s:.1f} | {r.plot_s:.1f} | {r.cpu_s:.1f} | {r.load:.2f} | {r.peak_mb:.0f} "
            f"| {r.peak_mb / rows[0].peak_mb:.2f} | {r.step_s / rows[0].step_s:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/district-100.yaml"))
    parser.add_argument("--days", type=int, nargs="+", default=[30, 365])
    parser.add_argument("--scale", type=int, default=1, help="multiply every building group's count")
    parser.add_argument("--figures", action="store_true", help="draw the run's figures too")
    parser.add_argument("--log", type=Path, help="append progress (step, wall, CPU, load, memory) to a file")
    parser.add_argument(
        "--links", choices=["vector", "per-entity", "both"], default="vector",
        help="connect through vector entities (default), one connection per entity, or run both",
    )
    args = parser.parse_args()
    links = ["per-entity", "vector"] if args.links == "both" else [args.links]
    rows = []
    for days in args.days:
        for link in links:
            rows.append(run_one(args.scenario, days, args.scale, args.figures, args.log, link))
            print_table(rows)
            print(flush=True)


if __name__ == "__main__":
    main()
