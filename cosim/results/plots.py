"""Figures of a run (PNG): district load against the transformer limit, the voltage band,
indoor temperatures against the comfort band, storage state of charge.

The per-entity tables (`buildings`, `buses`, `batteries`, `tanks`) are never read whole: a year of
1,000 buildings is ~35 million rows. Each figure reads them in time windows of about `window_rows`
rows (`cosim.results.stream`) and keeps per-step aggregates (sums, bands, quantiles over the
entities), or reads the rows of the few entities it draws. The aggregates are those of the whole
table, window by window (a window never cuts a step), so the figures do not depend on the window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cosim.results import stream
from cosim.results.attack_plots import plot_attack_timeline
from cosim.results.writer import read_table


def _optional(out_dir: Path, table: str) -> pd.DataFrame | None:
    """`table` (a per-step one: one row per step), or None if the run has no such table."""
    try:
        return read_table(out_dir, table)
    except FileNotFoundError:
        return None


def summed_per_step(
    out_dir: Path, table: str, column: str = "p_kw", window_rows: int = stream.WINDOW_ROWS
) -> pd.Series:
    """Σ of `column` over a per-entity table's entities per timestamp (`FileNotFoundError` without
    the table), window by window."""
    parts = [
        w.groupby("timestamp")[column].sum()
        for w in stream.table_windows(out_dir, table, ["timestamp", column], window_rows)
        if not w.empty
    ]
    return pd.concat(parts) if parts else pd.Series(dtype=float)


def _x(times: pd.Index | pd.Series) -> np.ndarray:
    """Timestamps for matplotlib as datetime64 in UTC (as it drew tz-aware ones). A tz-aware index
    reaches matplotlib as an object array of Timestamps (~100 B each), which every line keeps until
    the figure is closed: a year of 15-minute steps drawn as 30 storage lines held ~100 MB."""
    stamps = pd.DatetimeIndex(times)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    utc: np.ndarray = stamps.to_numpy()
    return utc


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
    ax.plot(_x(grid["timestamp"]), grid["p_ext_kw"].to_numpy(), label="feeder import (kW)")
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


def compare_runs(runs: list[Path], out_file: Path, window_rows: int = stream.WINDOW_ROWS) -> Path:
    """District net exchange (Σ of the meters) of several runs on one figure, with the shared limit."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    limits = set()
    for out_dir in runs:
        buildings = summed_per_step(out_dir, "buildings", window_rows=window_rows)
        if stream.dataset(out_dir, "batteries") is not None:
            batteries = summed_per_step(out_dir, "batteries", window_rows=window_rows)
            buildings = buildings.add(batteries, fill_value=0.0)
        info = run_info(out_dir)
        controller = info.get("scenario", {}).get("controller", {}).get("kind", "?")
        ax.plot(_x(buildings.index), buildings.to_numpy(), label=f"{Path(out_dir).name} ({controller})")
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


def voltage_stats(out_dir: Path, window_rows: int = stream.WINDOW_ROWS) -> pd.DataFrame | None:
    """Min, 5 %, median, 95 % and max of the bus voltages per timestamp (`describe`), or None
    without a `buses` table."""
    if stream.dataset(out_dir, "buses") is None:
        return None
    parts = [
        describe_per_step(w, "v_pu", (0.05, 0.5, 0.95))
        for w in stream.table_windows(out_dir, "buses", ["timestamp", "v_pu"], window_rows)
    ]
    return pd.concat(parts)


def describe_per_step(rows: pd.DataFrame, column: str, percentiles: tuple[float, ...]) -> pd.DataFrame:
    """`rows.groupby("timestamp")[column].describe(percentiles=percentiles)` from pandas' compiled
    group reductions (count, mean, std, min, quantiles, max) instead of its per-group `describe`."""
    groups = rows.groupby("timestamp")[column]
    quantiles = groups.quantile(list(percentiles)).unstack()
    quantiles.columns = [f"{100 * p:g}%" for p in percentiles]
    stats = pd.concat([groups.count().astype(float).rename("count"), groups.mean().rename("mean"),
                       groups.std().rename("std"), groups.min().rename("min"), quantiles,
                       groups.max().rename("max")], axis=1)
    stats.columns.name = None
    return stats


