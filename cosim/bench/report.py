"""The benchmark's outputs: the tidy KPI table (CSV, Parquet, Markdown) and a self-contained HTML
report (tables with the best value per KPI marked, bars per KPI, a radar of the normalised KPIs, the
district's exchange in the decisive hours), figures inline as PNG data: no file or network needed."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cosim.bench.table import KPIS, NOT_APPLICABLE, SCORE_RATIOS, SCORE_WEIGHT, best_controllers, wide

DECISIVE_WINDOW_H = 12.0  # hours shown around the largest exchange
BAR_KPIS = ("score", "energy_cost", "co2_kg", "peak_import_kw", "ramping_kw", "discomfort_kh",
            "voltage_violation_bus_h", "losses_kwh")


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if 0 < magnitude < 0.01:
            return f"{value:.2g}"
        return f"{value:.3f}"
    return str(value)


def write_tables(table: pd.DataFrame, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv, parquet, md = out / "kpis.csv", out / "kpis.parquet", out / "kpis.md"
    table.to_csv(csv, index=False, float_format="%.17g")
    table.to_parquet(parquet, index=False)
    md.write_text(markdown(table), encoding="utf-8")
    return [csv, parquet, md]


def _kpi_columns(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(kpi, label, unit) in the order of `cosim.bench.table.KPIS`, the score last."""
    order = {k.name: i for i, k in enumerate(KPIS)} | {"score": len(KPIS)}
    first = table.drop_duplicates("kpi")
    columns = [(str(r.kpi), str(r.label), str(r.unit)) for r in first.itertuples()]
    return sorted(columns, key=lambda c: order.get(_base_name(c[0]), len(KPIS)))


def _normalised_kpis(rows: pd.DataFrame, kpis: list[tuple[str, str, str]]) -> list[tuple[str, str, str, str]]:
    """(kpi, label, unit, how) of the KPIs of one scenario that have a normalised value: not the raw
    ones, nor the security ones whose baseline has none."""
    out = []
    for kpi, label, unit in kpis:
        hows = [str(h) for h in rows.loc[rows["kpi"] == kpi, "normalisation"]]
        normalised = [h for h in hows if not h.startswith(("raw", NOT_APPLICABLE))]
        if normalised:
            out.append((kpi, label, unit, normalised[0]))
    return out


