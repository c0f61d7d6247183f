"""The demand-side-management case of the urban-planning study (../shared/reference/studies.md): only
residential controllable load takes part, a share of 0–10 % of it; it is cut for three hours in the
evening peak (17–20 h in the study's Italian network) and the energy cut is consumed again within
4 hours, the same day.

- strategy 1, cut and restore: the cut energy is consumed again after the window, within 4 hours and
  before midnight;
- strategy 2, also anticipate: the same cut, and the energy may also be consumed in the 3 hours before
  the window.

The window is the scenario's DSM window (`controller.dsm_start_h`, `dsm_end_h`, which `rule_based`
also uses); scenarios/bench/dsm-day.yaml puts it on its district's evening peak, 18–21 h: this
platform's residential profiles (VDI 4655-like) peak between 19 and 21 h, so with the study's own
17–20 h the 20–21 h hour stays the peak and no share reduces it (`cosim bench-dsm --cut 17-20` shows
it).

How (`cosim bench-dsm`): the day of scenarios/bench/dsm-day.yaml is co-simulated once without control;
each building's residential load (its demand before PV: meter power + PV) gives its controllable load,
`share` × that load. Both strategies cut all of it in [17 h, 20 h). Where the cut energy goes is chosen
for the district by valley filling (the flattest load the allowed hours permit: water-filling of the
district's exchange), and each building takes back its own cut energy in proportion. Each case's loads
are put through the feeder's AC power flow (the run's own network, buses and reactive powers;
`simulators.grid.model.GridModel`), which gives the exchange at the transformer and the losses.
Strategy 2's allowed hours include strategy 1's, so its evening load is at least as flat.

Why not in the co-simulation: the building simulator's flexible load cannot yet be brought forward
(simulators/building/flex.py keeps the backlog ≥ 0), so strategy 2 cannot run there; strategy 1 is what
`rule_based` does with `dsm` in a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cosim.cli.errors import InputError

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "bench" / "dsm-day.yaml"
RESTORE_WITHIN_H = 4.0  # and the same day
ANTICIPATE_H = 3.0  # strategy 2 may consume this long before the cut


@dataclass(frozen=True)
class Windows:
    """The cut [start, end) in local hours, and the hours derived from it."""

    cut_h: tuple[float, float]

    @property
    def restore_h(self) -> tuple[float, float]:
        return self.cut_h[1], min(self.cut_h[1] + RESTORE_WITHIN_H, 24.0)

    @property
    def anticipate_h(self) -> tuple[float, float]:
        return max(self.cut_h[0] - ANTICIPATE_H, 0.0), self.cut_h[0]

    @property
    def evening_h(self) -> tuple[float, float]:
        """Where smoothness is measured: from the anticipation's start to midnight."""
        return self.anticipate_h[0], 24.0


@dataclass(frozen=True)
class DsmResult:
    table: pd.DataFrame
    markdown: str
    paths: list[Path]


@dataclass(frozen=True)
class DayLoads:
    """The uncontrolled day: per step × building, and the feeder."""

    hours: np.ndarray  # local clock hour of each step's start
    dt_h: float
    p_kw: np.ndarray  # (steps, buildings) meter power, + import
    q_kvar: np.ndarray
    demand_kw: np.ndarray  # residential load before PV
    buses: list[int]
    network: str
    backend: str
    losses_kwh_run: float  # the co-simulation's own losses (a check of the power-flow replay)


