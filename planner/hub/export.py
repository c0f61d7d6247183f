"""Per-asset plans (``controllers.plans``) from a planner dispatch: a slice at a start time and step.

Series per asset kind (signs as in ARCHITECTURE.md):

- store (``battery`` / ``thermal_storage``): ``soc`` (0–1) and ``e_kwh`` at the end of each step,
  ``p_kw`` = charge − discharge (positive when charging);
- ``heat_pump``: ``p_el_kw`` drawn and ``p_heat_kw`` delivered; other converters (``chp``,
  ``boiler``, ``pv``, ``solar_thermal``): ``p_<carrier>_kw`` per output and ``p_in_kw`` (fuel or
  irradiance on the collector);
- ``grid``: ``p_kw`` = import + net-metering withdrawal − exports (positive when drawn), plus
  ``import_kw`` and ``export_kw``.

Powers are averages over each plan step; states hold at the end of the step. A plan step coarser
than the dispatch step averages powers and keeps the state at the end; a finer one repeats powers
and interpolates states linearly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from controllers.plans import AssetKind, AssetPlan, PlanSet
from planner.hub.errors import PlannerInputError
from planner.hub.results import PlanResult
from planner.hub.technologies import Catalogue, ConversionTech

SOURCE = "planner.hub"
STATES = ("soc", "e_kwh")


def _kind(tech: ConversionTech) -> AssetKind:
    if tech.is_solar:
        return "pv" if "elec" in tech.outputs else "solar_thermal"
    if tech.input == "elec" and "heat" in tech.outputs:
        return "heat_pump"
    if set(tech.outputs) == {"elec", "heat"}:
        return "chp"
    return "boiler" if set(tech.outputs) == {"heat"} else "converter"


def _asset_series(dispatch: pd.DataFrame, catalogue: Catalogue,
                  capacities: Mapping[str, float]) -> dict[str, tuple[AssetKind, dict[str, pd.Series]]]:
    """Per asset: kind and named series on the dispatch grid (built assets only)."""
    assets: dict[str, tuple[AssetKind, dict[str, pd.Series]]] = {}
    for name, store in catalogue.storage.items():
        if capacities.get(f"{name}_kwh", 0.0) <= 0:
            continue
        kind: AssetKind = "battery" if store.carrier == "elec" else "thermal_storage"
        assets[name] = (kind, {"soc": dispatch[f"{name}_soc"], "e_kwh": dispatch[f"{name}_e_kwh"],
                               "p_kw": dispatch[f"{name}_charge_kw"] - dispatch[f"{name}_discharge_kw"]})
    for name, tech in catalogue.conversion.items():
        if dispatch[f"{name}_in_kw"].abs().sum() == 0:
            continue
        kind = _kind(tech)
        if kind == "heat_pump":
            series = {"p_el_kw": dispatch[f"{name}_in_kw"], "p_heat_kw": dispatch[f"{name}_heat_kw"]}
        else:
            series = {f"p_{c}_kw": dispatch[f"{name}_{c}_kw"] for c in tech.outputs}
            series["p_in_kw"] = dispatch[f"{name}_in_kw"]
        assets[name] = (kind, series)
    zero = pd.Series(0.0, index=dispatch.index)
    drawn = dispatch["grid_import_kw"] + dispatch.get("nm_withdrawal_kw", zero)
    exported = dispatch["export_solar_kw"] + dispatch["export_other_kw"]
    assets["grid"] = ("grid", {"p_kw": drawn - exported, "import_kw": drawn, "export_kw": exported})
    return assets


def _resample(values: np.ndarray, before: float, ratio: float, is_state: bool) -> np.ndarray:
    """Dispatch-step values → plan-step values; ``ratio`` = plan step / dispatch step."""
    if ratio >= 1:
        k = round(ratio)
        groups = values.reshape(-1, k)
        return groups[:, -1] if is_state else groups.mean(axis=1)
    k = round(1 / ratio)
    if not is_state:
        return np.repeat(values, k)
    previous = np.concatenate([[before], values[:-1]])
    fractions = np.arange(1, k + 1) / k
    interpolated: np.ndarray = previous[:, None] + (values - previous)[:, None] * fractions[None, :]
    return interpolated.reshape(-1)


def export_plans(result: PlanResult, catalogue: Catalogue, start: datetime | pd.Timestamp,
                 horizon_h: float = 24.0, step_s: int = 3600, created_at: datetime | None = None,
                 asset_names: Mapping[str, str] | None = None) -> PlanSet:
    """Plans of every built asset for ``horizon_h`` hours from ``start`` at ``step_s`` resolution.

    ``start`` must fall on a dispatch step boundary inside the planned horizon; ``asset_names`` maps
    technology names to the names of the real assets (agents).
    """
    dispatch = result.dispatch
    dispatch_step_s = (dispatch.index[1] - dispatch.index[0]).total_seconds() if len(dispatch) > 1 else step_s
    ratio = step_s / dispatch_step_s
    if not (np.isclose(ratio, round(ratio)) or np.isclose(1 / ratio, round(1 / ratio))):
        raise PlannerInputError(f"plan step {step_s} s is not a multiple or divisor of the dispatch step "
                                f"{dispatch_step_s:g} s")
    t0 = pd.Timestamp(start)
    if t0.tzinfo is not None and dispatch.index.tz is None:
        t0 = t0.tz_convert("UTC").tz_localize(None)
    if t0 not in dispatch.index:
        raise PlannerInputError(f"plan start {t0} is not a step of the dispatch "
                                f"({dispatch.index[0]} … {dispatch.index[-1]}, every {dispatch_step_s:g} s)")
    first = dispatch.index.get_loc(t0)
    n_dispatch = horizon_h * 3600 / dispatch_step_s
    n_plan = horizon_h * 3600 / step_s
    whole = np.isclose(n_dispatch, round(n_dispatch)) and np.isclose(n_plan, round(n_plan))
    if not whole or round(n_plan) < 1:
        raise PlannerInputError(f"horizon {horizon_h} h is not a whole number of plan and dispatch steps")
    last = first + round(n_dispatch)
    if last > len(dispatch):
        raise PlannerInputError(f"plan {t0} + {horizon_h} h runs past the end of the dispatch "
                                f"({dispatch.index[-1]})")
    names = asset_names or {}
    when = created_at or datetime.now(UTC)
    plans: dict[str, AssetPlan] = {}
    for tech, (kind, series) in _asset_series(dispatch, catalogue, result.capacities).items():
        values: dict[str, list[float]] = {}
        for key, column in series.items():
            before = float(column.iloc[max(first - 1, 0)])
            resampled = _resample(column.iloc[first:last].to_numpy(float), before, ratio, key in STATES)
            values[key] = [float(v) for v in resampled]
        asset = names.get(tech, tech)
        plans[asset] = AssetPlan(asset=asset, kind=kind, source=f"{SOURCE}:{result.policy}",
                                 start=t0.to_pydatetime(), step_s=step_s, series=values, created_at=when)
    return PlanSet(source=f"{SOURCE}:{result.case_name}:{result.policy}", plans=plans, created_at=when)
