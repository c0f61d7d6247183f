"""Wall time of a benchmark suite with 1 and 2 local workers and on Dask (a local cluster).

Runs `cosim bench SUITE` (default: quick, controllers none,rule_based,mpc,admm) three times into fresh
folders (no cache): in process (1 worker), on 2 local worker processes, and on a Dask LocalCluster of 2
worker processes; prints the wall time of each, the speed-up against 1 worker, and how far each table
is from the first: the largest relative difference of a reproducible KPI ("same table" when it is
below 1e-5; the power flow in a Dask worker differs from the same solve elsewhere by ~1e-8 to 1e-6, see
docs/dev/benchmarking-2026-12-07.md).

    python benchmarks/bench_suite.py [--suite quick] [--controllers none,rule_based,mpc,admm] [--workers 2]

(`--suite attack`: the attack scenarios alone, about a minute.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from cosim.bench.runner import Executor, run_all
from cosim.bench.spec import resolve
from cosim.bench.table import tidy_table

NOT_REPRODUCIBLE = {"compute_per_real_time"}
SAME_RTOL = 1e-5


def _largest_difference(table: pd.DataFrame, reference: pd.DataFrame) -> float:
    """The largest relative difference of a reproducible KPI between two tables of the same runs
    (inf when their rows or run outcomes differ)."""
    keep = ~reference["kpi"].isin(NOT_REPRODUCIBLE)
    ref, other = reference[keep].reset_index(drop=True), table[~table["kpi"].isin(NOT_REPRODUCIBLE)]
    other = other.reset_index(drop=True)
    key = ["scenario", "controller", "kpi", "status"]
    if len(ref) != len(other) or not ref[key].equals(other[key]):
        return float("inf")
    x, y = ref["value"].to_numpy(float), other["value"].to_numpy(float)
    both_nan = np.isnan(x) & np.isnan(y)
    if (np.isnan(x) != np.isnan(y)).any():
        return float("inf")
    rel = np.abs(x - y) / np.maximum(np.abs(x), 1e-9)
    return float(np.max(rel[~both_nan], initial=0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--controllers", default="none,rule_based,mpc,admm")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    console = Console()
    bench = resolve(args.suite, args.controllers)
    cases: list[tuple[str, Executor, int]] = [
        ("local, 1 worker (in process)", "local", 1),
        (f"local, {args.workers} worker processes", "local", args.workers),
        (f"dask LocalCluster, {args.workers} workers", "dask", args.workers),
    ]
    console.print(f"{args.suite}: {len(bench.runs)} runs ({len(bench.scenarios)} scenarios × "
                  f"{len(bench.controllers)} controllers), {os.cpu_count()} CPUs", highlight=False)
    results: list[tuple[str, float, pd.DataFrame, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        for name, executor, workers in cases:
            started = time.perf_counter()
            records = run_all(bench.runs, Path(tmp) / f"{executor}-{workers}" / "runs", workers, executor)
            wall = time.perf_counter() - started
            failed = sum(r.status != "ok" for r in records)
            not_applied = {(r.scenario, r.controller): r.not_applied for r in bench.runs}
            results.append((name, wall, tidy_table(bench.name, records, not_applied), failed))
            console.print(f"{name}: {wall:.1f} s", highlight=False)
    table = Table(title=f"cosim bench {args.suite}: wall time")
    for column in ("executor", "wall (s)", "speed-up vs 1 worker", "failed runs", "max rel. difference",
                   "same table"):
        table.add_column(column, justify="left" if column == "executor" else "right")
    first_wall, first_table = results[0][1], results[0][2]
    for name, wall, kpis, failed in results:
        difference = _largest_difference(kpis, first_table)
        table.add_row(name, f"{wall:.1f}", f"{first_wall / wall:.2f}", str(failed), f"{difference:.1e}",
                      "yes" if difference <= SAME_RTOL else "NO")
    console.print(table)


if __name__ == "__main__":
    main()