def _between(hours: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    return np.asarray((hours >= window[0]) & (hours < window[1]))


def water_fill(level_kw: np.ndarray, allowed: np.ndarray, energy_kwh: float, dt_h: float) -> np.ndarray:
    """Extra power x ≥ 0 on the allowed steps, Σ x·dt = energy, that fills the lowest levels first
    (minimises Σ (level + x)²): x = max(λ − level, 0) with λ found by bisection."""
    x = np.zeros_like(level_kw)
    if energy_kwh <= 0 or not allowed.any():
        return x
    levels = level_kw[allowed]
    low, high = float(levels.min()), float(levels.max()) + energy_kwh / dt_h
    for _ in range(200):
        mid = 0.5 * (low + high)
        if np.clip(mid - levels, 0, None).sum() * dt_h < energy_kwh:
            low = mid
        else:
            high = mid
    fill = np.clip(high - levels, 0, None)
    x[allowed] = fill * energy_kwh / (fill.sum() * dt_h)  # exactly the energy
    return x


def shifted(day: DayLoads, share: float, strategy: int, w: Windows) -> np.ndarray:
    """The buildings' meter power with `share` of their residential load cut in the window and consumed
    again as the strategy allows."""
    controllable = share * np.clip(day.demand_kw, 0, None)
    cut = _between(day.hours, w.cut_h)
    p = day.p_kw.copy()
    p[cut] -= controllable[cut]
    energy_b = controllable[cut].sum(axis=0) * day.dt_h  # per building
    allowed = _between(day.hours, w.restore_h)
    if strategy == 2:
        allowed |= _between(day.hours, w.anticipate_h)
    extra = water_fill(p.sum(axis=1), allowed, float(energy_b.sum()), day.dt_h)
    total = energy_b.sum()
    if total > 0:
        p += np.outer(extra, energy_b / total)
    return p


def load_day(run_dir: Path, network: str, backend: str) -> DayLoads:
    from cosim.results.writer import read_table

    b = read_table(run_dir, "buildings").sort_values(["time_s", "entity"])
    names = sorted(b["entity"].unique())
    pivot = {c: b.pivot(index="time_s", columns="entity", values=c)[names]
             for c in ("p_kw", "q_kvar", "pv_kw")}
    stamps = b.drop_duplicates("time_s").set_index("time_s")["timestamp"]
    hours = np.array([t.hour + t.minute / 60 for t in pd.DatetimeIndex(stamps)])
    connections = read_table(run_dir, "connections")
    first = connections[connections["time_s"] == connections["time_s"].min()].set_index("entity")["bus"]
    grid = read_table(run_dir, "grid")
    step_s = float(np.diff(stamps.index.to_numpy())[0])
    p = pivot["p_kw"].to_numpy()
    return DayLoads(hours, step_s / 3600.0, p, pivot["q_kvar"].to_numpy(), p + pivot["pv_kw"].to_numpy(),
                    [int(first[n]) for n in names], network, backend,
                    float(grid["losses_kw"].sum() * step_s / 3600.0))


def power_flow(day: DayLoads, p_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exchange at the transformer and losses (kW) of every step."""
    from simulators.grid.model import GridModel

    model = GridModel(day.network, day.buses, day.backend)  # type: ignore[arg-type]
    exchange, losses = np.empty(len(p_kw)), np.empty(len(p_kw))
    for t in range(len(p_kw)):
        result = model.solve(p_kw[t], day.q_kvar[t])
        if not result.converged:
            raise RuntimeError(f"the power flow of step {t} did not converge: {result.message}")
        exchange[t], losses[t] = result.p_ext_kw, result.losses_kw
    return exchange, losses


def case_kpis(day: DayLoads, exchange: np.ndarray, losses: np.ndarray, w: Windows) -> dict[str, float]:
    evening = _between(day.hours, w.evening_h)
    return {
        "peak_kw": float(exchange.max()),
        "ramping_kw": float(np.abs(np.diff(exchange)).sum()),
        "std_evening_kw": float(exchange[evening].std()),
        "ramping_evening_kw": float(np.abs(np.diff(exchange[evening])).sum()),
        "losses_kwh": float(losses.sum() * day.dt_h),
    }


def study(day: DayLoads, shares: list[float], w: Windows) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    base_exchange, base_losses = power_flow(day, day.p_kw)
    base = case_kpis(day, base_exchange, base_losses, w)
    rows, curves = [], {"base": base_exchange}
    energy_base = day.p_kw.sum() * day.dt_h
    for share in shares:
        for strategy in (1, 2):
            p = shifted(day, share, strategy, w)
            if abs(p.sum() * day.dt_h - energy_base) > 1e-6 * max(abs(energy_base), 1.0):
                raise AssertionError("the strategies move energy, they must not add or remove it")
            exchange, losses = power_flow(day, p)
            k = case_kpis(day, exchange, losses, w)
            rows.append({"share": share, "strategy": strategy, **k,
                         "peak_reduction_pct": 100 * (1 - k["peak_kw"] / base["peak_kw"]),
                         "loss_reduction_pct": 100 * (1 - k["losses_kwh"] / base["losses_kwh"])})
            curves[f"{share}:{strategy}"] = exchange
    return pd.DataFrame(rows), curves


def _figure(
    day: DayLoads, table: pd.DataFrame, curves: dict[str, np.ndarray], path: Path, w: Windows
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = float(table["share"].max())
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4))
    window = day.hours >= 12
    a.plot(day.hours[window], curves["base"][window], "k-", label="no DSM")
    for strategy, style in ((1, "C0-"), (2, "C1-")):
        a.plot(day.hours[window], curves[f"{top}:{strategy}"][window], style, label=f"strategy {strategy}")
    a.axvspan(*w.cut_h, color="grey", alpha=0.15, label=f"cut {w.cut_h[0]:g}–{w.cut_h[1]:g} h")
    a.set(xlabel="hour", ylabel="exchange at the transformer (kW)", title=f"district load, share {top:.0%}")
    a.legend(fontsize=8)
    for strategy, style in ((1, "C0o-"), (2, "C1s--")):
        rows = table[table["strategy"] == strategy]
        b.plot(100 * rows["share"], rows["peak_reduction_pct"], style, label=f"strategy {strategy}")
        c.plot(100 * rows["share"], rows["std_evening_kw"], style, label=f"strategy {strategy}")
    b.set(xlabel="controllable share (%)", ylabel="peak reduction (%)", title="peak reduction")
    c.set(xlabel="controllable share (%)", ylabel=f"std of the {w.evening_h[0]:g}–24 h load (kW)",
          title="evening smoothness")
    b.legend(fontsize=8)
    c.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown(table: pd.DataFrame, w: Windows) -> str:
    evening = f"{w.evening_h[0]:g}–24 h"
    lines = [f"cut {w.cut_h[0]:g}–{w.cut_h[1]:g} h; strategy 1 restores in "
             f"{w.restore_h[0]:g}–{w.restore_h[1]:g} h, "
             f"strategy 2 also anticipates in {w.anticipate_h[0]:g}–{w.anticipate_h[1]:g} h", "",
             f"| share | strategy | peak (kW) | peak reduction (%) | ramping (kW) | ramping {evening} (kW) | "
             f"std {evening} (kW) | losses (kWh) | loss reduction (%) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table.itertuples():
        lines.append(f"| {r.share:.1%} | {r.strategy} | {r.peak_kw:.2f} | {r.peak_reduction_pct:.2f} | "
                     f"{r.ramping_kw:.1f} | {r.ramping_evening_kw:.1f} | {r.std_evening_kw:.3f} | "
                     f"{r.losses_kwh:.3f} | {r.loss_reduction_pct:.2f} |")
    return "\n".join(lines)


def base_run(out: Path) -> tuple[Path, str, str, tuple[float, float]]:
    """The uncontrolled co-simulation of the DSM day (reused when it has run with this code), its
    feeder and backend, and the scenario's DSM window (controller.dsm_start_h, dsm_end_h)."""
    from cosim.bench.runner import execute
    from cosim.bench.spec import ControllerSpec, RunSpec, controlled, run_key
    from cosim.scenario.model import load_scenario

    scenario = load_scenario(SCENARIO)
    none = ControllerSpec("none", "none")
    run = controlled(scenario, none, str(SCENARIO))
    data = run.model_dump(mode="json")
    record = execute(RunSpec("dsm-day", "none", data, run_key(data, none)), str(out / "runs"))
    if record.status != "ok":
        raise InputError(f"the uncontrolled run of {SCENARIO} failed: {record.error}")
    window = (float(scenario.controller.dsm_start_h), float(scenario.controller.dsm_end_h))
    return Path(record.folder), run.grid.network, run.grid.backend, window


def run_study(out: Path, shares: list[float], cut_h: tuple[float, float] | None = None,
              echo: Callable[[str], None] = print) -> DsmResult:
    """The study into `out`; the cut in [cut_h) local hours (default: the scenario's DSM window)."""
    out.mkdir(parents=True, exist_ok=True)
    echo(f"co-simulating {SCENARIO.name} without control ...")
    folder, network, backend, window = base_run(out)
    w = Windows(cut_h or window)
    day = load_day(folder, network, backend)
    echo(f"{len(shares)} shares × 2 strategies through the feeder's power flow ...")
    table, curves = study(day, shares, w)
    csv, md_path, png = out / "dsm.csv", out / "dsm.md", out / "dsm.png"
    table.to_csv(csv, index=False, float_format="%.10g")
    text = markdown(table, w)
    md_path.write_text(text + "\n", encoding="utf-8")
    return DsmResult(table, text, [csv, md_path, _figure(day, table, curves, png, w)])
