"""Build the energy-hub problem for one case and policy, solve it with HiGHS, read the results."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import cvxpy.settings as cps
import numpy as np
import pandas as pd

from planner.hub import netting, pricing
from planner.hub.case import Case
from planner.hub.diagnose import infeasibility_causes, unboundedness_causes
from planner.hub.errors import (
    PlannerError,
    PlannerInfeasibleError,
    PlannerInputError,
    PlannerSolverError,
    PlannerUnboundedError,
)
from planner.hub.formulation import HubVariables, constraint_families, define_variables
from planner.hub.hot_lp import HotLP
from planner.hub.objective import CostTerms, cost_terms, grid_and_emissions
from planner.hub.policies import ResolvedPrices, resolve_policy
from planner.hub.quiet import silence_highs_banner
from planner.hub.results import CostBreakdown, PlanResult, Timing
from planner.hub.technologies import ConversionTech


@dataclass(frozen=True)
class SolverOptions:
    """HiGHS settings passed through cvxpy; ``highs`` takes any further HiGHS option.

    ``leave_out_unbuilt``: solve an LP first without the technologies that a probe on a few days
    does not build and prove with their reduced costs that they stay out (:mod:`planner.hub.pricing`;
    same optimum, several times faster on the reference case). False solves the whole LP at once.

    ``metering_gap``: on that path, net metering per interval (whose only binaries are the metering
    interval's) is first solved as the LP relaxation of its MILP (a lower bound) and the LP at the
    rounded pattern (a feasible design); the latter is accepted when it is proven within this
    relative gap of the optimum, else the MILP is solved to ``mip_rel_gap``. None: always the MILP.
    """

    time_limit_s: float | None = None
    mip_rel_gap: float = 1e-4
    metering_gap: float | None = 1e-3
    verbose: bool = False
    highs: tuple[tuple[str, Any], ...] = ()
    leave_out_unbuilt: bool = True


@dataclass(frozen=True)
class HubModel:
    """A built (not yet solved) problem with handles on its variables and cost terms."""

    case: Case
    policy: str
    prices: ResolvedPrices
    variables: HubVariables
    costs: CostTerms
    problem: cp.Problem
    build_s: float
    families: dict[str, list[cp.Constraint]]

    @property
    def is_milp(self) -> bool:
        return bool(self.problem.is_mixed_integer())


def build_model(case: Case, policy: str, netted: bool = False, meter_steps: np.ndarray | None = None,
                meter_pattern: np.ndarray | None = None, meter_relaxed: bool = False) -> HubModel:
    """The cvxpy problem of ``case`` under the named policy of the case.

    ``netted``: the relaxation of the net-metering bank (:mod:`planner.hub.netting`), solved only
    as a step of :func:`solve_leaving_out_unbuilt`; its results are not read directly.
    ``meter_steps``, ``meter_pattern``, ``meter_relaxed``: see
    :func:`planner.hub.formulation.define_variables`.
    """
    if policy not in case.policies:
        raise PlannerInputError(f"unknown policy {policy!r}; the case has {sorted(case.policies)}")
    t0 = time.perf_counter()
    prices = resolve_policy(policy, case.policies[policy], case.price_series, case.n_steps)
    v = define_variables(case, prices, netted=netted, meter_steps=meter_steps, meter_pattern=meter_pattern,
                         meter_relaxed=meter_relaxed)
    costs = cost_terms(v, case, prices)
    families = constraint_families(v, case)
    problem = cp.Problem(cp.Minimize(costs.total), [c for family in families.values() for c in family])
    return HubModel(case, policy, prices, v, costs, problem, time.perf_counter() - t0, families)


def _solve_kwargs(options: SolverOptions, milp: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"solver": cp.HIGHS, "verbose": options.verbose}
    if options.time_limit_s is not None:
        kwargs["time_limit"] = float(options.time_limit_s)
    if milp:
        kwargs["mip_rel_gap"] = options.mip_rel_gap
    kwargs.update(dict(options.highs))
    return kwargs


def _raise_for_status(model: HubModel, status: str) -> None:
    name = f"case {model.case.name!r}, policy {model.policy!r}"
    if status in (cps.INFEASIBLE, cps.INFEASIBLE_INACCURATE, cps.INFEASIBLE_OR_UNBOUNDED):
        causes = infeasibility_causes(model.case)
        if causes or status != cps.INFEASIBLE_OR_UNBOUNDED:
            detail = "; ".join(causes) or "no single cause found: check sizes, grid limits and storage"
            raise PlannerInfeasibleError(f"{name}: no feasible design: {detail}")
    if status in (cps.UNBOUNDED, cps.UNBOUNDED_INACCURATE, cps.INFEASIBLE_OR_UNBOUNDED):
        detail = "; ".join(unboundedness_causes(model.case, model.prices)) or "no single cause found"
        raise PlannerUnboundedError(f"{name}: the cost is unbounded below: {detail}")
    if status not in (cps.OPTIMAL, cps.OPTIMAL_INACCURATE):
        raise PlannerSolverError(f"{name}: HiGHS stopped with status {status!r} (time limit or numerics)")


def capacity_column(name: str, tech: ConversionTech) -> str:
    """Summary column of a converter: ``_m2`` (solar), ``_kwe`` (on electricity), ``_kw`` (on heat)."""
    if tech.capacity_unit == "m2":
        return f"{name}_m2"
    return f"{name}_kwe" if tech.capacity_on == "elec" else f"{name}_kw"


def _val(expr: cp.Expression | None, n: int) -> np.ndarray:
    if expr is None:
        return np.zeros(n)
    values = np.asarray(expr.value, dtype=float).reshape(-1)
    values = values if values.size == n else np.full(n, float(values[0]))
    return np.where(np.abs(values) < 1e-7, 0.0, values)


def _scalar(expr: cp.Expression) -> float:
    value = float(np.asarray(expr.value, dtype=float).reshape(-1)[0])
    return 0.0 if abs(value) < 1e-7 else value


def dispatch_frame(model: HubModel) -> pd.DataFrame:
    """Hourly (per-step) operation: kW flows, kWh storage contents at the end of each step."""
    case, v, n = model.case, model.variables, model.case.n_steps
    g = v.grid
    cols: dict[str, np.ndarray] = {
        "heat_demand_kw": np.asarray(case.heat_demand_kw, float),
        "elec_demand_kw": np.asarray(case.elec_demand_kw, float),
        "import_price_per_kwh": model.prices.import_per_kwh,
        "feed_in_price_per_kwh": model.prices.feed_in_per_kwh,
        "grid_import_kw": _val(g.import_kw, n),
        "export_solar_kw": _val(g.export_solar_kw, n),
        "export_other_kw": _val(g.export_other_kw, n),
    }
    if g.bank_kwh is not None:
        cols["nm_withdrawal_kw"] = _val(g.bank_withdrawal_kw, n)
        cols["nm_bank_kwh"] = _val(g.bank_kwh[1:], n)
    for name, c in v.converters.items():
        cols[f"{name}_in_kw"] = _val(c.inflow_kw, n)
        for carrier in c.tech.outputs:
            cols[f"{name}_{carrier}_kw"] = _val(c.output_kw(carrier), n)
    for name, s in v.storage.items():
        cap = _scalar(s.cap_kwh)
        e_kwh = _val(s.e_kwh[1:], n)
        cols[f"{name}_charge_kw"] = _val(s.charge_kw, n)
        cols[f"{name}_discharge_kw"] = _val(s.discharge_kw, n)
        cols[f"{name}_e_kwh"] = e_kwh
        cols[f"{name}_soc"] = e_kwh / cap if cap > 0 else np.zeros(n)
    frame = pd.DataFrame(cols, index=case.index)
    frame.index.name = "time"
    return frame


SOLVED_WHOLE = "whole model"
SOLVED_PRICED = "unbuilt technologies left out, reduced costs checked"


def _solver_bound(model: HubModel) -> float:
    """The lower bound the solver proved: an LP's optimum, a MILP's dual bound (the objective's value
    when the model's values were copied from another solve)."""
    if model.problem.value is None:
        return float(np.asarray(model.costs.total.value, dtype=float).reshape(-1)[0])
    value = float(model.problem.value)
    stats = model.problem.solver_stats
    info = stats.extra_stats if stats is not None else None
    bound = getattr(info, "mip_dual_bound", None) if model.is_milp else None
    if bound is None or not np.isfinite(bound):
        return value
    return min(value, float(bound))


def read_result(model: HubModel, solve_s: float, solved_as: str = SOLVED_WHOLE,
                lower_bound_chf: float | None = None) -> PlanResult:
    """The result of a solved ``model``; ``lower_bound_chf`` (default: the solver's own) is the
    proven lower bound of the optimum reported beside the objective."""
    v = model.variables
    capacities = {capacity_column(n, c.tech): _scalar(c.cap) for n, c in v.converters.items()}
    capacities |= {f"{n}_kwh": _scalar(s.cap_kwh) for n, s in v.storage.items()}
    c = model.costs
    costs = CostBreakdown(capex_chf=_scalar(c.capex_chf), om_chf=_scalar(c.om_chf),
                          fuel_chf=_scalar(c.fuel_chf),
                          import_chf=_scalar(c.import_chf), export_income_chf=_scalar(c.export_income_chf))
    objective = float(np.asarray(c.total.value, dtype=float).reshape(-1)[0])
    dispatch = dispatch_frame(model)
    case, n = model.case, model.case.n_steps
    fuel_in: dict[str, np.ndarray] = {}
    for conv in v.converters.values():
        if conv.tech.input in case.fuels:
            fuel_in[conv.tech.input] = fuel_in.get(conv.tech.input, np.zeros(n)) + _val(conv.inflow_kw, n)
    withdrawn = dispatch["nm_withdrawal_kw"].to_numpy() if "nm_withdrawal_kw" in dispatch else np.zeros(n)
    grid = grid_and_emissions(case, fuel_in, dispatch["grid_import_kw"].to_numpy(), withdrawn)
    return PlanResult(
        case_name=case.name, policy=model.policy, capacities=capacities, costs=costs,
        co2_t=grid.co2_t, objective_chf=objective, is_milp=model.is_milp,
        timing=Timing(build_s=model.build_s, solve_s=solve_s), dispatch=dispatch,
        storage_carriers={n: s.tech.carrier for n, s in v.storage.items()}, solved_as=solved_as,
        co2_physical_t=grid.co2_physical_t, grid_import_mwh=grid.grid_import_mwh,
        grid_import_physical_mwh=grid.grid_import_physical_mwh,
        lower_bound_chf=_solver_bound(model) if lower_bound_chf is None else min(lower_bound_chf, objective),
    )


def _solve(model: HubModel, options: SolverOptions) -> None:
    silence_highs_banner()
    try:
        model.problem.solve(**_solve_kwargs(options, model.is_milp))  # type: ignore[no-untyped-call]
    except cp.error.SolverError as exc:
        raise PlannerSolverError(
            f"case {model.case.name!r}, policy {model.policy!r}: HiGHS failed: {exc}") from None
    _raise_for_status(model, str(model.problem.status))


def solve_model(model: HubModel, options: SolverOptions | None = None) -> PlanResult:
    """Solve the whole model with HiGHS; raises a :class:`PlannerError` naming the cause when there is
    no optimum."""
    options = options or SolverOptions()
    t0 = time.perf_counter()
    _solve(model, options)
    _net_chained(model)
    return read_result(model, time.perf_counter() - t0)


def _sizes(model: HubModel) -> dict[str, float]:
    v = model.variables
    return {n: _scalar(c.cap) for n, c in v.converters.items()} | {n: _scalar(s.cap_kwh)
                                                                    for n, s in v.storage.items()}


def _probe_sizes(policy: str, options: SolverOptions) -> Callable[[Case], dict[str, float]]:
    def solve_probe(probe: Case) -> dict[str, float]:
        model = build_model(probe, policy)
        try:
            _solve(model, options)
        except PlannerError:
            return {}  # no guess: nothing is left out
        return _sizes(model)
    return solve_probe


def _copy_values(source: HubModel, target: HubModel) -> None:
    """Values of ``source``'s variables into ``target``'s of the same name; zero for the others."""
    values = {var.name(): var.value for var in source.problem.variables()}
    for var in target.problem.variables():
        value = values.get(var.name())
        var.value = np.zeros(var.shape) if value is None else value


def _copy_netted(source: HubModel, target: HubModel, schedule: netting.BankSchedule) -> None:
    """A solved relaxation into the chained model: netted draws split into import and the scheduled
    withdrawals, the netted banked export, the bank filled from the schedule."""
    _copy_values(source, target)
    g = target.variables.grid
    if g.bank_kwh is None or g.bank_withdrawal_kw is None or g.export_solar_kw is None:
        raise AssertionError("the target of a netted solution must have the net-metering bank")
    draw = schedule.draw_kw if schedule.draw_kw is not None else np.asarray(
        source.variables.grid.import_kw.value, dtype=float)
    if schedule.banked_kw is not None:
        g.export_solar_kw.value = schedule.banked_kw
    g.import_kw.value = np.maximum(draw - schedule.withdrawal_kw, 0.0)
    g.bank_withdrawal_kw.value = schedule.withdrawal_kw
    g.bank_kwh.value = schedule.bank_kwh
    _set_pattern(target)


def _set_pattern(model: HubModel) -> None:
    """The metering binaries from the (netted) flows: 1 where the step banks credit."""
    g = model.variables.grid
    iv = g.interval
    if iv is None or g.export_solar_kw is None or not isinstance(iv.on, cp.Variable):
        return
    banked = np.asarray(g.export_solar_kw.value, dtype=float)[iv.steps]
    iv.on.value = (banked > 0).astype(float)


def _pattern(model: HubModel) -> np.ndarray | None:
    """The solved 0/1 pattern of the metering binaries, or None without them."""
    iv = model.variables.grid.interval
    if iv is None or not isinstance(iv.on, cp.Variable) or iv.on.value is None:
        return None
    return np.round(np.asarray(iv.on.value, dtype=float))


def _net_chained(model: HubModel) -> None:
    """Net draw and deposit of a solved chained model in every step (:func:`netting.net_interval`) and
    reschedule the withdrawals; kept only if the cost does not rise (it cannot, up to numerics)."""
    g = model.variables.grid
    if g.bank_kwh is None or g.bank_withdrawal_kw is None or g.export_solar_kw is None:
        return
    case = model.case
    draw = _val(g.draw_kw, case.n_steps)
    banked = _val(g.export_solar_kw, case.n_steps)
    if not np.any(np.minimum(draw, banked) > 0):
        return
    netted_draw, netted_banked = netting.net_interval(draw, banked)
    price = model.prices.import_per_kwh
    schedule = netting.schedule_withdrawals(netted_draw, netted_banked, price, case.step_h, case.weight)
    before = case.weight * case.step_h * float(price @ _val(g.import_kw, case.n_steps))
    after = case.weight * case.step_h * float(price @ (netted_draw - schedule.withdrawal_kw))
    if after > before + netting.VALUE_TOLERANCE_CHF * max(1.0, abs(_scalar(model.costs.total))):
        return
    g.export_solar_kw.value = netted_banked
    g.import_kw.value = np.maximum(netted_draw - schedule.withdrawal_kw, 0.0)
    g.bank_withdrawal_kw.value = schedule.withdrawal_kw
    g.bank_kwh.value = schedule.bank_kwh
    _set_pattern(model)


@dataclass(frozen=True)
class Solved:
    """A solved model and what is proven about its optimum: ``lower_bound_chf`` (CHF/a, a bound of
    the optimum of the model solved; None: the solver's own, an LP's optimum or a MILP's dual bound),
    ``how`` (how the metering-interval binaries were decided; empty without them) and, when the
    solve already has them, the ``duals`` that price the left-out technologies."""

    model: HubModel
    lower_bound_chf: float | None = None
    how: str = ""
    duals: pricing.Duals | None = None


def rounded_pattern(relaxed: HubModel) -> np.ndarray:
    """The 0/1 metering pattern rounded from a solved LP relaxation: a step deposits where the
    relaxation banks more than it draws (x_t > d_t), i.e. by the sign of its net flow.

    (Rounding u_t itself is much worse: in the relaxation u_t only splits the collector area, and
    on the reference case u_t ≥ 1/2 lands 1.9 % above the optimum, the net flow's sign 0.01 %.)
    """
    g = relaxed.variables.grid
    iv = g.interval
    if iv is None or g.export_solar_kw is None or g.export_solar_kw.value is None:
        raise AssertionError("rounded_pattern needs a solved model with metering-interval variables")
    banked = np.asarray(g.export_solar_kw.value, dtype=float)[iv.steps]
    drawn = np.asarray(g.draw_kw.value, dtype=float).reshape(-1)[iv.steps]
    pattern: np.ndarray = (banked > drawn).astype(float)
    return pattern


def _relative_gap(cost_chf: float, bound_chf: float) -> float:
    return max(0.0, cost_chf - bound_chf) / max(1.0, abs(cost_chf))


def _hot_options(options: SolverOptions) -> dict[str, Any]:
    opts: dict[str, Any] = dict(options.highs)
    if options.time_limit_s is not None:
        opts["time_limit"] = float(options.time_limit_s)
    if options.verbose:
        opts["log_to_console"] = True
    return opts


def _draw_state_discount(relaxed: HubModel, pattern: np.ndarray) -> np.ndarray:
    """λ_t: the duals of the first metering draw row in the steps the pattern leaves drawing (0 else)."""
    n = relaxed.case.n_steps
    discount = np.zeros(n)
    rows = relaxed.families.get("metering_draw", [])
    iv = relaxed.variables.grid.interval
    if rows and iv is not None and rows[0].dual_value is not None:
        dual = np.asarray(rows[0].dual_value, dtype=float).reshape(-1)
        drawing = pattern < 0.5
        discount[iv.steps[drawing]] = np.maximum(dual[drawing], 0.0)
    return discount


def _solve_metered(case: Case, policy: str, netted: bool, meter_steps: np.ndarray | None,
                   options: SolverOptions) -> Solved:
    """Solve ``case`` under ``policy``; raises a :class:`PlannerError` when there is no optimum.

    With metering-interval binaries and ``options.metering_gap``: the LP relaxation of the MILP
    (u_t in [0, 1]) gives a lower bound L, the same LP with u_t fixed at the rounded pattern (HiGHS
    restarts from the relaxation's basis, :class:`planner.hub.hot_lp.HotLP`) a feasible design of
    cost U; U is accepted when (U − L)/U ≤ ``metering_gap`` (the gap is stated in ``how``), else
    the MILP is solved.
    """
    model = build_model(case, policy, netted=netted, meter_steps=meter_steps)
    if options.metering_gap is None or model.variables.grid.interval is None or not model.is_milp:
        _solve(model, options)
        return Solved(model, _solver_bound(model))
    relaxed = build_model(case, policy, netted=netted, meter_steps=meter_steps, meter_relaxed=True)
    silence_highs_banner()
    hot = HotLP(relaxed.problem, _hot_options(options))
    _raise_for_status(relaxed, hot.run())
    bound = float(relaxed.problem.value)
    pattern = rounded_pattern(relaxed)
    iv = relaxed.variables.grid.interval
    if iv is None or not isinstance(iv.on, cp.Variable):
        raise AssertionError("a relaxed metering model has its u_t as variables")
    hot.fix(iv.on, pattern)
    _raise_for_status(relaxed, hot.run())
    gap = _relative_gap(float(relaxed.problem.value), bound)
    if gap <= options.metering_gap:
        duals = pricing.read_duals(relaxed.families, relaxed.variables, case.n_steps,
                                   _draw_state_discount(relaxed, pattern))
        return Solved(relaxed, bound, f"metering pattern rounded from the MILP's LP relaxation, "
                                      f"proven within {gap:.1e} of the optimum (relative gap to its bound)",
                      duals)
    _solve(model, options)
    return Solved(model, _solver_bound(model),
                  how=f"metering MILP (the rounded LP relaxation was {gap:.1e} from its bound)")


def _pricing_duals(solved: HubModel, case: Case, policy: str, netted: bool,
                   meter_steps: np.ndarray | None, options: SolverOptions) -> pricing.Duals | None:
    """Duals for pricing the left-out technologies: the solved LP's own, or for a MILP whose only
    binaries are the metering interval's, those of the LP with its solved pattern fixed."""
    pattern = _pattern(solved)
    if pattern is None:
        return pricing.read_duals(solved.families, solved.variables, case.n_steps)
    fixed = build_model(solved.case, policy, netted=netted, meter_steps=meter_steps, meter_pattern=pattern)
    try:
        _solve(fixed, options)
    except PlannerError:
        return None
    return pricing.read_duals(fixed.families, fixed.variables, case.n_steps)


def _priced_optimum(case: Case, policy: str, left_out: set[str], options: SolverOptions,
                    netted: bool = False, meter_steps: np.ndarray | None = None) -> Solved | None:
    """Solve without ``left_out`` and put back what its reduced cost says pays, until nothing does.

    Returns the solved model whose optimum is that of the whole model of the same formulation, or
    None after a failure (infeasible, unbounded, numerics) that the whole model should explain.
    With the metering-interval binaries the reduced costs are those of the LP with the solved
    pattern fixed.
    """
    while True:
        try:
            solved = _solve_metered(pricing.without(case, left_out), policy, netted, meter_steps, options)
        except PlannerError:
            return None
        if not left_out:
            return solved
        duals = solved.duals or _pricing_duals(solved.model, case, policy, netted, meter_steps, options)
        if duals is None:
            return None
        back = pricing.technologies_to_add(case, left_out, duals)
        if not back:
            return solved
        left_out = left_out - back


def _solve_relaxed_bank(model: HubModel, relaxations: list[netting.Relaxation], left_out: set[str],
                        options: SolverOptions) -> tuple[str, Solved] | None:
    """Net metering through ``relaxations`` (:mod:`planner.hub.netting`): the relaxation's label and
    its solve when one of them was proven exact and its decisions (with the scheduled bank) are now
    the values of ``model``, else None."""
    for relaxation in relaxations:
        solved = _priced_optimum(relaxation.case, relaxation.policy, left_out, options, relaxation.netted,
                                 relaxation.meter_steps)
        if solved is None:
            continue
        cost = _scalar(solved.model.costs.total)
        schedule = netting.proven_schedule(relaxation, solved.model.variables, model.prices, cost)
        if schedule is not None:
            _copy_netted(solved.model, model, schedule)
            return relaxation.label, solved
    return None


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def solve_leaving_out_unbuilt(model: HubModel, options: SolverOptions | None = None) -> PlanResult:
    """Same optimum as :func:`solve_model`, solving first without the technologies a probe does not
    build and putting back those whose reduced cost says they pay (:mod:`planner.hub.pricing`).

    Under net metering with a flat or time-of-use import price, relaxations without the hourly
    bank are solved first and proven exact by scheduling the withdrawals (:mod:`planner.hub.netting`);
    when none is, the chained model is solved as without them. With the metering-interval binaries
    (net metering under a time-varying price) each model is solved through the LP relaxation of
    its MILP and the rounded pattern (:func:`_solve_metered`, within ``options.metering_gap``) and the
    left-out technologies are priced at the solved metering pattern.
    """
    options = options or SolverOptions()
    t0 = time.perf_counter()
    case, policy = model.case, model.policy
    if case.catalogue.is_milp:
        _solve(model, options)
        _net_chained(model)
        return read_result(model, time.perf_counter() - t0)
    has_bank = model.variables.grid.bank_kwh is not None
    relaxations = netting.relaxations(case, policy, model.prices) if has_bank else []
    if relaxations:  # the probe only guesses what to leave out: the cheapest relaxation will do
        first = relaxations[0]
        left_out = pricing.probe_left_out(first.case, _probe_sizes(first.policy, options))
    else:
        left_out = pricing.probe_left_out(case, _probe_sizes(policy, options))
    at_pattern = " at the solved metering pattern" if model.is_milp else ""
    priced = SOLVED_PRICED + at_pattern if left_out else ""
    relaxed = _solve_relaxed_bank(model, relaxations, left_out, options)
    if relaxed is not None:
        label, solved = relaxed
        how = f"net metering relaxed ({label}), bank scheduled and proven exact"
        return read_result(model, time.perf_counter() - t0, _joined(how, solved.how, priced),
                           solved.lower_bound_chf)
    chained = _priced_optimum(case, policy, left_out, options) if left_out or model.is_milp else None
    if chained is None:
        _solve(model, options)
        _net_chained(model)
        return read_result(model, time.perf_counter() - t0)
    _copy_values(chained.model, model)
    _net_chained(model)
    return read_result(model, time.perf_counter() - t0, _joined(priced, chained.how) or SOLVED_WHOLE,
                       chained.lower_bound_chf)


def plan_case(case: Case, policy: str, options: SolverOptions | None = None) -> PlanResult:
    """Size and dispatch the hub of ``case`` under ``policy`` (build + solve)."""
    options = options or SolverOptions()
    model = build_model(case, policy)
    if options.leave_out_unbuilt:
        return solve_leaving_out_unbuilt(model, options)
    return solve_model(model, options)
