"""Probable causes of an infeasible or unbounded planning problem, in words."""

from __future__ import annotations

import numpy as np

from planner.hub.case import Case
from planner.hub.policies import ResolvedPrices


def _limit(case: Case, name: str, max_size: float | None) -> float | None:
    """Largest size of a technology: its fixed size in dispatch-only runs, else its max capacity."""
    return case.fixed_capacities.get(name, max_size)


def _max_storage_discharge_kw(case: Case, carrier: str) -> float:
    total = 0.0
    for name, s in case.catalogue.storage.items():
        if s.carrier == carrier:
            size = _limit(case, name, s.max_capacity_kwh)
            if size is None:
                return float("inf")
            total += s.c_rate_discharge_per_h * size
    return total


def _max_output_kw(case: Case, carrier: str) -> np.ndarray:
    """Upper bound of each step's production of ``carrier`` by converters at their largest sizes."""
    bound = np.zeros(case.n_steps)
    solar_eff = 0.0
    for name, tech in case.catalogue.conversion.items():
        if carrier not in tech.outputs:
            continue
        size = _limit(case, name, tech.max_capacity)
        if tech.is_solar:
            area = min(size if size is not None else np.inf,
                       case.roof_area_m2 if case.roof_area_m2 is not None else np.inf)
            solar_eff = max(solar_eff, tech.outputs[carrier] * area)
        elif size is None:
            return np.full(case.n_steps, np.inf)
        else:
            bound += size * tech.outputs[carrier] / tech.outputs[tech.capacity_on]
    return bound + solar_eff * case.irradiance_kw_per_m2


def infeasibility_causes(case: Case) -> list[str]:
    """Checks that name a cause when the solver reports the problem infeasible."""
    causes: list[str] = []
    index = case.index
    for carrier, demand, extra in (
        ("heat", np.asarray(case.heat_demand_kw, float), 0.0),
        ("elec", np.asarray(case.elec_demand_kw, float),
         np.inf if case.max_import_kw is None else case.max_import_kw),
    ):
        supply = _max_output_kw(case, carrier) + _max_storage_discharge_kw(case, carrier) + extra
        short = demand > supply + 1e-9
        if short.any():
            k = int(np.argmax(demand - supply))
            grid = "" if carrier == "heat" else f", grid import capped at {case.max_import_kw} kW"
            sizes = "fixed" if case.fixed_capacities else "maximum"
            causes.append(
                f"{carrier} demand {demand[k]:.6g} kW at {index[k]} is above every capacity limit "
                f"(at most {supply[k]:.6g} kW from the technologies' {sizes} sizes and storage{grid}); "
                f"{int(short.sum())} step(s) are short")
    solar_min = sum(t.min_capacity for t in case.catalogue.conversion.values() if t.is_solar)
    if case.roof_area_m2 is not None and solar_min > case.roof_area_m2:
        causes.append(
            f"minimum solar collector area {solar_min} m2 exceeds the roof area {case.roof_area_m2} m2")
    if not case.catalogue.conversion and np.any(case.heat_demand_kw):
        causes.append("there is heat demand but no technology in the catalogue")
    return causes


def unboundedness_causes(case: Case, prices: ResolvedPrices) -> list[str]:
    """Checks that name a cause when the solver reports the problem unbounded."""
    causes: list[str] = []
    if np.any(prices.import_per_kwh < 0):
        causes.append(f"the import price is negative in {int((prices.import_per_kwh < 0).sum())} step(s)"
                      + (" and grid import is not capped" if case.max_import_kw is None else ""))
    unlimited = [n for n, t in case.catalogue.conversion.items() if t.max_capacity is None and not t.is_solar]
    unlimited += [n for n, s in case.catalogue.storage.items() if s.max_capacity_kwh is None]
    if unlimited:
        causes.append(f"technologies without a max capacity: {unlimited}")
    if case.roof_area_m2 is None and any(t.is_solar for t in case.catalogue.conversion.values()):
        causes.append("solar technologies without a roof area limit")
    for k in ("feed_in_per_kwh", "other_export_per_kwh"):
        price = getattr(prices, k)
        if np.any(price > prices.import_per_kwh):
            causes.append(f"{k.removesuffix('_per_kwh')} price above the import price in some steps")
    return causes
