"""The compiled local QP solver alone (`controllers/admm/alm_qp.py`): replayed warm solves.

It runs control steps 0 … `--step` of an in-process ADMM district of `--agents` agents (as
bench_admm_mqtt: 10 % standalone batteries, transformer limit at 80 % of the uncoordinated peak)
and records the arguments of every `alm_solve` of step `--step` (its state arrays copied before
the call). It then replays those solves `--repeats` times from the recorded state and reports the
best time, the Newton steps and the time per Newton step. With `--compare FILE` (another copy of
alm_qp.py, e.g. `git show HEAD~5:controllers/admm/alm_qp.py > /tmp/old_alm_qp.py`) both are
replayed in alternation, each repeat giving a ratio new/old in the same machine state, and their
results (status, steps, x, y, Σ, factor) are compared bit for bit.

    python benchmarks/bench_alm_kernel.py [--agents 100] [--step 2] [--repeats 15] [--compare FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from controllers.admm import (
    AdmmAgent,
    Coordinator,
    Coupling,
    SharedLimits,
    alm_qp,
    build_agents,
    run_control_step,
)
from experiments.synthetic_district import DistrictSpec, next_step_data, synthetic_district

HORIZON = 96
DT_H = 0.25
STATE = (
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
)  # x, y, sigma, factor, factor_active, factor_p, factor_sigma, factor_valid

Solve = Callable[..., tuple[int, int, int]]


def record(n_agents: int, step: int) -> list[tuple[Any, ...]]:
    """The arguments of every `alm_solve` of control step `step` (state arrays as before the call)."""
    n_storage = max(1, n_agents // 10)
    data = synthetic_district(DistrictSpec(n_agents - n_storage, n_storage, HORIZON, DT_H, seed=0))
    alone = [AdmmAgent(a).solve_alone() for a in data]
    peak = float(np.stack([p.p_net_kw for p in alone]).sum(axis=0).max())
    limits = SharedLimits.transformer(0.8 * peak, HORIZON)
    coordinator = Coordinator(Coupling.from_limits(tuple(a.name for a in data), limits))
    agents = build_agents(data, coordinator)
    calls: list[tuple[Any, ...]] = []
    solve = alm_qp.alm_solve
    recording = [False]

    def recorder(*args: Any) -> tuple[int, int, int]:
        if recording[0]:
            calls.append(tuple(a.copy() if k in STATE else a for k, a in enumerate(args)))
        return solve(*args)  # type: ignore[no-any-return]

    alm_qp.alm_solve = recorder
    try:
        for tick in range(step + 1):
            recording[0] = tick == step
            result = run_control_step(agents, coordinator, tick, data)
            data = [next_step_data(a, p) for a, p in zip(data, result.plans, strict=True)]
    finally:
        alm_qp.alm_solve = solve
    return calls


def replay(
    solve: Solve, calls: list[tuple[Any, ...]]
) -> tuple[float, list[tuple[int, int, int]], list[list[Any]]]:
    """One pass over the recorded solves from their recorded state: (seconds, results, final states)."""
    runs = []
    for args in calls:
        call = list(args)
        for k in STATE:
            call[k] = args[k].copy()
        runs.append(call)
    start = time.perf_counter()
    results = [solve(*call) for call in runs]
    return time.perf_counter() - start, results, [[call[k] for k in STATE] for call in runs]


def load(path: str) -> Solve:
    """`alm_solve` of another copy of alm_qp.py."""
    spec = importlib.util.spec_from_file_location("alm_qp_compared", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module.alm_solve  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--step", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--compare", default=None, help="another copy of alm_qp.py to replay against")
    args = parser.parse_args()
    alm_qp.warm_up()
    calls = record(args.agents, args.step)
    sizes = sorted({int(c[0].shape[0]) for c in calls})
    print(f"{len(calls)} warm solves of step {args.step}, N = {args.agents}, variables per agent {sizes}")
    solvers: dict[str, Solve] = {"alm_qp": alm_qp.alm_solve}
    if args.compare:
        solvers = {"compared": load(args.compare), "alm_qp": alm_qp.alm_solve}
    for solve in solvers.values():
        replay(solve, calls[:5])  # compiled / loaded from numba's cache
    times: dict[str, list[float]] = {name: [] for name in solvers}
    outputs: dict[str, tuple[list[tuple[int, int, int]], list[list[Any]]]] = {}
    for repeat in range(args.repeats):
        order = list(solvers) if repeat % 2 == 0 else list(reversed(solvers))
        for name in order:
            seconds, results, states = replay(solvers[name], calls)
            times[name].append(seconds)
            outputs[name] = (results, states)
    for name in solvers:
        steps = sum(r[1] for r in outputs[name][0])
        best = min(times[name])
        per_step = best / max(steps, 1) * 1e6
        print(
            f"{name:9s} best {best * 1e3:8.2f} ms  Newton steps {steps}  {per_step:6.1f} µs per Newton step"
        )
    if args.compare:
        ratios = np.array(times["alm_qp"]) / np.array(times["compared"])
        (old_results, old_states), (new_results, new_states) = outputs["compared"], outputs["alm_qp"]
        same = old_results == new_results and all(
            all(np.array_equal(a, b) for a, b in zip(s, t, strict=True))
            for s, t in zip(old_states, new_states, strict=True)
        )
        q25, q50, q75 = np.quantile(ratios, [0.25, 0.5, 0.75])
        print(f"alm_qp / compared: median {q50:.3f} (quartiles {q25:.3f}, {q75:.3f}); bit-identical: {same}")


if __name__ == "__main__":
    main()
