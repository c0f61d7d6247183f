"""The timeline of a run's attacks, alarms and quarantines over the district load (`cosim plot`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from cosim.results.writer import read_table

__all__ = ["plot_attack_timeline"]


def _optional(out_dir: Path, table: str) -> pd.DataFrame | None:
    try:
        return read_table(out_dir, table)
    except FileNotFoundError:
        return None


def _spans(rows: pd.DataFrame, step: pd.Timedelta) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive timestamps (one step apart) merged into (start, end) spans."""
    times = sorted(pd.to_datetime(rows["timestamp"]))
    spans: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for t in times:
        if spans and t - spans[-1][1] <= step:
            spans[-1] = (spans[-1][0], t)
        else:
            spans.append((t, t))
    return [(a, b + step) for a, b in spans]


def plot_attack_timeline(out_dir: Path, figures: Path, limit_kw: float | None) -> Path | None:
    """Attack windows (shaded per target), alarms (markers) and quarantines (bars) over the
    district load at the meters; None for a run without attacks or detection."""
    attacks, detections = _optional(out_dir, "attacks"), _optional(out_dir, "detections")
    if attacks is None and detections is None:
        return None
    grid = read_table(out_dir, "grid").sort_values("time_s")
    times = pd.to_datetime(grid["timestamp"])
    step = times.diff().dropna().min() if len(times) > 1 else pd.Timedelta(minutes=15)
    fig, (load, events) = plt.subplots(
        2, 1, figsize=(10, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    load.plot(times, grid["p_connections_kw"], label="district load at the meters (kW)")
    if limit_kw is not None:
        load.axhline(limit_kw, color="darkorange", linestyle="-.", label=f"shared limit ({limit_kw:g} kW)")
    agents: list[str] = []
    if attacks is not None:
        for (target, kind), rows in attacks.groupby(["entity", "kind"]):
            for k, (a, b) in enumerate(_spans(rows, step)):
                load.axvspan(a, b, color="red", alpha=0.12, label=f"{kind} on {target}" if k == 0 else None)
            agents.append(str(target))
    quarantine = _optional(out_dir, "quarantine")
    if detections is not None:
        alarms = detections[detections["alarm"].astype(bool)]
        agents += sorted(set(alarms["entity"]) - set(agents))
        if quarantine is not None:
            agents += sorted(set(quarantine["entity"]) - set(agents))
        rows_of = {a: i for i, a in enumerate(agents)}
        events.scatter(pd.to_datetime(alarms["timestamp"]), [rows_of[a] for a in alarms["entity"]],
                       marker="x", color="red", s=14, label="alarm")
    if quarantine is not None:
        end = times.iloc[-1] + step
        for agent, rows in quarantine.sort_values("time_s").groupby("entity"):
            since = None
            for t, state in zip(pd.to_datetime(rows["timestamp"]), rows["state"], strict=True):
                if state == "quarantined" and since is None:
                    since = t + step
                elif state == "released" and since is not None:
                    events.barh(agents.index(agent), t + step - since, left=since, height=0.5,
                                color="grey", alpha=0.5)
                    since = None
            if since is not None:
                events.barh(agents.index(agent), end - since, left=since, height=0.5, color="grey", alpha=0.5,
                            label="quarantined")
    events.set_yticks(range(len(agents)), agents)
    events.set_ylim(-0.75, max(len(agents), 1) - 0.25)
    events.legend(loc="upper left", fontsize=8)
    load.set_ylabel("kW")
    load.set_title("Attacks, alarms and quarantine")
    load.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    path = figures / "attack_timeline.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
