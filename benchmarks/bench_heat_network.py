"""Benchmark of the heat-network simulator's step against the electrical grid simulator's step.

For N substations (10, 100, 500) on a parametric district (30 m of street per substation) and N
connections on the grid simulator's suburban feeder (kerber_vorstadtnetz_kabel_1), both mosaik
adapters are stepped directly (`step` with the inputs mosaik would hand over, then `get_data` of
every substation / connection) over the same hourly steps from a January day on, and the mean
wall time per step is reported (first step excluded as warm-up), with the ratio heat / grid.
Heat demands come from `simulators.heat_network.profiles`; grid loads are the same numbers read as
household electric loads (kW / 10). The last rows time a network like the urban-planning study's
case B (250 substations on 7 km) on days of January, April and July (summer nights need the most
solves per step) and project a year of hourly steps from their mean. The column "whole pipeflow
ms/solve" times the same steps again with every solve a whole `pandapipes.pipeflow` (result
tables filled, `PipeNetwork.full_pipeflow`), the way the simulator solved before it kept the
internal tables (hydraulics.py; the same numbers), and "light / whole" is the ratio of the two
ms per solve measured in this run.

Run: `python benchmarks/bench_heat_network.py [--steps 25]`.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from simulators.grid.sim import GridSim
from simulators.heat_network.aggregate import make_period
from simulators.heat_network.layout import build_district
from simulators.heat_network.sim import HeatNetworkSim

FEEDER = "kerber_vorstadtnetz_kabel_1"
CASES = [(10, 300.0), (100, 3000.0), (500, 15000.0)]
CASE_B = (250, 7000.0)
SEASONS = (("January", "2023-01-16"), ("April", "2023-04-17"), ("July", "2023-07-17"))


@dataclass(frozen=True)
class Row:
    label: str
    n: int
    length_m: float
    heat_ms: float
    solves: float
    solve_ms: float
    whole_solve_ms: float
    grid_ms: float


def _common(steps: int) -> dict[str, Any]:
    return {"step_size": 3600, "start": "2023-01-16T00:00:00", "tz": "Europe/Paris", "n_steps": steps}


def time_heat(
    n: int, length_m: float, demand: np.ndarray, t_out: np.ndarray, whole: bool = False
) -> tuple[float, float, float]:
    """Mean ms per adapter step, mean pandapipes solves per step and mean ms per solve (`whole`:
    every solve a whole `pandapipes.pipeflow`)."""
    sim = HeatNetworkSim()
    sim.init("HN-0", time_resolution=1.0, **_common(len(t_out)))
    sim.create(1, "HeatNetwork", params={"layout": {"n_substations": n, "total_length_m": length_m,
                                                    "design_kw": 30.0}})
    assert sim.model is not None
    sim.model.network.full_pipeflow = whole
    request = {f"Substation_{i}": ["t_supply_c", "t_return_c", "m_flow_kg_s"] for i in range(n)}
    request["HeatNetwork"] = ["q_network_kw", "q_loss_kw", "p_pump_kw", "converged"]
    elapsed, solves, solve_ms = 0.0, 0, 0.0
    for k in range(len(t_out)):
        inputs: dict[str, Any] = {f"Substation_{i}": {"q_demand_kw": {"b": float(q)}}
                                  for i, q in enumerate(demand[k])}
        inputs["HeatNetwork"] = {"t_out_c": {"w": float(t_out[k])}}
        start = time.perf_counter()
        sim.step(k * 3600, inputs, 10**9)
        sim.get_data(request)
        if k and sim.last is not None:
            elapsed += time.perf_counter() - start
            solves += sim.last.solves
            solve_ms += sim.last.solve_time_ms
    steps = len(t_out) - 1
    return elapsed / steps * 1e3, solves / steps, solve_ms / max(solves, 1)


def time_grid(n: int, demand: np.ndarray) -> float:
    """Mean ms per grid adapter step with N connections drawing demand / 10 kW."""
    sim = GridSim()
    sim.init("G-0", time_resolution=1.0, network=FEEDER, step_size=3600)
    sim.create(1, "Grid")
    sim.create(n, "Connection", kind="building")
    request = {f"Connection_{i}": ["v_pu", "p_kw"] for i in range(n)}
    request["Grid"] = ["p_ext_kw", "losses_kw", "converged"]
    elapsed = 0.0
    for k in range(demand.shape[0]):
        inputs = {f"Connection_{i}": {"p_kw": {"b": float(q) / 10.0}, "q_kvar": {"b": float(q) / 50.0}}
                  for i, q in enumerate(demand[k])}
        start = time.perf_counter()
        sim.step(k * 3600, inputs, 10**9)
        sim.get_data(request)
        if k:
            elapsed += time.perf_counter() - start
    return float(elapsed / (demand.shape[0] - 1) * 1e3)


def run_case(label: str, n: int, length_m: float, steps: int, start: str = "2023-01-16") -> Row:
    topology = build_district(n, length_m, design_kw=30.0)
    period = make_period("bench", start, 1 + steps // 24, topology, seed=1)
    demand, t_out = period.demand_kw[:steps], period.t_out_c[:steps]
    heat_ms, solves, solve_ms = time_heat(n, length_m, demand, t_out)
    whole_ms = time_heat(n, length_m, demand, t_out, whole=True)[2]
    return Row(label, n, length_m, heat_ms, solves, solve_ms, whole_ms, time_grid(n, demand))


def table(rows: list[Row], steps: int) -> Table:
    out = Table(title=f"Heat network vs electrical grid, mean ms per adapter step, {steps - 1} hourly steps")
    columns = ("case", "N", "length km", "heat step ms", "solves/step", "ms/solve", "whole pipeflow ms/solve",
               "light / whole", "grid step ms", "heat / grid")
    for name in columns:
        out.add_column(name, justify="left" if name == "case" else "right")
    for r in rows:
        out.add_row(r.label, str(r.n), f"{r.length_m / 1e3:.1f}", f"{r.heat_ms:.1f}", f"{r.solves:.2f}",
                    f"{r.solve_ms:.1f}", f"{r.whole_solve_ms:.1f}", f"{r.solve_ms / r.whole_solve_ms:.2f}",
                    f"{r.grid_ms:.2f}", f"{r.heat_ms / r.grid_ms:.0f}×")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=25, help="hourly steps per case (the first: warm-up)")
    args = parser.parse_args()
    rows = [run_case("district", n, length, args.steps) for n, length in CASES]
    seasons = [run_case(f"case B-like, {month}", *CASE_B, args.steps, start) for month, start in SEASONS]
    rows += seasons
    console = Console(width=170)
    console.print(table(rows, args.steps))
    year_min = 8760 * float(np.mean([r.heat_ms for r in seasons])) / 6e4
    console.print(f"projected year of hourly steps, case B-like network alone (mean of the three days): "
                  f"{year_min:.1f} min; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
