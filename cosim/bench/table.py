"""The benchmark's KPIs of each run, normalised by the no-control baseline, and the composite score.

Every KPI comes from the run's `kpis.json` (`cosim.results.kpis`). Normalisation against the run of
controller `none` on the same scenario:
- `ratio`: control / baseline (as CityLearn), for KPIs that are positive by nature (cost, CO2, peaks,
  ramping, 1 − load factor, losses); where the baseline is zero or negative (a district that earns
  more than it pays), the difference control − baseline instead, marked `difference (baseline <= 0)`;
- `difference`: control − baseline, for KPIs that can be zero or negative (discomfort, voltage
  violations, transformer overload and limit hours, net export);
- `raw`: not normalised (computation: wall time per control step against real time, ADMM
  iterations, MQTT messages and bytes);
- `security` (runs with `attacks:` or `detection:`: attacks detected, false-positive rate, steps to
  detect, alarms, quarantined agent-steps): the difference control − baseline where the baseline has
  the KPI (counts and rates that can be zero: never a ratio); the `none` baseline runs no detector
  (detection watches ADMM agents), so there the cell is the raw value, marked `raw (baseline has
  none)`. A controller the scenario's attacks or detection do not apply to (an attack that
  `needs_controller: admm`, the detection section) runs the scenario without them
  (`cosim.bench.spec.without_inapplicable`); its security cells are empty, marked `n/a: ...` with
  what was left out (also in the `not_applied` column of all its rows).

Composite score (lower is better; the baseline scores 1): the mean of the `ratio`-normalised KPIs
of SCORE_RATIOS (cells normalised as a difference are left out) plus 0.1 × the extra discomfort per
building and day (K·h) plus 0.1 × the extra hours of voltage violation (bus-hours), transformer
overload and limit exceedance per day, each against the baseline. Security KPIs are not in it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from cosim.bench.runner import RunRecord
from cosim.bench.spec import BASELINE

Normalise = Literal["ratio", "difference", "raw", "security"]
Better = Literal["lower", "higher", ""]
Getter = Callable[[dict[str, Any]], float | None]
SCORE_RATIOS = ("energy_cost", "co2_kg", "peak_import_kw", "daily_peak_mean_kw", "ramping_kw",
                "one_minus_load_factor", "losses_kwh")
SCORE_WEIGHT = 0.1
COLUMNS = ["suite", "scenario", "controller", "kpi", "label", "unit", "value", "baseline", "normalised",
           "normalisation", "better", "status", "error", "cached", "run_dir", "not_applied"]
NOT_APPLICABLE = "n/a"


def _at(group: str, name: str) -> Getter:
    def get(k: dict[str, Any]) -> float | None:
        value = (k.get(group) or {}).get(name)
        return None if value is None else float(value)

    return get


def _net_export(k: dict[str, Any]) -> float | None:
    e = k.get("energy") or {}
    if e.get("exported_kwh") is None or e.get("imported_kwh") is None:
        return None
    return float(e["exported_kwh"]) - float(e["imported_kwh"])


def _per_real_time(k: dict[str, Any]) -> float | None:
    run = k.get("run") or {}
    if not run.get("wall_time_s") or not run.get("steps"):
        return None
    return float(run["wall_time_s"]) / (float(run["steps"]) * float(run["step_s"]))


@dataclass(frozen=True)
class Kpi:
    name: str  # energy_cost gets the currency: energy_cost_eur
    label: str
    unit: str
    get: Getter
    normalise: Normalise
    better: Better
    deterministic: bool = True  # False: wall-clock measurements, not reproducible


KPIS: tuple[Kpi, ...] = (
    Kpi("energy_cost", "energy cost", "{currency}", _at("cost", "total"), "ratio", "lower"),
    Kpi("co2_kg", "CO2", "kg", _at("co2", "co2_kg"), "ratio", "lower"),
    Kpi("peak_import_kw", "peak import (all time)", "kW", _at("peak", "peak_import_kw"), "ratio", "lower"),
    Kpi("daily_peak_mean_kw", "mean daily peak", "kW", _at("peak", "daily_peak_mean_kw"), "ratio", "lower"),
    Kpi("ramping_kw", "ramping", "kW", _at("peak", "ramping_kw"), "ratio", "lower"),
    Kpi("one_minus_load_factor", "1 − load factor", "-", _at("peak", "one_minus_load_factor"), "ratio",
        "lower"),
    Kpi("discomfort_kh", "thermal discomfort", "K·h", _at("comfort", "discomfort_kh"), "difference", "lower"),
    Kpi("voltage_violation_bus_h", "voltage violations", "bus·h", _at("grid", "voltage_violation_bus_h"),
        "difference", "lower"),
    Kpi("trafo_overload_h", "transformer overload", "h", _at("grid", "trafo_overload_h"), "difference",
        "lower"),
    Kpi("limit_exceeded_h", "shared limit exceeded", "h", _at("limit", "exceeded_h"), "difference", "lower"),
    Kpi("losses_kwh", "network losses", "kWh", _at("energy", "losses_kwh"), "ratio", "lower"),
    Kpi("net_export_kwh", "net export", "kWh", _net_export, "difference", ""),
    Kpi("compute_per_real_time", "computation per real time", "s/s", _per_real_time, "raw", "lower", False),
    Kpi("admm_iterations_mean", "ADMM iterations per step", "-", _at("admm", "iterations_mean"), "raw", ""),
    Kpi("mqtt_messages", "MQTT messages", "-", _at("mqtt", "messages"), "raw", ""),
    Kpi("mqtt_bytes", "MQTT bytes", "B", _at("mqtt", "bytes"), "raw", ""),
    Kpi("detected_share", "attacks detected", "-", _at("security", "detected_share"), "security", "higher"),
    Kpi("false_positive_rate", "false-positive alarms", "per agent-step",
        _at("security", "false_positive_rate"), "security", "lower"),
    Kpi("steps_to_detect_median", "steps to detect (median)", "steps",
        _at("security", "steps_to_detect_median"), "security", "lower"),
    Kpi("alarms", "alarms", "agent-steps", _at("security", "alarms"), "security", ""),
    Kpi("quarantined_agent_steps", "quarantined", "agent-steps", _at("security", "quarantined_agent_steps"),
        "security", ""),
)


def kpi_name(kpi: Kpi, currency: str) -> str:
    return f"{kpi.name}_{currency.lower()}" if kpi.name == "energy_cost" else kpi.name


def load_kpis(record: RunRecord) -> dict[str, Any] | None:
    if record.status != "ok":
        return None
    return dict(json.loads((Path(record.folder) / "kpis.json").read_text(encoding="utf-8")))


def _normalised(kpi: Kpi, value: float | None, baseline: float | None) -> tuple[float, str]:
    if kpi.normalise == "raw":
        return math.nan, "raw"
    if kpi.normalise == "security":
        if baseline is None or not math.isfinite(baseline):
            return math.nan, "raw (baseline has none)"
        if value is None or not math.isfinite(value):
            return math.nan, "difference"
        return value - baseline, "difference"
    if value is None or baseline is None or not (math.isfinite(value) and math.isfinite(baseline)):
        return math.nan, kpi.normalise
    if kpi.normalise == "ratio":
        if baseline > 0:
            return value / baseline, "ratio"
        return value - baseline, "difference (baseline <= 0)"
    return value - baseline, "difference"


def tidy_table(
    suite: str, records: list[RunRecord], not_applied: dict[tuple[str, str], tuple[str, ...]] | None = None
) -> pd.DataFrame:
    """One row per scenario × controller × KPI (and the score); failed runs keep their rows, empty.
    `not_applied`: per (scenario, controller), the attacks and detection left out of its run
    (`RunSpec.not_applied`)."""
    loaded = {(r.scenario, r.controller): load_kpis(r) for r in records}
    not_applied = not_applied or {}
    secured = {  # the security KPIs some run of the scenario has
        (scenario, kpi.name) for (scenario, _c), k in loaded.items() for kpi in KPIS
        if kpi.normalise == "security" and k is not None and kpi.get(k) is not None
    }
    rows: list[dict[str, Any]] = []
    for r in records:
        k = loaded[(r.scenario, r.controller)]
        base = loaded.get((r.scenario, BASELINE))
        left_out = not_applied.get((r.scenario, r.controller), ())
        currency = str(((k or base or {}).get("run") or {}).get("currency") or "EUR")
        run_rows = []
        for kpi in KPIS:
            value = kpi.get(k) if k is not None else None
            baseline = kpi.get(base) if base is not None else None
            if value is None and baseline is None and kpi.normalise == "raw":
                continue  # a KPI no run of this scenario has (no ADMM, no MQTT)
            if kpi.normalise == "security" and (r.scenario, kpi.name) not in secured:
                continue  # no attacks, no detection in this scenario
            normalised, how = _normalised(kpi, value, baseline)
            if kpi.normalise == "security" and value is None and left_out:
                how = f"{NOT_APPLICABLE}: " + "; ".join(left_out)
            run_rows.append({
                "kpi": kpi_name(kpi, currency), "label": kpi.label,
                "unit": kpi.unit.format(currency=currency),
                "value": math.nan if value is None else value,
                "baseline": math.nan if baseline is None else baseline,
                "normalised": normalised, "normalisation": how, "better": kpi.better,
            })
        run_rows.append(_score_row(run_rows, k, base))
        common = {"suite": suite, "scenario": r.scenario, "controller": r.controller, "status": r.status,
                  "error": r.error or "", "cached": r.cached, "run_dir": r.folder,
                  "not_applied": "; ".join(left_out)}
        rows += [{**common, **row} for row in run_rows]
    return pd.DataFrame(rows, columns=COLUMNS)


def _score_row(
    rows: list[dict[str, Any]], k: dict[str, Any] | None, base: dict[str, Any] | None
) -> dict[str, Any]:
    score = composite_score(rows, k)
    baseline_score = composite_score(
        [{**row, "normalised": 1.0 if row["normalisation"] == "ratio" else 0.0} for row in rows], base
    ) if base is not None else math.nan
    return {"kpi": "score", "label": "composite score", "unit": "-", "value": score,
            "baseline": baseline_score, "normalised": score, "normalisation": "composite", "better": "lower"}


def composite_score(rows: list[dict[str, Any]], k: dict[str, Any] | None) -> float:
    """The documented composite score (module docstring) from a run's normalised KPI rows."""
    if k is None:
        return math.nan
    by = {row["kpi"].removesuffix("_" + str(row["unit"]).lower()) if row["kpi"].startswith("energy_cost")
          else row["kpi"]: row for row in rows}
    ratios = [by[n]["normalised"] for n in SCORE_RATIOS
              if n in by and by[n]["normalisation"] == "ratio" and math.isfinite(by[n]["normalised"])]
    if not ratios:
        return math.nan
    run = k.get("run") or {}
    days = max(float(run.get("steps", 0)) * float(run.get("step_s", 0)) / 86400.0, 1e-9)
    buildings = max(float(run.get("buildings", 1)), 1.0)

    def delta(name: str) -> float:
        value = by.get(name, {}).get("normalised", math.nan)
        return float(value) if isinstance(value, float) and math.isfinite(value) else 0.0

    comfort = delta("discomfort_kh") / (buildings * days)
    grid = (delta("voltage_violation_bus_h") + delta("trafo_overload_h") + delta("limit_exceeded_h")) / days
    return float(sum(ratios) / len(ratios) + SCORE_WEIGHT * comfort + SCORE_WEIGHT * grid)


