"""Leave unpromising technologies out of the LP and prove afterwards that they stay out.

A technology that the optimum does not build still adds its hourly columns and rows to the LP,
all of them degenerate (0 ≤ 0), and HiGHS's simplex spends much of its time on them: leaving the
heat pump, solar thermal and battery out of the reference case makes the solve 1.5–5× faster.
Leaving them out is exact only if the optimum of the smaller LP is also optimal with them in,
which LP duality decides (column generation): with ν_c,t = ∂cost/∂D_c,t the marginal cost of
demand of carrier c at step t (from the duals of the balances), μ_t the value of a looser export
limit and ρ the value of roof area, a left-out technology could lower the cost iff its best use of
one unit of size, priced at these duals, costs less than nothing:

- converter k (input i, outputs η_c, size on carrier cap): with the reduced cost per unit input
  r_t = w·Δt·(p_fuel + o_k·Σ_c η_c) − Σ_c η_c·ν_c,t + ν_i,t [i elec or heat], the value is
  CRF·c_k + o_cap,k + Σ_t min(0, r_t) / η_cap (run at full size in every step where r_t < 0);
- solar collector k: CRF·c_k + o_cap,k + ρ + Σ_t I_t·(w·Δt·o_k·Σ_c η_c − Σ_c η_c·ν_c,t − η_el·μ_pv,t);
- store s on carrier c: the optimum of the small LP min CRF·c_s·E − Σ_t ν_c,t·(dis_t − ch_t) over
  the store's own dynamics, limits and boundary with E ≤ 1.

If every value is ≥ −tolerance the smaller LP's optimum is the optimum (the duals of the left-out
rows come from these small problems); otherwise the technologies with negative values are put
back and the LP is solved again. Which technologies to try leaving out is a guess, made by solving
the same case on every k-th day (a few hundred steps): a wrong guess costs time, never accuracy.
Only LPs are treated this way (a MILP has no duals), only technologies that have no fixed size,
no given initial content and no electricity output (so the grid variables stay the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import cvxpy as cp
import numpy as np

from planner.hub.case import Case
from planner.hub.formulation import (
    GridVars,
    HubVariables,
    StorageVars,
    define_storage_boundary,
    define_storage_dynamics,
    define_storage_limits,
)
from planner.hub.quiet import silence_highs_banner
from planner.hub.technologies import Catalogue, ConversionTech, StorageTech, crf

PROBE_DAYS = 52          # days of the probe case (every k-th day of the horizon)
MIN_PROBE_HORIZON_DAYS = 2 * PROBE_DAYS  # shorter cases are solved whole
BUILT_KW = 1e-6          # a size above this in the probe counts as built
PRICE_TOLERANCE = 1e-6   # CHF/a per unit of size: a value below −tolerance puts a technology back


@dataclass(frozen=True)
class Duals:
    """Marginal values read from a solved LP (per step): ν by carrier, μ_pv, and ρ for the roof.

    ``consumption_discount`` λ_t ≥ 0 (None: 0): how much one more kW of electricity consumed or
    charged into an electric store in step t lowers the cost besides its price ν_elec,t — the dual of
    the metering draw row d_t ≤ … + e_t in a draw-state step, which consumption loosens
    (:func:`planner.hub.formulation.define_metering_draw`).
    """

    demand_value: Mapping[str, np.ndarray]
    export_solar_value: np.ndarray
    roof_value: float
    consumption_discount: np.ndarray | None = None

    def input_value(self, carrier: str, n: int) -> np.ndarray:
        """The value of one kW taken from ``carrier`` in each step: ν_c,t (− λ_t for electricity)."""
        value: np.ndarray = self.demand_value.get(carrier, np.zeros(n))
        if carrier == "elec" and self.consumption_discount is not None:
            discounted: np.ndarray = value - self.consumption_discount
            return discounted
        return value


def deferrable(case: Case) -> list[str]:
    """Technologies that may be left out of a first solve (none when the case is a MILP)."""
    cat = case.catalogue
    techs: list[ConversionTech | StorageTech] = [*cat.conversion.values(), *cat.storage.values()]
    on_off = any(t.needs_on_off_binary for t in cat.conversion.values())
    if on_off or any(t.needs_install_binary for t in techs):
        return []
    fixed = set(case.fixed_capacities) | set(case.initial_e_kwh)
    names = [n for n, t in cat.conversion.items() if "elec" not in t.outputs and n not in fixed]
    return names + [n for n in cat.storage if n not in fixed]


def probe_case(case: Case) -> Case | None:
    """The case on every k-th day (about :data:`PROBE_DAYS` days), or None for short horizons."""
    steps_per_day = round(24.0 / case.step_h)
    if steps_per_day < 1 or abs(steps_per_day * case.step_h - 24.0) > 1e-9:
        return None
    days = case.n_steps // steps_per_day
    if days < MIN_PROBE_HORIZON_DAYS:
        return None
    stride = days // PROBE_DAYS
    chosen = np.arange(0, days, stride)[:PROBE_DAYS]
    steps = (chosen[:, None] * steps_per_day + np.arange(steps_per_day)[None, :]).reshape(-1)

    def take(values: np.ndarray) -> np.ndarray:
        picked: np.ndarray = np.asarray(values, dtype=float)[steps]
        return picked

    return replace(
        case, name=f"{case.name} (probe)", heat_demand_kw=take(case.heat_demand_kw),
        elec_demand_kw=take(case.elec_demand_kw), irradiance_w_per_m2=take(case.irradiance_w_per_m2),
        price_series={k: take(v) for k, v in case.price_series.items()},
        operation_weight=case.weight * case.n_steps / steps.size,
    )


def without(case: Case, names: set[str]) -> Case:
    cat = case.catalogue
    return case.with_catalogue(Catalogue(
        conversion={n: t for n, t in cat.conversion.items() if n not in names},
        storage={n: t for n, t in cat.storage.items() if n not in names}))


def _first_dual(constraints: list[cp.Constraint], n: int) -> np.ndarray:
    if not constraints or constraints[0].dual_value is None:
        return np.zeros(n)
    dual: np.ndarray = np.asarray(constraints[0].dual_value, dtype=float).reshape(-1) * np.ones(n)
    return dual


def read_duals(families: Mapping[str, list[cp.Constraint]], v: HubVariables, n: int,
               consumption_discount: np.ndarray | None = None) -> Duals:
    """ν_c,t = −y (cvxpy's dual y of ``supply == demand`` is ∂cost/∂(supply − demand)), μ, ρ ≥ 0."""
    value = {"elec": -_first_dual(families["electricity_balance"], n),
             "heat": -_first_dual(families["heat_balance"], n)}
    exports = families["export_limits"]
    mu_pv = _first_dual(exports, n) if v.grid.export_solar_kw is not None else np.zeros(n)
    roof = families["roof_area"]
    rho = 0.0
    if roof and roof[0].dual_value is not None:
        rho = float(np.asarray(roof[0].dual_value).reshape(-1)[0])
    return Duals(value, mu_pv, rho, consumption_discount)


def _supply_value(tech: ConversionTech, duals: Duals, n: int) -> np.ndarray:
    """Σ_c η_c·ν_c,t: the value of the outputs of one unit of input."""
    total = np.zeros(n)
    for carrier, eff in tech.outputs.items():
        total += eff * duals.demand_value.get(carrier, np.zeros(n))
    return total


def converter_value(tech: ConversionTech, case: Case, duals: Duals) -> float:
    """Cost (CHF/a) of one unit of size of a left-out converter used at its best, at the duals."""
    n, scale = case.n_steps, case.weight * case.step_h
    fixed = crf(case.interest_rate, tech.lifetime_a) * tech.capex_per_unit_chf + tech.om_per_unit_chf_per_a
    om = scale * tech.om_per_kwh_chf * sum(tech.outputs.values())
    if tech.is_solar:
        irr = case.irradiance_kw_per_m2
        export_value = tech.outputs.get("elec", 0.0) * duals.export_solar_value
        per_step = om - _supply_value(tech, duals, n) - export_value
        return fixed + duals.roof_value + float(irr @ per_step)
    fuel = case.fuels[tech.input].price_per_kwh * scale if tech.input in case.fuels else 0.0
    reduced = fuel + om - _supply_value(tech, duals, n) + duals.input_value(tech.input, n)
    return fixed + float(np.minimum(reduced, 0.0).sum()) / tech.outputs[tech.capacity_on]


def storage_value(name: str, tech: StorageTech, case: Case, duals: Duals) -> float:
    """Cost (CHF/a) of the best use of at most 1 kWh of a left-out store at the duals (small LP)."""
    n = case.n_steps
    store = StorageVars(name, tech, cap_kwh=cp.Variable(nonneg=True), charge_kw=cp.Variable(n, nonneg=True),
                        discharge_kw=cp.Variable(n, nonneg=True), e_kwh=cp.Variable(n + 1, nonneg=True),
                        install=None)
    grid = GridVars(cp.Variable(n), None, None, None, None)
    v = HubVariables({}, {name: store}, grid)
    value = duals.demand_value.get(tech.carrier, np.zeros(n))
    cost = (crf(case.interest_rate, tech.lifetime_a) * tech.capex_per_kwh_chf * store.cap_kwh
            - value @ store.discharge_kw + duals.input_value(tech.carrier, n) @ store.charge_kw)
    constraints = [*define_storage_dynamics(v, case.step_h), *define_storage_limits(v),
                   *define_storage_boundary(v, case), store.cap_kwh <= 1.0]
    problem = cp.Problem(cp.Minimize(cost), constraints)
    silence_highs_banner()
    problem.solve(solver=cp.HIGHS)  # type: ignore[no-untyped-call]
    return float(problem.value) if problem.value is not None else -np.inf


def technologies_to_add(case: Case, left_out: set[str], duals: Duals) -> set[str]:
    """The left-out technologies whose value at the duals is below −tolerance."""
    cat = case.catalogue
    add: set[str] = set()
    for name in sorted(left_out):
        if name in cat.conversion:
            value = converter_value(cat.conversion[name], case, duals)
        else:
            value = storage_value(name, cat.storage[name], case, duals)
        if value < -PRICE_TOLERANCE:
            add.add(name)
    return add


def probe_left_out(case: Case, solve_sizes: Callable[[Case], dict[str, float]]) -> set[str]:
    """Deferrable technologies that the probe case does not build (empty when there is no probe)."""
    candidates = deferrable(case)
    probe = probe_case(case) if candidates else None
    if probe is None:
        return set()
    sizes = solve_sizes(probe)
    return {n for n in candidates if sizes.get(n, 0.0) <= BUILT_KW}