def _left_out(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(controller, what was left out) of the runs of one scenario that ran without some of its attacks
    or its detection."""
    runs = rows.drop_duplicates("controller")
    return [(str(r.controller), str(r.not_applied)) for r in runs.itertuples() if str(r.not_applied or "")
            and str(r.not_applied) != "nan"]


def _shown(value: float, how: str) -> str:
    return NOT_APPLICABLE if how.startswith(NOT_APPLICABLE) else fmt(value)


def markdown(table: pd.DataFrame) -> str:
    """Per scenario, raw values (best in bold) and normalised values; failed runs with their error."""
    best = best_controllers(table)
    lines = [f"# Benchmark {table['suite'].iloc[0] if len(table) else ''}", "",
             "Normalised against controller `none`: ratio (control / baseline) or difference "
             "(control − baseline), as the `normalisation` column of kpis.csv says; **bold**: best per KPI.",
             ""]
    for scenario, rows in table.groupby("scenario", sort=False):
        kpis = [k for k in _kpi_columns(rows)]
        header = " | ".join(f"{k[1]} ({k[2]})" for k in kpis)
        lines += [f"## {scenario}", "", f"| controller | {header} |",
                  "|---|" + "---:|" * len(kpis)]
        values = wide(rows)
        hows = wide(rows, "normalisation")
        for controller in dict.fromkeys(rows["controller"]):
            status = rows.loc[rows["controller"] == controller].iloc[0]
            if status["status"] != "ok":
                lines.append(f"| {controller} | failed: {status['error']} |" + " |" * (len(kpis) - 1))
                continue
            cells = []
            for kpi, _, _ in kpis:
                at = (scenario, controller)
                text = _shown(values.loc[at, kpi], str(hows.loc[at, kpi]))
                cells.append(f"**{text}**" if (str(scenario), str(controller), kpi) in best else text)
            lines.append(f"| {controller} | " + " | ".join(cells) + " |")
        norm = wide(rows, "normalised")
        normalised = _normalised_kpis(rows, kpis)
        names = " | ".join(f"{k[0]} ({k[3]})" for k in normalised)
        lines += ["", f"normalised: | {names}",
                  ""]
        for controller in dict.fromkeys(rows["controller"]):
            if (scenario, controller) in norm.index:
                cells = [fmt(norm.loc[(scenario, controller), k[0]]) for k in normalised]
                lines.append(f"- {controller}: " + ", ".join(cells))
        for controller, left_out in _left_out(rows):
            lines.append(f"- {controller} ran the scenario without: {left_out} (not applicable to it)")
        lines.append("")
    return "\n".join(lines)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _base_name(kpi: str) -> str:
    return "energy_cost" if kpi.startswith("energy_cost") else kpi


def bars_figure(table: pd.DataFrame) -> str:
    """One panel per KPI: a bar per scenario and controller (raw values)."""
    ok = table[table["status"] == "ok"]
    kpis = [k for k in _kpi_columns(table) if _base_name(k[0]) in BAR_KPIS]
    scenarios = list(dict.fromkeys(table["scenario"]))
    controllers = list(dict.fromkeys(table["controller"]))
    n = len(kpis)
    cols = 4 if n > 4 else n
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(3.4 * cols, 2.8 * math.ceil(n / cols)),
                             squeeze=False)
    width = 0.8 / max(len(controllers), 1)
    x = np.arange(len(scenarios))
    for ax, (kpi, label, unit) in zip(axes.flat, kpis, strict=False):
        rows = ok[ok["kpi"] == kpi].set_index(["scenario", "controller"])["value"]
        for i, c in enumerate(controllers):
            heights = [float(rows.get((s, c), np.nan)) for s in scenarios]
            ax.bar(x + (i - (len(controllers) - 1) / 2) * width, heights, width, label=c)
        ax.set_title(f"{label} ({unit})", fontsize=9)
        ax.set_xticks(x, scenarios, rotation=30, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    _legend(axes.flat[0])
    fig.tight_layout()
    return _png(fig)


def _legend(ax: Any, **kwargs: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, **kwargs)


def radar_figure(table: pd.DataFrame) -> str:
    """The ratio-normalised KPIs (mean over the scenarios) of each controller; the baseline is the unit
    circle, inside is better."""
    ok = table[(table["status"] == "ok") & (table["normalisation"] == "ratio")]
    axes_kpis = [k for k in SCORE_RATIOS if k in {_base_name(str(v)) for v in ok["kpi"]}]
    fig = plt.figure(figsize=(5.2, 5.2))
    ax = fig.add_subplot(projection="polar")
    angles = np.linspace(0, 2 * np.pi, max(len(axes_kpis), 1), endpoint=False).tolist()
    for controller, rows in ok.groupby("controller", sort=False):
        means = rows.assign(base=rows["kpi"].map(_base_name)).groupby("base")["normalised"].mean()
        values = [float(means.get(k, np.nan)) for k in axes_kpis]
        if not values:
            continue
        ax.plot([*angles, angles[0]], [*values, values[0]], label=str(controller))
        ax.fill([*angles, angles[0]], [*values, values[0]], alpha=0.08)
    ax.set_xticks(angles, axes_kpis, fontsize=7)
    ax.set_title("KPIs / baseline (mean over scenarios)", fontsize=9)
    _legend(ax, loc="upper right", bbox_to_anchor=(1.35, 1.1))
    return _png(fig)


def _exchange(folder: str) -> pd.Series | None:
    from cosim.results.writer import read_table

    try:
        grid = read_table(Path(folder), "grid")
    except (FileNotFoundError, OSError):
        return None
    return grid.sort_values("time_s").set_index("timestamp")["p_ext_kw"]


def decisive_figure(table: pd.DataFrame, baseline: str = "none") -> str:
    """Per scenario, the district's exchange with the grid (feeder head) of every controller in the
    hours around the largest exchange, import or export, of any of them (a peak one controller makes,
    or the noon export of a PV district)."""
    runs = table.drop_duplicates(["scenario", "controller"])
    scenarios = list(dict.fromkeys(runs["scenario"]))
    cols = min(len(scenarios), 3)
    rows_n = math.ceil(len(scenarios) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.0 * rows_n), squeeze=False)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        these = runs[(runs["scenario"] == scenario) & (runs["status"] == "ok")]
        series = {str(r.controller): _exchange(str(r.run_dir)) for r in these.itertuples()}
        found = [s for s in series.values() if s is not None and not s.empty]
        if not found:
            ax.set_title(f"{scenario}: no run", fontsize=9)
            continue
        largest = max(found, key=lambda s: float(s.abs().max()))
        peak = largest.abs().idxmax()
        half = pd.Timedelta(hours=DECISIVE_WINDOW_H / 2)
        for name, s in series.items():
            if s is not None:
                window = s[(s.index >= peak - half) & (s.index <= peak + half)]
                ax.plot(window.index.tz_localize(None) if window.index.tz is not None else window.index,
                        window.to_numpy(), label=name, lw=1.4 if name == baseline else 1.0)
        ax.set_title(f"{scenario}: around the largest exchange", fontsize=9)
        ax.set_ylabel("exchange (kW, + import)", fontsize=7)
        ax.tick_params(labelsize=7)
        for label in ax.get_xticklabels():
            label.set_rotation(30)
    for ax in list(axes.flat)[len(scenarios):]:
        ax.set_visible(False)
    _legend(axes.flat[0])
    fig.tight_layout()
    return _png(fig)


def _html_table(rows: pd.DataFrame, scenario: str, best: set[tuple[str, str, str]], column: str) -> str:
    columns = [(*k, k[2]) for k in _kpi_columns(rows)]
    if column == "normalised":
        columns = _normalised_kpis(rows, [k[:3] for k in columns])
    kpis = [k[:3] for k in columns]
    head = "".join(
        f"<th>{html.escape(label)}<br><small>{html.escape(note)}</small></th>"
        for _kpi, label, _unit, note in columns
    )
    body = []
    for controller in dict.fromkeys(rows["controller"]):
        run = rows[rows["controller"] == controller]
        first = run.iloc[0]
        if first["status"] != "ok":
            body.append(f"<tr class='failed'><th>{html.escape(str(controller))}</th>"
                        f"<td colspan='{len(kpis)}'>failed: {html.escape(str(first['error']))}</td></tr>")
            continue
        values = run.set_index("kpi")[column]
        hows = run.set_index("kpi")["normalisation"]
        cells = []
        for kpi, _, _ in kpis:
            value = float(values.get(kpi, math.nan))
            how = str(hows.get(kpi, ""))
            mark = (scenario, str(controller), kpi) in best and column == "value"
            title = f" title='{html.escape(how)}'" if how.startswith(NOT_APPLICABLE) else ""
            cells.append(
                f"<td class='{'best' if mark else ''}' data-scenario='{html.escape(scenario)}' "
                f"data-controller='{html.escape(str(controller))}' data-kpi='{html.escape(kpi)}' "
                f"data-column='{column}' data-value='{value!r}'{title}>{_shown(value, how)}"
                f"{' ★' if mark else ''}</td>"
            )
        body.append(f"<tr><th>{html.escape(str(controller))}</th>{''.join(cells)}</tr>")
    return (f"<table class='kpis'><thead><tr><th>controller</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
table.kpis{border-collapse:collapse;font-size:12px;margin:.4em 0 1.2em}
table.kpis th,table.kpis td{border:1px solid #ccc;padding:3px 6px;text-align:right}
table.kpis thead th{background:#f0f0f0;text-align:center}
td.best{background:#d9f2d9;font-weight:bold}
tr.failed td{color:#b00;text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.note{font-size:13px;color:#444}
"""


def html_report(table: pd.DataFrame, title: str, notes: Iterable[str] = ()) -> str:
    best = best_controllers(table)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    parts.append(
        "<p class='note'>Normalised KPIs are against controller <code>none</code> on the same scenario: "
        "<b>ratio</b> = control / baseline where the baseline is positive, <b>difference</b> = control − "
        "baseline otherwise (and always for discomfort, violations, overload and limit hours, net export); "
        "computation values are raw. Security KPIs (attacks detected, false-positive alarms per agent-step, "
        "steps to detect, alarms, quarantined agent-steps; scenarios with attacks or detection) are "
        "differences where the baseline has them (counts and rates can be zero: never ratios); the "
        "baseline <code>none</code> runs no detector, so they are raw. Attacks that need an ADMM "
        "controller and the detection (which watches ADMM agents) are left out of other controllers' runs: "
        "their security cells say <b>n/a</b>; their other KPIs are of the scenario without the attack. "
        "Security KPIs are not in the score. Composite <b>score</b> (lower is better, the baseline "
        f"scores 1): the mean of the ratio-normalised {', '.join(SCORE_RATIOS)}, plus {SCORE_WEIGHT} × the "
        "extra discomfort per building and day (K·h) and plus "
        f"{SCORE_WEIGHT} × the extra violation, overload and limit hours per day. ★ marks the best value of "
        "each KPI in a scenario.</p>"
    )
    for scenario, rows in table.groupby("scenario", sort=False):
        parts.append(f"<h2>{html.escape(str(scenario))}</h2><h3>KPIs</h3>")
        secured = rows["normalisation"].astype(str).str.startswith(NOT_APPLICABLE).any()
        parts += [f"<p class='note na'><b>{html.escape(c)}</b> ran the scenario without {html.escape(what)} "
                  f"(not applicable to it){': its security KPIs are n/a' if secured else ''}.</p>"
                  for c, what in _left_out(rows)]
        parts.append(_html_table(rows, str(scenario), best, "value"))
        parts.append("<h3>Normalised</h3>")
        parts.append(_html_table(rows, str(scenario), best, "normalised"))
    parts.append("<h2>Figures</h2>")
    for caption, png in (("KPIs per scenario and controller", bars_figure(table)),
                         ("Radar of the normalised KPIs", radar_figure(table)),
                         ("The decisive hours", decisive_figure(table))):
        parts.append(f"<figure><img class='figure' alt='{html.escape(caption)}' "
                     f"src='data:image/png;base64,{png}'><figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(table: pd.DataFrame, out: Path, title: str, notes: Iterable[str] = ()) -> list[Path]:
    paths = write_tables(table, out)
    report = out / "report.html"
    report.write_text(html_report(table, title, notes), encoding="utf-8")
    return [*paths, report]
