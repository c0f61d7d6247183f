"""Figures of a run (PNG): district load against the transformer limit, the voltage band,
indoor temperatures against the comfort band, storage state of charge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from cosim.results.attack_plots import plot_attack_timeline
from cosim.results.stream import read_columns
from cosim.results.writer import read_table


def _optional(out_dir: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """`table` (only `columns` when given: a figure of a year-long run reads a few of a large
    table's columns), or None if the run has no such table."""
    try:
        return read_table(out_dir, table) if columns is None else read_columns(out_dir, table, columns)
    except FileNotFoundError:
        return None


def _save(fig: Figure, path: Path) -> Path:
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_district_load(out_dir: Path, figures: Path) -> Path:
    grid = read_table(out_dir, "grid").sort_values("time_s")
    trafos = _optional(out_dir, "trafos")
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(grid["timestamp"], grid["p_ext_kw"], label="feeder import (kW)")
    if trafos is not None and "sn_kva" in trafos:
        limit_kw = trafos.groupby("entity")["sn_kva"].first().sum()
        ax.axhline(limit_kw, color="red", linestyle="--", label=f"transformer rating ({limit_kw:.0f} kVA)")
        ax.axhline(-limit_kw, color="red", linestyle="--")
    limit = shared_limit_kw(out_dir)
    if limit is not None:
        ax.axhline(
            limit, color="darkorange", linestyle="-.", label=f"shared limit (±{limit:.0f} kW, at the meters)"
        )
        ax.axhline(-limit, color="darkorange", linestyle="-.")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylabel("kW")
    ax.set_title("District load at the transformer")
    ax.legend(loc="upper left")
    return _save(fig, figures / "district_load.png")


def run_info(out_dir: Path) -> dict[str, Any]:
    """The run's `run.json` (scenario, status, times)."""
    info: dict[str, Any] = json.loads((Path(out_dir) / "run.json").read_text(encoding="utf-8"))
    return info


def shared_limit_kw(out_dir: Path) -> float | None:
    """The scenario's grid.transformer_limit_kw, if any."""
    limit = run_info(out_dir).get("scenario", {}).get("grid", {}).get("transformer_limit_kw")
    return None if limit is None else float(limit)


def period_of(out_dir: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last simulated time of a run (from its scenario in run.json)."""
    from simulators.clock import start_timestamp

    scenario = run_info(out_dir).get("scenario", {})
    start = start_timestamp(str(scenario.get("start")), str(scenario.get("timezone", "UTC")))
    return start, start + pd.Timedelta(seconds=int(scenario.get("duration", 0)))


def period_warning(runs: list[Path]) -> str | None:
    """A warning when runs simulate different periods (their loads then lie apart on the time axis
    and their KPIs compare different weather), or None."""
    periods = {str(r): period_of(r) for r in runs}
    if len(set(periods.values())) <= 1:
        return None
    listed = "; ".join(
        f"{Path(r).name}: {a:%Y-%m-%d %H:%M} to {b:%Y-%m-%d %H:%M}" for r, (a, b) in periods.items()
    )
    return f"the runs simulate different periods ({listed}); their KPIs compare different weather and demand"


def compare_runs(runs: list[Path], out_file: Path) -> Path:
    """District net exchange (Σ of the meters) of several runs on one figure, with the shared limit."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    limits = set()
    for out_dir in runs:
        columns = ["timestamp", "p_kw"]
        buildings = read_columns(out_dir, "buildings", columns).groupby("timestamp")["p_kw"].sum()
        batteries = _optional(out_dir, "batteries", columns)
        if batteries is not None:
            buildings = buildings.add(batteries.groupby("timestamp")["p_kw"].sum(), fill_value=0.0)
        info = run_info(out_dir)
        controller = info.get("scenario", {}).get("controller", {}).get("kind", "?")
        ax.plot(buildings.index, buildings.to_numpy(), label=f"{Path(out_dir).name} ({controller})")
        limit = shared_limit_kw(out_dir)
        if limit is not None:
            limits.add(limit)
    for limit in sorted(limits):
        ax.axhline(limit, color="red", linestyle="--", label=f"shared limit (±{limit:.0f} kW)")
        ax.axhline(-limit, color="red", linestyle="--")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylabel("district net import at the meters (kW)")
    ax.set_title("District load: runs compared")
    ax.legend(loc="upper left", fontsize=8)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    return _save(fig, out_file)


def plot_voltages(
    out_dir: Path, figures: Path, v_min_pu: float = 0.95, v_max_pu: float = 1.05
) -> Path | None:
    buses = _optional(out_dir, "buses", ["timestamp", "v_pu"])
    if buses is None:
        return None
    stats = buses.groupby("timestamp")["v_pu"].describe(percentiles=[0.05, 0.5, 0.95])
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.25, label="min–max over buses")
    ax.fill_between(stats.index, stats["5%"], stats["95%"], alpha=0.4, label="5–95 %")
    ax.plot(stats.index, stats["50%"], label="median")
    ax.axhline(v_min_pu, color="red", linestyle="--", label="limits")
    ax.axhline(v_max_pu, color="red", linestyle="--")
    ax.set_ylabel("voltage (pu)")
    ax.set_title("Bus voltages")
    ax.legend(loc="lower left")
    return _save(fig, figures / "voltages.png")


def plot_temperatures(out_dir: Path, figures: Path, max_lines: int = 10) -> Path:
    """Indoor temperatures: one named line per building when there are at most `max_lines`;
    otherwise the band from the coldest to the warmest building at each time, the mean, and the two
    buildings with the lowest and the highest temperature of the run, named."""
    b = read_columns(out_dir, "buildings", ["timestamp", "entity", "t_in_c"])
    wide = b.pivot_table(index="timestamp", columns="entity", values="t_in_c")
    return _save(temperature_figure(wide, max_lines), figures / "indoor_temperatures.png")


def temperature_figure(wide: pd.DataFrame, max_lines: int = 10) -> Figure:
    """The figure of `plot_temperatures` from indoor temperatures (one column per building)."""
    fig, ax = plt.subplots(figsize=(10, 4))
    if wide.shape[1] <= max_lines:
        for column in wide.columns:
            ax.plot(wide.index, wide[column], linewidth=0.9, label=str(column))
        title = f"Indoor temperatures ({wide.shape[1]} buildings)"
    else:
        ax.fill_between(wide.index, wide.min(axis=1), wide.max(axis=1), alpha=0.25, color="tab:blue",
                        label="coldest to warmest building")
        ax.fill_between(wide.index, wide.quantile(0.1, axis=1), wide.quantile(0.9, axis=1), alpha=0.35,
                        color="tab:blue", label="10–90 % of buildings")
        coldest, warmest = wide.min().idxmin(), wide.max().idxmax()
        ax.plot(wide.index, wide[coldest], color="tab:purple", linewidth=1.0, label=f"coldest: {coldest}")
        ax.plot(wide.index, wide[warmest], color="tab:red", linewidth=1.0, label=f"warmest: {warmest}")
        title = f"Indoor temperatures ({wide.shape[1]} buildings)"
    ax.plot(wide.index, wide.mean(axis=1), color="black", linewidth=2, label="mean")
    ax.set_ylabel("indoor temperature (°C)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7)
    return fig


def plot_soc(out_dir: Path, figures: Path, max_lines: int = 30) -> Path | None:
    columns = ["timestamp", "entity", "soc"]
    tables = (_optional(out_dir, "batteries", columns), _optional(out_dir, "tanks", columns))
    frames = [t for t in tables if t is not None]
    if not frames:
        return None
    s = pd.concat(frames)
    wide = s.pivot_table(index="timestamp", columns="entity", values="soc")
    fig, ax = plt.subplots(figsize=(10, 4))
    for column in list(wide.columns)[:max_lines]:
        ax.plot(wide.index, wide[column], linewidth=0.9, label=column if wide.shape[1] <= 10 else None)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("state of charge")
    ax.set_title("Storage state of charge")
    if wide.shape[1] <= 10:
        ax.legend(loc="upper left", fontsize=7)
    return _save(fig, figures / "soc.png")


def plot_run(out_dir: Path) -> list[Path]:
    """Every figure of a run, into `out_dir/figures`; returns the files written."""
    figures = Path(out_dir) / "figures"
    figures.mkdir(exist_ok=True)
    made = [
        plot_district_load(out_dir, figures),
        plot_voltages(out_dir, figures),
        plot_temperatures(out_dir, figures),
        plot_soc(out_dir, figures),
        plot_attack_timeline(out_dir, figures, shared_limit_kw(out_dir)),
    ]
    return [p for p in made if p is not None]
