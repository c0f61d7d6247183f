"""Figures of a planning run: capacities, cost and CO2 per policy, and a week of dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from planner.hub.results import PlanResult, summary_frame

WEEK_STEPS_H = 7 * 24


def capacities_figure(results: Sequence[PlanResult], path: Path) -> Path:
    """One panel per technology (its own unit), a bar per policy."""
    summary = summary_frame(list(results)).set_index("policy")
    columns = list(results[0].capacities)
    n_cols = 4
    n_rows = int(np.ceil(len(columns) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        ax.bar(summary.index, summary[column], color="tab:blue")
        ax.set_title(column)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    fig.suptitle(f"{results[0].case_name}: optimal capacities per policy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cost_co2_figure(results: Sequence[PlanResult], path: Path) -> Path:
    """Stacked annual cost terms (export income negative) and CO2 per policy."""
    summary = summary_frame(list(results)).set_index("policy")
    fig, (ax_cost, ax_co2) = plt.subplots(1, 2, figsize=(11, 4))
    bottom = np.zeros(len(summary))
    for column in ("capex_chf", "om_chf", "fuel_chf", "import_chf"):
        values = summary[column].to_numpy() / 1e3
        ax_cost.bar(summary.index, values, bottom=bottom, label=column.removesuffix("_chf"))
        bottom += values
    ax_cost.bar(summary.index, -summary["export_income_chf"].to_numpy() / 1e3, label="export income")
    ax_cost.plot(summary.index, summary["total_cost"].to_numpy() / 1e3, "kD", label="total")
    ax_cost.set_ylabel("k CHF / a")
    ax_cost.legend(fontsize=7)
    x = np.arange(len(summary))
    ax_co2.bar(x - 0.2, summary["co2_t"], width=0.4, color="tab:gray", label="study: grid bought")
    ax_co2.bar(x + 0.2, summary["co2_physical_t"], width=0.4, color="tab:olive",
               label="physical: grid drawn")
    ax_co2.set_xticks(x, list(summary.index))
    ax_co2.set_ylabel("t CO2 / a")
    ax_co2.legend(fontsize=7)
    for ax in (ax_cost, ax_co2):
        ax.tick_params(axis="x", rotation=45)
    fig.suptitle(f"{results[0].case_name}: annual cost and emissions per policy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _week(dispatch: pd.DataFrame, step_h: float) -> pd.DataFrame:
    """The first week (or the whole horizon if shorter)."""
    n = max(1, round(WEEK_STEPS_H / step_h))
    if len(dispatch) <= n:
        return dispatch
    return dispatch.iloc[: n]


def dispatch_week_figure(result: PlanResult, path: Path) -> Path:
    """Heat and electricity supply stacks for the first week of the horizon, with storage content."""
    d = result.dispatch
    step_h = (d.index[1] - d.index[0]).total_seconds() / 3600 if len(d) > 1 else 1.0
    week = _week(d, step_h)
    fig, (ax_h, ax_e, ax_s) = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    for ax, carrier in ((ax_h, "heat"), (ax_e, "elec")):
        supply = [c for c in week.columns if c.endswith(f"_{carrier}_kw") and week[c].abs().sum() > 0]
        extra = ["grid_import_kw", "nm_withdrawal_kw"] if carrier == "elec" else []
        supply += [c for c in extra if c in week.columns and week[c].sum() > 0]
        stores = [name for name, c in result.storage_carriers.items()
                  if c == carrier and week[f"{name}_discharge_kw"].sum() > 0]
        if supply:
            ax.stackplot(week.index, *[week[c].to_numpy() for c in supply], labels=supply, alpha=0.8)
        for store in stores:
            ax.plot(week.index, week[f"{store}_discharge_kw"] - week[f"{store}_charge_kw"], lw=0.8,
                    label=f"{store} discharge − charge")
        ax.plot(week.index, week[f"{carrier}_demand_kw"], "k", lw=1.2, label="demand")
        ax.set_ylabel(f"{carrier} kW")
        ax.legend(fontsize=7, loc="upper right", ncol=3)
    for column in [c for c in week.columns if c.endswith("_e_kwh")]:
        if week[column].sum() > 0:
            ax_s.plot(week.index, week[column], label=column)
    ax_s.set_ylabel("storage kWh")
    ax_s.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{result.case_name}, policy {result.policy}: dispatch, first week")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_figures(results: Sequence[PlanResult], out_dir: Path) -> tuple[Path, ...]:
    paths = [capacities_figure(results, out_dir / "capacities.png"),
             cost_co2_figure(results, out_dir / "cost_co2.png")]
    for result in results:
        safe = result.policy.replace("+", "_").replace("/", "_")
        paths.append(dispatch_week_figure(result, out_dir / f"dispatch_week_{safe}.png"))
    return tuple(paths)
