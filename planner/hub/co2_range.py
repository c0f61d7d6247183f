"""How far the emissions can move among near-optimal designs: bounds over a relaxation of the model.

CO2 is reported, not priced, so a policy's optimum need not fix its emissions (the dispatch and
even the design may be one of many at the same cost). To say whether a finding about emissions can
hold at *any* optimum, :func:`study_co2_bound` minimises or maximises the study-convention CO2
(``co2_t``: fuel plus the grid electricity bought) over every design and dispatch of a relaxation
of the policy's model whose cost is at most a ceiling. A relaxation contains every design of the
model at the same or a lower cost, so with the ceiling at or above the optimum (e.g. the cost of a
solution found) the minimum is a lower bound, the maximum an upper bound, of the emissions of
every optimal design.

- ``min``: the *credit paid* relaxation (:mod:`planner.hub.netting`; no bank, solar export paid
  at the top import price) with the metering-interval binaries relaxed to [0, 1]; the electricity
  bought is at least the grid draw minus all the credit banked, Σ_t d_t − Σ_t x_t.
- ``max``: the *bank settled over the horizon* relaxation with the binaries relaxed; the
  electricity bought is the draw minus the credit drawn back, Σ_t d_t − Σ_k W_k, as in the model.

By default the whole catalogue is kept, so the bounds cover every technology; ``without`` leaves
technologies out (faster), and the bounds then cover the designs without them.
"""

from __future__ import annotations

from typing import Any, Literal

import cvxpy as cp
import cvxpy.settings as cps

from planner.hub import pricing
from planner.hub.case import Case
from planner.hub.errors import PlannerInputError, PlannerSolverError
from planner.hub.formulation import HubVariables, atoms
from planner.hub.netting import relaxations
from planner.hub.policies import resolve_policy
from planner.hub.quiet import silence_highs_banner
from planner.hub.solve import build_model

Sense = Literal["min", "max"]


def _study_co2_t(v: HubVariables, case: Case, credit_kwh: Any) -> Any:
    """w·Δt·[Σ fuel CO2 + e_grid·(Σ_t d_t − credit)] / 1000, credit in kWh over the horizon."""
    terms: list[Any] = []
    for conv in v.converters.values():
        fuel = case.fuels.get(conv.tech.input)
        if fuel is not None:
            terms.append(fuel.co2_kg_per_kwh * case.step_h * atoms.sum(conv.inflow_kw))
    bought_kwh = case.step_h * atoms.sum(v.grid.import_kw) - credit_kwh
    terms.append(case.grid_co2_kg_per_kwh * bought_kwh)
    return case.weight * sum(terms[1:], terms[0]) / 1000.0


def study_co2_bound(case: Case, policy: str, cost_ceiling_chf: float, sense: Sense,
                    without: frozenset[str] = frozenset(),
                    co2_prices_chf_per_t: tuple[float, ...] = ()) -> float:
    """A bound of the least (``min``) or largest (``max``) study-convention CO2 (t/a) of a
    net-metering policy over every design of its relaxation whose annual cost is at most
    ``cost_ceiling_chf``.

    Without ``co2_prices_chf_per_t`` the bound is exact for the relaxation: one LP with the cost as
    a row (slow on a year: the dense row). With prices π > 0 it is the best of the Lagrangian
    bounds, one LP each with the cost objective and CO2 priced at ±π (as fast as a plan):
    min ≥ (min_x [cost + π·CO2] − C)/π and max ≤ (C − min_x [cost − π·CO2])/π, both valid for every
    design x with cost(x) ≤ C by weak duality, and exact at the best π.

    Raises :class:`PlannerInputError` for a policy without the relaxations (no net metering, or
    too many import prices) and :class:`PlannerSolverError` when HiGHS finds no such design (a
    ceiling below the relaxation's optimum) or an unbounded one (a price that pays for emitting)."""
    if policy not in case.policies:
        raise PlannerInputError(f"unknown policy {policy!r}; the case has {sorted(case.policies)}")
    prices = resolve_policy(policy, case.policies[policy], case.price_series, case.n_steps)
    found = relaxations(case, policy, prices)
    if not found:
        raise PlannerInputError(f"policy {policy!r}: no net-metering relaxation to bound its emissions on")
    relaxation = found[0] if sense == "min" else found[1]
    model = build_model(pricing.without(relaxation.case, set(without)), relaxation.policy,
                        netted=relaxation.netted, meter_steps=relaxation.meter_steps, meter_relaxed=True)
    g = model.variables.grid
    if sense == "min":
        credit: Any = case.step_h * atoms.sum(g.export_solar_kw) if g.export_solar_kw is not None else 0.0
    else:
        credit = atoms.sum(g.netted.withdrawn_kwh) if g.netted is not None else 0.0
    co2 = _study_co2_t(model.variables, case, credit)
    cost = model.costs.total
    sign = 1.0 if sense == "min" else -1.0
    if not co2_prices_chf_per_t:
        value = _solved(policy, cost_ceiling_chf, cp.Problem(
            atoms.Minimize(sign * co2), [*model.problem.constraints, cost <= cost_ceiling_chf]))
        return sign * value
    bounds = []
    for price in co2_prices_chf_per_t:
        if price <= 0:
            raise PlannerInputError(f"CO2 prices must be > 0 CHF/t, got {price}")
        weighted = _solved(policy, cost_ceiling_chf, cp.Problem(
            atoms.Minimize(cost + sign * price * co2), model.problem.constraints))
        bounds.append(sign * (weighted - cost_ceiling_chf) / price)
    return max(bounds) if sense == "min" else min(bounds)


def _solved(policy: str, cost_ceiling_chf: float, problem: cp.Problem) -> float:
    silence_highs_banner()
    problem.solve(solver=cp.HIGHS)  # type: ignore[no-untyped-call]
    if problem.status not in (cps.OPTIMAL, cps.OPTIMAL_INACCURATE) or problem.value is None:
        raise PlannerSolverError(f"policy {policy!r}: no bound of its emissions within "
                                 f"{cost_ceiling_chf:,.0f} CHF/a (HiGHS: {problem.status})")
    return float(problem.value)
