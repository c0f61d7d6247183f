"""ADMM benchmark, in-process: iterations, time per control step and optimality gap versus N.

For N = 10, 100, 1000 agents (10 % standalone batteries, the rest heat-pump buildings, 30 % of them
with a battery) over a 96-step horizon (24 h at 15 min) with the transformer limit at 80 % of the
uncoordinated peak, it runs two control steps (cold start, then warm start from the first step
shifted by one) and solves the same problems centralised with cvxpy (Clarabel). The centralised
solve runs in a child process and is abandoned after `--central-timeout` seconds.

Columns: `iters` ADMM rounds (cold / warm step); `sum solve` Σ of all local solve times per step
(one core); `parallel` the ideal wall time with one core per agent (per round the slowest local
solve plus the coordinator); `gap` (J_admm − J_central)/|J_central|; `viol` the largest transformer
excess relative to the limit; `central` the centralised wall time (build + canonicalise + solve)
and the solver's own time; `ratio` central wall / ADMM parallel time.

    python benchmarks/bench_admm.py [--sizes 10 100 1000] [--central-timeout 120]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from controllers.admm import AdmmAgent, AgentData, Coordinator, Coupling, SharedLimits, build_agents
from controllers.admm.runner import StepResult, run_control_step
from controllers.mpc import solve_centralised
from experiments.synthetic_district import DistrictSpec, next_step_data, synthetic_district

HORIZON = 96
DT_H = 0.25


@dataclass(frozen=True)
class CentralTiming:
    objective: float
    wall_s: float
    solver_s: float


@dataclass(frozen=True)
class Row:
    n_agents: int
    n_vars_total: int
    iterations: tuple[int, int]
    converged: tuple[bool, bool]
    sum_solve_s: tuple[float, float]
    parallel_s: tuple[float, float]
    wall_s: tuple[float, float]
    gap: tuple[float | None, float | None]
    violation: tuple[float, float]
    central: tuple[CentralTiming | None, CentralTiming | None]
    note: str


def _central_worker(agents: list[AgentData], limits: SharedLimits, conn: Connection) -> None:
    result = solve_centralised(agents, limits)
    conn.send(CentralTiming(result.objective, result.wall_time_s, result.solve_time_s))
    conn.close()


def central_with_timeout(
    agents: list[AgentData], limits: SharedLimits, timeout_s: float
) -> CentralTiming | None:
    """Solve centrally in a child process; None if it takes longer than `timeout_s`."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_central_worker, args=(agents, limits, child))
    proc.start()
    child.close()
    result = parent.recv() if parent.poll(timeout_s) else None
    if proc.is_alive():
        proc.terminate()
    proc.join()
    return result


def _relative_violation(result: StepResult, limits: SharedLimits) -> float:
    total = result.p_net_kw().sum(axis=0)
    return float(max(0.0, np.max((total - limits.p_max_kw) / limits.p_max_kw)))


def bench(n_agents: int, timeout_s: float, seed: int) -> Row:
    n_storage = max(1, n_agents // 10)
    spec = DistrictSpec(n_agents - n_storage, n_storage, HORIZON, DT_H, seed=seed)
    data0 = synthetic_district(spec)
    free = np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in data0])
    limits = SharedLimits.transformer(0.8 * float(free.sum(axis=0).max()), HORIZON)
    coordinator = Coordinator(Coupling.from_limits(tuple(a.name for a in data0), limits))
    agents = build_agents(data0, coordinator)
    n_vars = sum(a.local.qp.layout.n_var for a in agents)
    first = run_control_step(agents, coordinator, 0)
    data1 = [next_step_data(a, p) for a, p in zip(data0, first.plans, strict=True)]
    second = run_control_step(agents, coordinator, 1, data1)
    central = (central_with_timeout(data0, limits, timeout_s), central_with_timeout(data1, limits, timeout_s))
    results = (first, second)
    gaps = tuple(
        None if c is None else (r.objective - c.objective) / abs(c.objective)
        for r, c in zip(results, central, strict=True)
    )
    note = "" if all(c is not None for c in central) else f"centralised skipped after {timeout_s:.0f} s"
    return Row(
        n_agents,
        n_vars,
        (first.iterations, second.iterations),
        (first.decision.converged, second.decision.converged),
        (first.sum_solve_time_s, second.sum_solve_time_s),
        (first.parallel_time_s, second.parallel_time_s),
        (first.wall_time_s, second.wall_time_s),
        (gaps[0], gaps[1]),
        (_relative_violation(first, limits), _relative_violation(second, limits)),
        (central[0], central[1]),
        note,
    )


def _pair(values: tuple[float, float], fmt: str) -> str:
    return " / ".join(format(v, fmt) for v in values)


def _gap(values: tuple[float | None, float | None]) -> str:
    return " / ".join("n/a" if v is None else f"{100 * v:.4f} %" for v in values)


def _central(row: Row) -> tuple[str, str]:
    if any(c is None for c in row.central):
        return "skipped", "n/a"
    wall = [c.wall_s for c in row.central if c is not None]
    solver = [c.solver_s for c in row.central if c is not None]
    ratio = [w / p for w, p in zip(wall, row.parallel_s, strict=True)]
    return f"{_pair((wall[0], wall[1]), '.2f')} s ({_pair((solver[0], solver[1]), '.2f')} s)", _pair(
        (ratio[0], ratio[1]), ".1f"
    )


def print_table(rows: list[Row]) -> None:
    header = (
        "| N | vars | iters (cold / warm) | sum solve [s] | parallel [s] | gap | viol (rel) "
        "| central wall (solver) | ratio central/parallel |"
    )
    print(header)
    print("|" + "---|" * 9)
    for r in rows:
        central, ratio = _central(r)
        flag = "" if all(r.converged) else " (not converged)"
        print(
            f"| {r.n_agents} | {r.n_vars_total} | {r.iterations[0]} / {r.iterations[1]}{flag} "
            f"| {_pair(r.sum_solve_s, '.2f')} | {_pair(r.parallel_s, '.3f')} | {_gap(r.gap)} "
            f"| {_pair(r.violation, '.1e')} | {central} | {ratio} |"
        )
    for r in rows:
        if r.note:
            print(f"N = {r.n_agents}: {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--central-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        start = time.perf_counter()
        rows.append(bench(n, args.central_timeout, args.seed))
        print(f"N = {n}: done in {time.perf_counter() - start:.1f} s", flush=True)
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
