"""The heat-network figure of a run: the plant's heat by source and the store over the year (daily
means), the network's losses and unserved heat, and the load-duration curve of the heat the plant
puts into the network against the sources' capacities.

    cosim eco-district ...          writes it for case B (heat-network.png)
    plot_heat_network(run_folder, "figure.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cosim.results import read_table


def plot_heat_network(out_dir: Path, path: Path) -> Path:
    """Write the figure of the run in `out_dir` (it needs the heat-network tables) to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    network = read_table(out_dir, "heat_network").set_index("time_s")
    sources = read_table(out_dir, "heat_sources")
    times = pd.DatetimeIndex(pd.to_datetime(network["timestamp"]))
    merit = list(dict.fromkeys(sources["entity"]))  # the table lists the sources in merit order
    q_by_source = sources.pivot(index="time_s", columns="entity", values="q_kw").reindex(network.index)[merit]
    q_by_source.index = times
    q_max = sources.groupby("entity", sort=False)["q_max_kw"].first()
    store = _optional_store(out_dir, network.index, times)
    fig, (ax_year, ax_duration) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    daily = q_by_source.resample("D").mean() / 1000.0
    ax_year.stackplot(
        daily.index,
        *(daily[c] for c in daily.columns),
        labels=[str(c).rsplit(".", 1)[-1] for c in daily.columns],
        alpha=0.8,
    )
    series = (
        pd.DataFrame(
            {
                "demand": network["q_demand_kw"].to_numpy(),
                "losses": network["q_loss_kw"].to_numpy(),
                "unserved": network["unserved_kw"].to_numpy(),
            },
            index=times,
        )
        .resample("D")
        .mean()
        / 1000.0
    )
    ax_year.plot(series.index, series["demand"], color="black", lw=1.0, label="substations' demand")
    ax_year.plot(series.index, series["losses"], color="tab:red", lw=1.0, label="pipe losses")
    if series["unserved"].max() > 0:
        ax_year.plot(series.index, series["unserved"], color="magenta", lw=1.2, label="unserved")
    ax_year.set_ylabel("MW (daily mean)")
    ax_year.set_title(f"Heat network of {_run_name(out_dir)}: plant heat by source")
    if store is not None:
        ax_soc = ax_year.twinx()
        ax_soc.plot(
            store.resample("D").mean().index,
            store.resample("D").mean(),
            color="tab:gray",
            lw=0.8,
            ls="--",
            label="store SoC (right)",
        )
        ax_soc.set_ylim(0, 1)
        ax_soc.set_ylabel("store state of charge")
        ax_soc.legend(loc="upper right")
    ax_year.legend(loc="upper center", ncols=3, fontsize="small")
    q_network = np.sort(network["q_network_kw"].dropna().to_numpy())[::-1] / 1000.0
    hours = np.arange(1, len(q_network) + 1) * _step_h(network.index)
    ax_duration.plot(hours, q_network, color="black", label="heat into the network")
    cumulative = 0.0
    for name, cap in q_max.items():
        cumulative += float(cap) / 1000.0
        ax_duration.axhline(cumulative, ls=":", color="tab:blue")
        ax_duration.text(
            hours[len(hours) // 2],
            cumulative,
            f"cumulative capacity up to {str(name).rsplit('.', 1)[-1]}",
            va="bottom",
            ha="center",
            fontsize="small",
        )
    ax_duration.set_xlabel("hours of the run, sorted")
    ax_duration.set_ylabel("MW")
    ax_duration.set_title("Load-duration curve against the sources' cumulative capacity")
    ax_duration.legend(loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _run_name(out_dir: Path) -> str:
    import json

    try:
        return str(json.loads((out_dir / "run.json").read_text())["scenario"]["name"])
    except (OSError, ValueError, KeyError):
        return out_dir.name


def _step_h(index: pd.Index) -> float:
    values = np.asarray(index, dtype=float)
    return float(values[1] - values[0]) / 3600.0 if len(values) > 1 else 1.0


def _optional_store(out_dir: Path, index: pd.Index, times: pd.DatetimeIndex) -> pd.Series | None:
    try:
        store = read_table(out_dir, "heat_store").set_index("time_s")
    except (FileNotFoundError, KeyError, ValueError):
        return None
    soc = store["soc"].reindex(index)
    soc.index = times
    return soc