def with_variants(table: pd.DataFrame, variants: dict[str, tuple[tuple[str, Any], ...]]) -> pd.DataFrame:
    """The table with one column per field a sweep varied (its value for each row's scenario)."""
    fields = list(dict.fromkeys(field for variant in variants.values() for field, _ in variant))
    out = table.copy()
    for field in fields:
        out[field] = [dict(variants.get(s, ())).get(field) for s in out["scenario"]]
    return out


def wide(table: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """Scenario × controller rows, one column per KPI (in the table's order)."""
    order = list(dict.fromkeys(table["kpi"]))
    out = table.pivot_table(index=["scenario", "controller"], columns="kpi", values=column, aggfunc="first",
                            dropna=False, sort=False)
    return out.reindex(columns=[c for c in order if c in out.columns])


def best_controllers(table: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(scenario, controller, kpi) of the best value of each KPI in each scenario (ties all marked)."""
    best: set[tuple[str, str, str]] = set()
    ok = table[(table["status"] == "ok") & table["better"].isin(["lower", "higher"]) & table["value"].notna()]
    for (scenario, kpi), rows in ok.groupby(["scenario", "kpi"], sort=False):
        if rows["value"].nunique() <= 1:
            continue  # all the same, or one value only: nothing to mark
        lower = rows["better"].iloc[0] == "lower"
        target = rows["value"].min() if lower else rows["value"].max()
        tolerance = 1e-9 * max(abs(target), 1.0)
        for controller in rows.loc[(rows["value"] - target).abs() <= tolerance, "controller"]:
            best.add((str(scenario), str(controller), str(kpi)))
    return best
