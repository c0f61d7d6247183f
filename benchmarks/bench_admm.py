"""ADMM benchmark, in-process: iterations, time per control step and optimality gap versus N.

For N = 10, 100, 1000 agents (10 % standalone batteries, the rest heat-pump buildings, 30 % of them
with a battery) over a 96-step horizon (24 h at 15 min) with the transformer limit at 80 % of the
uncoordinated peak, it runs two control steps (cold start, then warm start from the first step
shifted by one) and solves the same problems centralised with cvxpy (Clarabel). The centralised
solve runs in a child process and is abandoned after `--central-timeout` seconds.

Each N runs with every local solver of `--solvers` (`OsqpSettings.solver`: "alm", the Newton
solver of `controllers/admm/alm_qp.py`, and "osqp") on the same problems; the last table gives
the step's wall time of each solver over the first one's, measured in this run.

Columns: `iters` ADMM rounds (cold / warm step); `step` the wall time of the control step (all
agents solved one after another in this process); `sum solve` Σ of all local solve times per step
(one core); `parallel` the ideal wall time with one core per agent (per round the slowest local
solve plus the coordinator); `gap` (J_admm − J_central)/|J_central|; `viol` the largest transformer
excess relative to the limit; `central` the centralised wall time (build + canonicalise + solve)
and the solver's own time; `ratio` central wall / ADMM parallel time.

The bound table: `J admm` the ADMM objective (Σ local costs + shared cost at the last iterate),
`bound` d(λ) ≤ J*, `gap/bound` (J_admm − d)/|d| (an upper bound on the true gap), `gap/central`
(J_admm − J_central)/|J_central| where the centralised solve ran, `central−bound` how far the
bound lies below the centralised optimum (its looseness, including the solver tolerance of
J_central), and `bound time` its wall time (one core, all agents; each agent's term is an
independent QP, so on agent hosts it would run in parallel like a round).

    python benchmarks/bench_admm.py [--sizes 10 100 1000] [--central-timeout 120] [--solvers alm osqp]
        [--no-bound] [--central-up-to 1000] [--eps 1e-4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from controllers.admm import (
    AdmmAgent,
    AdmmSettings,
    AgentData,
    Coordinator,
    Coupling,
    OsqpSettings,
    SharedLimits,
    alm_qp,
    build_agents,
)
from controllers.admm.dual_bound import DualBound, coordinator_multipliers, dual_bound
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
class BoundRow:
    objective: float
    bound: DualBound


@dataclass(frozen=True)
class Row:
    solver: str
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
    bounds: tuple[BoundRow, BoundRow] | None = None


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


def bench(
    n_agents: int,
    timeout_s: float,
    seed: int,
    solvers: list[str],
    with_bound: bool = True,
    settings: AdmmSettings | None = None,
) -> list[Row]:
    """Both control steps with each local solver on the same district; one centralised solve."""
    n_storage = max(1, n_agents // 10)
    spec = DistrictSpec(n_agents - n_storage, n_storage, HORIZON, DT_H, seed=seed)
    data0 = synthetic_district(spec)
    free = np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in data0])
    limits = SharedLimits.transformer(0.8 * float(free.sum(axis=0).max()), HORIZON)
    runs = []
    data1: list[AgentData] | None = None  # the warm step's data: from the first solver's plans, for all
    multipliers = []
    for solver in solvers:
        coupling = Coupling.from_limits(tuple(a.name for a in data0), limits)
        coordinator = Coordinator(coupling, settings)
        agents = build_agents(data0, coordinator, OsqpSettings(solver=solver))
        first = run_control_step(agents, coordinator, 0)
        lam0 = coordinator_multipliers(coordinator.rho, coordinator.u_scaled)
        if data1 is None:
            data1 = [next_step_data(a, p) for a, p in zip(data0, first.plans, strict=True)]
        second = run_control_step(agents, coordinator, 1, data1)
        lam1 = coordinator_multipliers(coordinator.rho, coordinator.u_scaled)
        multipliers.append((coupling, lam0, lam1))
        runs.append((solver, sum(a.local.qp.layout.n_var for a in agents), first, second))
        del agents, coordinator
    assert data1 is not None
    central: tuple[CentralTiming | None, CentralTiming | None] = (None, None)
    if timeout_s > 0:
        cold = central_with_timeout(data0, limits, timeout_s)
        central = (cold, central_with_timeout(data1, limits, timeout_s))
    note = "" if all(c is not None for c in central) else f"centralised skipped after {timeout_s:.0f} s"
    if timeout_s <= 0:
        note = "centralised not run (--central-up-to)"
    rows = []
    for (solver, n_vars, first, second), (coupling, lam0, lam1) in zip(runs, multipliers, strict=True):
        results = (first, second)
        bounds = None
        if with_bound:
            bounds = (
                BoundRow(first.objective, dual_bound(data0, coupling, lam0)),
                BoundRow(second.objective, dual_bound(data1, coupling, lam1)),
            )
        gaps = tuple(
            None if c is None else (r.objective - c.objective) / abs(c.objective)
            for r, c in zip(results, central, strict=True)
        )
        rows.append(
            Row(
                solver,
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
                bounds,
            )
        )
    return rows


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
        "| N | solver | vars | iters (cold / warm) | step [s] | sum solve [s] | parallel [s] | gap "
        "| viol (rel) | central wall (solver) | ratio central/parallel |"
    )
    print(header)
    print("|" + "---|" * 11)
    for r in rows:
        central, ratio = _central(r)
        flag = "" if all(r.converged) else " (not converged)"
        print(
            f"| {r.n_agents} | {r.solver} | {r.n_vars_total} | {r.iterations[0]} / {r.iterations[1]}{flag} "
            f"| {_pair(r.wall_s, '.3f')} | {_pair(r.sum_solve_s, '.2f')} | {_pair(r.parallel_s, '.3f')} "
            f"| {_gap(r.gap)} | {_pair(r.violation, '.1e')} | {central} | {ratio} |"
        )
    for r in rows:
        if r.note and r is next(x for x in rows if x.n_agents == r.n_agents):
            print(f"N = {r.n_agents}: {r.note}")
    print_bounds(rows)
    solvers = list(dict.fromkeys(r.solver for r in rows))
    if len(solvers) > 1:
        print()
        print(f"step wall time and Σ local solves over {solvers[0]}'s (same run):")
        print()
        print("| N | solver | step cold / warm | Σ solves cold / warm |")
        print("|---|---|---|---|")
        for r in rows:
            base = next(x for x in rows if x.n_agents == r.n_agents and x.solver == solvers[0])
            if r is base:
                continue
            step = (r.wall_s[0] / base.wall_s[0], r.wall_s[1] / base.wall_s[1])
            solve = (r.sum_solve_s[0] / base.sum_solve_s[0], r.sum_solve_s[1] / base.sum_solve_s[1])
            print(f"| {r.n_agents} | {r.solver} | {_pair(step, '.2f')} | {_pair(solve, '.2f')} |")


def print_bounds(rows: list[Row]) -> None:
    """Per N, solver and step: the ADMM objective against the certified dual bound (and central)."""
    if not any(r.bounds is not None for r in rows):
        return
    print()
    print("gap against the certified dual bound d(λ) at the coordinator's multiplier λ = ρu:")
    print()
    print(
        "| N | solver | step | J admm | bound d(λ) | gap/bound | gap/central | central−bound "
        "| λ projected by | bound time [s] |"
    )
    print("|" + "---|" * 10)
    for r in rows:
        if r.bounds is None:
            continue
        for step, b, gap, c in zip(("cold", "warm"), r.bounds, r.gap, r.central, strict=True):
            central = "n/a" if gap is None else f"{100 * gap:.4f} %"
            loose = "n/a" if c is None else f"{100 * (c.objective - b.bound.value) / abs(c.objective):.4f} %"
            print(
                f"| {r.n_agents} | {r.solver} | {step} | {b.objective:.4f} | {b.bound.value:.4f} "
                f"| {100 * b.bound.gap(b.objective):.4f} % | {central} | {loose} "
                f"| {b.bound.projected_by:.1e} | {b.bound.wall_s:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--central-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--solvers", nargs="+", default=["alm", "osqp"], choices=["alm", "osqp"])
    parser.add_argument("--no-bound", action="store_true", help="skip the certified dual bound")
    parser.add_argument(
        "--central-up-to", type=int, default=None, help="skip the centralised solve above this N"
    )
    parser.add_argument(
        "--eps", type=float, default=None, help="the coordinator's eps_abs = eps_rel (default: AdmmSettings')"
    )
    args = parser.parse_args()
    settings = None if args.eps is None else AdmmSettings(eps_abs=args.eps, eps_rel=args.eps)
    alm_qp.warm_up()  # numba's cache (or compilation) once per process, not in the first step
    rows = []
    for n in args.sizes:
        start = time.perf_counter()
        skip = args.central_up_to is not None and n > args.central_up_to
        timeout = 0.0 if skip else args.central_timeout
        rows.extend(bench(n, timeout, args.seed, args.solvers, not args.no_bound, settings))
        print(f"N = {n}: done in {time.perf_counter() - start:.1f} s", flush=True)
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