def plot_voltages(
    out_dir: Path,
    figures: Path,
    v_min_pu: float = 0.95,
    v_max_pu: float = 1.05,
    window_rows: int = stream.WINDOW_ROWS,
) -> Path | None:
    stats = voltage_stats(out_dir, window_rows)
    if stats is None:
        return None
    fig, ax = plt.subplots(figsize=(10, 4))
    x = _x(stats.index)
    ax.fill_between(x, stats["min"].to_numpy(), stats["max"].to_numpy(), alpha=0.25,
                    label="min–max over buses")
    ax.fill_between(x, stats["5%"].to_numpy(), stats["95%"].to_numpy(), alpha=0.4, label="5–95 %")
    ax.plot(x, stats["50%"].to_numpy(), label="median")
    ax.axhline(v_min_pu, color="red", linestyle="--", label="limits")
    ax.axhline(v_max_pu, color="red", linestyle="--")
    ax.set_ylabel("voltage (pu)")
    ax.set_title("Bus voltages")
    ax.legend(loc="lower left")
    return _save(fig, figures / "voltages.png")


@dataclass(frozen=True)
class TemperatureBand:
    """Indoor temperatures of many buildings per timestamp: coldest to warmest building, 10–90 %,
    mean, and the series of the two buildings with the lowest and the highest temperature of the
    run (ties: the first by name)."""

    low: pd.Series
    high: pd.Series
    q10: pd.Series
    q90: pd.Series
    mean: pd.Series
    coldest: str
    coldest_c: pd.Series
    warmest: str
    warmest_c: pd.Series
    buildings: int

    @classmethod
    def of(cls, wide: pd.DataFrame) -> TemperatureBand:
        """From indoor temperatures with one column per building."""
        coldest, warmest = wide.min().idxmin(), wide.max().idxmax()
        return cls(wide.min(axis=1), wide.max(axis=1), wide.quantile(0.1, axis=1), wide.quantile(0.9, axis=1),
                   wide.mean(axis=1), str(coldest), wide[coldest], str(warmest), wide[warmest], wide.shape[1])


def temperatures(
    out_dir: Path, max_lines: int = 10, window_rows: int = stream.WINDOW_ROWS
) -> pd.DataFrame | TemperatureBand:
    """Indoor temperatures (one column per building) when there are at most `max_lines` buildings,
    else their `TemperatureBand`: read in time windows (each window's buildings side by side), then
    the coldest and the warmest building's rows."""
    wides: list[pd.DataFrame] = []  # while there are few buildings
    names: set[str] = set()
    bands: list[pd.DataFrame] = []
    lows: list[pd.Series] = []
    highs: list[pd.Series] = []
    for b in stream.table_windows(out_dir, "buildings", ["timestamp", "entity", "t_in_c"], window_rows):
        wide = b.pivot_table(index="timestamp", columns="entity", values="t_in_c")
        names.update(str(c) for c in wide.columns)
        wides = [*wides, wide] if len(names) <= max_lines else []
        bands.append(pd.DataFrame({"low": wide.min(axis=1), "high": wide.max(axis=1),
                                   "q10": wide.quantile(0.1, axis=1), "q90": wide.quantile(0.9, axis=1),
                                   "mean": wide.mean(axis=1)}))
        lows.append(wide.min())
        highs.append(wide.max())
    if len(names) <= max_lines:
        whole = pd.concat(wides) if wides else pd.DataFrame(columns=pd.Index([], name="entity"))
        return whole.reindex(columns=sorted(names))
    band = pd.concat(bands)
    low = pd.concat(lows, axis=1).min(axis=1).sort_index()
    high = pd.concat(highs, axis=1).max(axis=1).sort_index()
    coldest, warmest = str(low.idxmin()), str(high.idxmax())
    rows = stream.read_rows_of(out_dir, "buildings", ["timestamp", "entity", "t_in_c"], [coldest, warmest])
    two = rows.pivot_table(index="timestamp", columns="entity", values="t_in_c").reindex(band.index)
    return TemperatureBand(band["low"], band["high"], band["q10"], band["q90"], band["mean"],
                           coldest, two[coldest], warmest, two[warmest], len(names))


def plot_temperatures(
    out_dir: Path, figures: Path, max_lines: int = 10, window_rows: int = stream.WINDOW_ROWS
) -> Path:
    """Indoor temperatures: one named line per building when there are at most `max_lines`;
    otherwise the band from the coldest to the warmest building at each time, the mean, and the two
    buildings with the lowest and the highest temperature of the run, named."""
    data = temperatures(out_dir, max_lines, window_rows)
    fig = temperature_figure(data, max_lines) if isinstance(data, pd.DataFrame) else band_figure(data)
    return _save(fig, figures / "indoor_temperatures.png")


