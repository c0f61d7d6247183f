"""Annual cost terms and emissions of the hub (cvxpy expressions, CHF/a and kg CO2/a).

w is the case's operation weight (horizon → year), Δt the step in hours, CRF_k the capital
recovery factor i / (1 − (1 + i)^−n_k) of technology k.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from planner.hub.case import Case
from planner.hub.formulation import Expr, HubVariables, atoms
from planner.hub.policies import ResolvedPrices
from planner.hub.technologies import crf


@dataclass(frozen=True)
class CostTerms:
    """Annual cost terms (CHF/a); ``total`` is what the planner minimises."""

    capex_chf: Expr
    om_chf: Expr
    fuel_chf: Expr
    import_chf: Expr
    export_income_chf: Expr

    @property
    def total(self) -> Expr:
        return self.capex_chf + self.om_chf + self.fuel_chf + self.import_chf - self.export_income_chf


def _total(terms: list[Expr]) -> Expr:
    return sum(terms[1:], terms[0]) if terms else cp.Constant(0.0)


def annualised_capex(v: HubVariables, case: Case) -> Expr:
    """Σ_k CRF_k · (c_k · C_k + c_fix,k · z_k) over converters and stores."""
    terms: list[Expr] = []
    for c in v.converters.values():
        factor = crf(case.interest_rate, c.tech.lifetime_a)
        terms.append(factor * c.tech.capex_per_unit_chf * c.cap)
        if c.install is not None:
            terms.append(factor * c.tech.capex_fixed_chf * c.install)
    for s in v.storage.values():
        factor = crf(case.interest_rate, s.tech.lifetime_a)
        terms.append(factor * s.tech.capex_per_kwh_chf * s.cap_kwh)
        if s.install is not None:
            terms.append(factor * s.tech.capex_fixed_chf * s.install)
    return _total(terms)


def operation_and_maintenance(v: HubVariables, case: Case) -> Expr:
    """Σ_k [o_cap,k · C_k + o_fix,k · z_k + w·Δt·o_k · Σ_t Σ_c y_k,c,t] (+ o_fix of stores).

    The per-kWh O&M applies to every output (both outputs of a CHP).
    """
    scale = case.weight * case.step_h
    terms: list[Expr] = []
    for c in v.converters.values():
        if c.tech.om_per_unit_chf_per_a:
            terms.append(c.tech.om_per_unit_chf_per_a * c.cap)
        if c.install is not None and c.tech.om_fixed_chf_per_a:
            terms.append(c.tech.om_fixed_chf_per_a * c.install)
        if c.tech.om_per_kwh_chf:
            eff_sum = sum(c.tech.outputs.values())
            terms.append(scale * c.tech.om_per_kwh_chf * eff_sum * atoms.sum(c.inflow_kw))
    for s in v.storage.values():
        if s.install is not None and s.tech.om_fixed_chf_per_a:
            terms.append(s.tech.om_fixed_chf_per_a * s.install)
    return _total(terms)


def fuel_cost(v: HubVariables, case: Case) -> Expr:
    """w·Δt · Σ_k p_fuel(k) · Σ_t f_k,t over fuel-burning converters."""
    scale = case.weight * case.step_h
    terms = [scale * case.fuels[c.tech.input].price_per_kwh * atoms.sum(c.inflow_kw)
             for c in v.converters.values() if c.tech.input in case.fuels]
    return _total(terms)


def import_cost(v: HubVariables, case: Case, prices: ResolvedPrices) -> Expr:
    """w·Δt · Σ_t p_imp,t · import_t (net-metering withdrawals are free).

    With the relaxed bank, import_t is the whole draw d_t and the credit is valued at its price
    level: w·Δt · Σ_t p_t·d_t − w · Σ_k p_k·W_k.
    """
    cost = case.weight * case.step_h * (prices.import_per_kwh @ v.grid.import_kw)
    nb = v.grid.netted
    if nb is not None:
        cost = cost - case.weight * (nb.price_levels_per_kwh @ nb.withdrawn_kwh)
    return cost


def export_income(v: HubVariables, case: Case, prices: ResolvedPrices) -> Expr:
    """w·Δt · Σ_t (p_fit,t · x_pv,t [not under net metering] + p_other,t · x_other,t)."""
    g = v.grid
    terms: list[Expr] = []
    if g.export_solar_kw is not None and not g.net_metering and np.any(prices.feed_in_per_kwh):
        terms.append(prices.feed_in_per_kwh @ g.export_solar_kw)
    if g.export_other_kw is not None and np.any(prices.other_export_per_kwh):
        terms.append(prices.other_export_per_kwh @ g.export_other_kw)
    return case.weight * case.step_h * _total(terms)


def cost_terms(v: HubVariables, case: Case, prices: ResolvedPrices) -> CostTerms:
    return CostTerms(
        capex_chf=annualised_capex(v, case),
        om_chf=operation_and_maintenance(v, case),
        fuel_chf=fuel_cost(v, case),
        import_chf=import_cost(v, case, prices),
        export_income_chf=export_income(v, case, prices),
    )


@dataclass(frozen=True)
class GridAndEmissions:
    """Annual grid electricity and emissions, counted two ways (they differ only under net metering).

    *Study convention* (``co2_t``, ``grid_import_mwh``): the grid electricity bought, import_t; kWh
    drawn back from the net-metering credit are not bought (they are the hub's own banked PV).
    *Physical* (``co2_physical_t``, ``grid_import_physical_mwh``): every kWh drawn from the grid,
    d_t = import_t + w_t. Emissions = w·Δt·[Σ_k e_fuel(k)·Σ_t f_k,t + e_grid·Σ_t (import_t or d_t)];
    no credit for exports either way.
    """

    grid_import_mwh: float
    grid_import_physical_mwh: float
    co2_t: float
    co2_physical_t: float


def grid_and_emissions(case: Case, fuel_in_kw: dict[str, np.ndarray], import_kw: np.ndarray,
                       withdrawal_kw: np.ndarray) -> GridAndEmissions:
    """:class:`GridAndEmissions` from a solved dispatch (fuel inflow per fuel, import, withdrawals, kW)."""
    scale = case.weight * case.step_h
    fuel_kg = sum((scale * case.fuels[fuel].co2_kg_per_kwh * float(np.sum(flow))
                   for fuel, flow in fuel_in_kw.items()), 0.0)
    bought_kwh = scale * float(np.sum(import_kw))
    drawn_kwh = bought_kwh + scale * float(np.sum(withdrawal_kw))
    e_grid = case.grid_co2_kg_per_kwh
    return GridAndEmissions(bought_kwh / 1e3, drawn_kwh / 1e3, (fuel_kg + e_grid * bought_kwh) / 1e3,
                            (fuel_kg + e_grid * drawn_kwh) / 1e3)
