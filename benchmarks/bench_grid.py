"""Benchmark of the grid model's power flow against plain pandapower, on the same feeder and loads.

For N connections on a feeder, over `steps` steps of random-walk household injections (kW, load
convention, feed-in allowed), it times per step (mean wall time, first step excluded as warm-up):

- plain: `pandapower.runpp(net)` with its defaults, on a net with one load per connection;
- pp init=results: the same with `init="results"` (pandapower's warm start);
- ours pp: `GridModel.solve` with the pandapower backend (recycled matrices and warm start);
- ours auto: `GridModel.solve` with the auto backend (lightsim2grid when installed);

and reports plain/ours-auto and the largest voltage difference between plain and ours (pu).
Every method sets the loads of the step inside its timed section. Run: `python benchmarks/bench_grid.py`.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandapower as pp
from rich.console import Console
from rich.table import Table

from simulators.grid.model import GridModel, lightsim2grid_available
from simulators.grid.networks import load_feeder

CASES = [("kerber_landnetz_kabel_1", 10), ("kerber_vorstadtnetz_kabel_1", 10),
         ("kerber_vorstadtnetz_kabel_1", 100), ("kerber_vorstadtnetz_kabel_1", 1000)]


@dataclass(frozen=True)
class Timing:
    """Mean time per step (ms) and the bus voltages of the last step."""

    ms_per_step: float
    v_pu: np.ndarray


@dataclass(frozen=True)
class Row:
    network: str
    n: int
    plain: Timing
    pp_results: Timing
    ours_pp: Timing
    ours_auto: Timing


def random_walk_kw(n: int, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(steps × n) household p_kw (random walk in [-5, 10] kW) and q_kvar (cos φ ≈ 0.98)."""
    p_kw = np.empty((steps, n))
    p_kw[0] = rng.uniform(0.2, 2.0, n)
    for k in range(1, steps):
        p_kw[k] = np.clip(p_kw[k - 1] + rng.normal(0.0, 0.4, n), -5.0, 10.0)
    return p_kw, 0.2 * np.abs(p_kw)


def time_steps(solve: Callable[[int], np.ndarray], steps: int) -> Timing:
    """Mean wall time of `solve(k)` for k = 1..steps-1 (step 0 is the warm-up)."""
    v_pu = solve(0)
    start = time.perf_counter()
    for k in range(1, steps):
        v_pu = solve(k)
    return Timing((time.perf_counter() - start) / (steps - 1) * 1e3, v_pu)


def plain_net(network: str, buses: np.ndarray) -> pp.pandapowerNet:
    """The feeder with one pandapower load per connection, as a plain pandapower user builds it."""
    net = copy.deepcopy(load_feeder(network).net)
    pp.create_loads(net, buses=buses.tolist(), p_mw=0.0, q_mvar=0.0)
    return net


def pandapower_solver(net: pp.pandapowerNet, p_kw: np.ndarray, q_kvar: np.ndarray,
                      **runpp_options: object) -> Callable[[int], np.ndarray]:
    def solve(k: int) -> np.ndarray:
        net.load["p_mw"] = p_kw[k] / 1e3
        net.load["q_mvar"] = q_kvar[k] / 1e3
        pp.runpp(net, **runpp_options)
        return np.asarray(net.res_bus["vm_pu"], dtype=np.float64)
    return solve


def model_solver(model: GridModel, p_kw: np.ndarray, q_kvar: np.ndarray) -> Callable[[int], np.ndarray]:
    def solve(k: int) -> np.ndarray:
        result = model.solve(p_kw[k], q_kvar[k])
        if not result.converged:
            raise RuntimeError(f"step {k}: {result.message}")
        return result.v_pu
    return solve


def run_case(network: str, n: int, steps: int, seed: int) -> Row:
    p_kw, q_kvar = random_walk_kw(n, steps, np.random.default_rng(seed))
    ours_auto = GridModel.auto(network, n, "auto")
    ours_pp = GridModel.auto(network, n, "pandapower")
    buses = ours_auto.connection_buses
    plain = pandapower_solver(plain_net(network, buses), p_kw, q_kvar)
    warm = pandapower_solver(plain_net(network, buses), p_kw, q_kvar, init="results")
    return Row(
        network, n,
        plain=time_steps(plain, steps),
        pp_results=time_steps(warm, steps),
        ours_pp=time_steps(model_solver(ours_pp, p_kw, q_kvar), steps),
        ours_auto=time_steps(model_solver(ours_auto, p_kw, q_kvar), steps),
    )


def table(rows: list[Row], steps: int) -> Table:
    out = Table(title=f"Grid power flow, mean ms per step over {steps - 1} random-walk steps")
    for name in ("feeder", "N", "plain runpp", "runpp init=results", "ours (pandapower)", "ours (auto)",
                 "plain / ours", "max |Δv| pu"):
        out.add_column(name, justify="left" if name == "feeder" else "right")
    for r in rows:
        dv = float(np.max(np.abs(r.plain.v_pu - r.ours_auto.v_pu)))
        out.add_row(r.network, str(r.n), f"{r.plain.ms_per_step:.2f}", f"{r.pp_results.ms_per_step:.2f}",
                    f"{r.ours_pp.ms_per_step:.2f}", f"{r.ours_auto.ms_per_step:.3f}",
                    f"{r.plain.ms_per_step / r.ours_auto.ms_per_step:.0f}×", f"{dv:.1e}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=51, help="steps per case (the first is a warm-up)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console(width=150)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandapower's own pandas usage
        for network, n in CASES:
            rows.append(run_case(network, n, args.steps, args.seed))
    console.print(table(rows, args.steps))
    numba = importlib.util.find_spec("numba") is not None
    console.print(f"auto backend = {'lightsim2grid' if lightsim2grid_available() else 'pandapower'}; "
                  f"numba installed: {numba} (plain runpp uses it when installed; ours (pandapower) "
                  f"does not); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