def temperature_figure(wide: pd.DataFrame, max_lines: int = 10) -> Figure:
    """The figure of `plot_temperatures` from indoor temperatures (one column per building)."""
    if wide.shape[1] > max_lines:
        return band_figure(TemperatureBand.of(wide))
    fig, ax = plt.subplots(figsize=(10, 4))
    x = _x(wide.index)
    for column in wide.columns:
        ax.plot(x, wide[column].to_numpy(), linewidth=0.9, label=str(column))
    ax.plot(x, wide.mean(axis=1).to_numpy(), color="black", linewidth=2, label="mean")
    return _temperature_axes(fig, ax, wide.shape[1])


def band_figure(band: TemperatureBand) -> Figure:
    """The figure of `plot_temperatures` for many buildings."""
    fig, ax = plt.subplots(figsize=(10, 4))
    x = _x(band.low.index)
    ax.fill_between(x, band.low.to_numpy(), band.high.to_numpy(), alpha=0.25, color="tab:blue",
                    label="coldest to warmest building")
    ax.fill_between(x, band.q10.to_numpy(), band.q90.to_numpy(), alpha=0.35, color="tab:blue",
                    label="10–90 % of buildings")
    ax.plot(x, band.coldest_c.to_numpy(), color="tab:purple", linewidth=1.0, label=f"coldest: {band.coldest}")
    ax.plot(x, band.warmest_c.to_numpy(), color="tab:red", linewidth=1.0, label=f"warmest: {band.warmest}")
    ax.plot(x, band.mean.to_numpy(), color="black", linewidth=2, label="mean")
    return _temperature_axes(fig, ax, band.buildings)


def _temperature_axes(fig: Figure, ax: Any, buildings: int) -> Figure:
    ax.set_ylabel("indoor temperature (°C)")
    ax.set_title(f"Indoor temperatures ({buildings} buildings)")
    ax.legend(loc="upper left", fontsize=7)
    return fig


STORAGE_TABLES = ("batteries", "tanks")


def storage_soc(
    out_dir: Path, max_lines: int = 30, window_rows: int = stream.WINDOW_ROWS
) -> tuple[pd.DataFrame, int] | None:
    """The state of charge of the first `max_lines` storage units by name (one column each) and
    how many units have one; None without batteries and tanks. Read in time windows, keeping the
    drawn units' values only (a year of 30 units read at once took ~200 MB: its rows' strings)."""
    tables = [t for t in STORAGE_TABLES if stream.dataset(out_dir, t) is not None]
    if not tables:
        return None
    names = sorted({n for t in tables for n in stream.distinct(out_dir, t, "entity", valid="soc")})
    drawn = names[:max_lines]
    by_table = []
    for t in tables:  # window by window, the drawn units' columns only (a unit is in one table)
        wides = []
        for rows in stream.table_windows(out_dir, t, ["timestamp", "entity", "soc"], window_rows):
            rows = rows[rows["entity"].isin(drawn)]
            if not rows.empty:
                wides.append(_wide(rows, "soc"))
        if wides:
            by_table.append(pd.concat(wides))
    wide = pd.concat(by_table, axis=1) if by_table else pd.DataFrame()
    wide = wide.sort_index().reindex(columns=sorted(wide.columns)).dropna(how="all").dropna(axis=1, how="all")
    wide.index.name, wide.columns.name = "timestamp", "entity"
    return wide, len(names)


def _wide(rows: pd.DataFrame, value: str) -> pd.DataFrame:
    """`rows.pivot_table(index="timestamp", columns="entity", values=value)` for rows with one value
    per entity and timestamp, built one entity at a time (no grouping by the pairs)."""
    series = {name: group.set_index("timestamp")[value] for name, group in rows.groupby("entity", sort=True)}
    wide = pd.DataFrame(series).sort_index().dropna(how="all").dropna(axis=1, how="all")
    wide.index.name, wide.columns.name = "timestamp", "entity"
    return wide


def plot_soc(out_dir: Path, figures: Path, max_lines: int = 30) -> Path | None:
    soc = storage_soc(out_dir, max_lines)
    if soc is None:
        return None
    wide, units = soc
    fig, ax = plt.subplots(figsize=(10, 4))
    x = _x(wide.index)
    for column in list(wide.columns)[:max_lines]:
        ax.plot(x, wide[column].to_numpy(), linewidth=0.9, label=column if units <= 10 else None)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("state of charge")
    ax.set_title("Storage state of charge")
    if units <= 10:
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
