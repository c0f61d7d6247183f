"""Day-ahead re-runs: dispatch of a sized hub from the current storage state on fresh forecasts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import numpy as np
import pandas as pd

from controllers.plans import PlanSet
from planner.hub.case import Case
from planner.hub.errors import PlannerInputError
from planner.hub.export import export_plans
from planner.hub.results import PlanResult
from planner.hub.solve import SolverOptions, capacity_column, plan_case


def design_of(case: Case, capacities: Mapping[str, float]) -> dict[str, float]:
    """Technology name → size, from summary columns (``chp_kwe``, ``tank_kwh``, …)."""
    columns = {capacity_column(n, t): n for n, t in case.catalogue.conversion.items()}
    columns |= {f"{n}_kwh": n for n in case.catalogue.storage}
    unknown = set(capacities) - set(columns)
    if unknown:
        raise PlannerInputError(f"capacities {sorted(unknown)} match no technology of case {case.name!r}")
    return {columns[c]: max(0.0, float(v)) for c, v in capacities.items()}


def replan_day_ahead(case: Case, design: PlanResult, start: datetime | pd.Timestamp, *,
                     horizon_h: float = 24.0, initial_e_kwh: Mapping[str, float] | None = None,
                     forecasts: Mapping[str, np.ndarray] | None = None,
                     options: SolverOptions | None = None) -> PlanResult:
    """Re-optimise the dispatch of ``design``'s capacities for ``horizon_h`` hours from ``start``.

    ``initial_e_kwh`` is the measured content of the stores (default: the design dispatch's
    content at ``start``); ``forecasts`` replaces case time series over the window (keys
    ``heat_demand_kw``, ``elec_demand_kw``, ``irradiance_w_per_m2`` or a price series name).
    """
    index = case.index
    t0 = pd.Timestamp(start)
    if t0 not in index:
        raise PlannerInputError(f"day-ahead start {t0} is not a step of case {case.name!r}")
    first = index.get_loc(t0)
    n = round(horizon_h / case.step_h)
    window = case.sliced(first, n)
    if initial_e_kwh is None:
        before = design.dispatch.iloc[first - 1] if first > 0 else None
        initial_e_kwh = {s: float(before[f"{s}_e_kwh"]) if before is not None else 0.0
                         for s in case.catalogue.storage}
    series = {"heat_demand_kw": window.heat_demand_kw, "elec_demand_kw": window.elec_demand_kw,
              "irradiance_w_per_m2": window.irradiance_w_per_m2}
    prices = dict(window.price_series)
    for key, values in (forecasts or {}).items():
        target = series if key in series else prices
        if key not in target:
            raise PlannerInputError(f"forecast {key!r} is neither a demand, irradiance nor a price series")
        target[key] = np.asarray(values, dtype=float)
    window = replace(window, heat_demand_kw=series["heat_demand_kw"], elec_demand_kw=series["elec_demand_kw"],
                     irradiance_w_per_m2=series["irradiance_w_per_m2"], price_series=prices,
                     initial_e_kwh=dict(initial_e_kwh), fixed_capacities=design_of(case, design.capacities),
                     operation_weight=1.0)
    return plan_case(window, design.policy, options)


def day_ahead_plans(case: Case, design: PlanResult, start: datetime | pd.Timestamp, *,
                    horizon_h: float = 24.0, step_s: int = 3600,
                    initial_e_kwh: Mapping[str, float] | None = None,
                    forecasts: Mapping[str, np.ndarray] | None = None) -> PlanSet:
    """Re-run the day ahead (:func:`replan_day_ahead`) and export its per-asset plans."""
    result = replan_day_ahead(case, design, start, horizon_h=horizon_h, initial_e_kwh=initial_e_kwh,
                              forecasts=forecasts)
    return export_plans(result, case.catalogue, start=start, horizon_h=horizon_h, step_s=step_s)
