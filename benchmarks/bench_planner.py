"""Benchmark of the energy-hub planner against oemof-solph on the 8760-hour reference case.

For each price-policy scenario of the study (none, fit, fip, nm, rtp, tou, nm+tou) it builds and
solves the same LP twice on the same data with the same solver (HiGHS, default settings):

- ours: ``planner.hub`` (vectorised cvxpy, HiGHS through cvxpy) as ``plan_case`` runs it: a probe
  on every 7th day, the LP without the technologies the probe does not build, and the reduced-cost
  check that they stay out (``--whole``: the whole LP in one HiGHS call, as before);
- peer: the same energy hub written with oemof-solph (pyomo, HiGHS through pyomo's appsi).

The peer's net-metering bank is a lossless ``GenericStorage``: gross metering, which lets a site
draw from the grid and bank credit in the same hour. ``planner.hub`` meters net per interval (a
MILP under a time-of-use price, docs/planner.md), which oemof-solph cannot express without
hand-written binary constraints; the objectives are therefore compared only where the two meters
agree: every policy without net metering, and net metering under a flat price (no binaries; the
per-interval rule then costs nothing). For nm+tou the table shows both objectives and "n/a".

It prints build and solve times (wall clock, and the CPU seconds of our solve, which vary less
when other jobs share the machine), the ratio peer/ours of the totals, both objective values and
whether they agree (relative difference below 1e-5), plus the largest capacity difference.
The reference folder is read in place (``$COSIM_EHUB_REFERENCE`` or ../shared/reference/...);
without it the benchmark prints a message and exits 0.

``--metering-before``: for a policy with metering-interval binaries (nm+tou) also solve it the way
the planner did before the area-split rows (2026-12-07 morning): the big-M rows x_t ≤ X_t·u_t,
d_t ≤ D_t·(1 − u_t) and the MILP solved by HiGHS to ``mip_rel_gap`` (``metering_gap=None``), in the
same run, and print the ratio of the two times (``--before-time-limit`` caps that solve).

Run: ``python benchmarks/bench_planner.py [--policy fit --policy nm] [--no-peer] [--whole]
[--metering-before]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from planner.hub import formulation
from planner.hub.case import Case
from planner.hub.policies import STUDY_POLICY_ORDER, ResolvedPrices, resolve_policy
from planner.hub.reference import find_reference_dir, load_reference_case
from planner.hub.results import PlanResult
from planner.hub.solve import (
    SolverOptions,
    build_model,
    capacity_column,
    plan_case,
    solve_leaving_out_unbuilt,
    solve_model,
)
from planner.hub.technologies import crf

AGREE_RTOL = 1e-5
BANK_CAPACITY_KWH = 1e9  # the net-metering account: lossless and effectively unlimited


@dataclass(frozen=True)
class Run:
    """One model build and solve: seconds, objective (CHF/a) and capacities (summary columns)."""

    build_s: float
    solve_s: float
    objective_chf: float
    capacities: dict[str, float]
    solve_cpu_s: float = float("nan")
    solved_as: str = ""
    metered_per_interval: bool = False   # ours with the metering-interval binaries (a MILP)
    result: PlanResult | None = None

    @property
    def total_s(self) -> float:
        return self.build_s + self.solve_s


def run_ours(case: Case, policy: str, whole: bool = False) -> Run:
    model = build_model(case, policy)
    cpu0 = time.process_time()
    result = solve_model(model) if whole else solve_leaving_out_unbuilt(model)
    cpu_s = time.process_time() - cpu0
    return Run(result.timing.build_s, result.timing.solve_s, result.objective_chf, result.capacities, cpu_s,
               result.solved_as, metered_per_interval=model.variables.grid.interval is not None,
               result=result)


_TODAY_INTERVAL = formulation.define_metering_interval
_TODAY_DRAW = formulation.define_metering_draw


def _big_m_metering_rows(v: formulation.HubVariables, case: Case) -> list[Any]:
    """The metering rows before the area split: x_t ≤ X_t·u_t, d_t ≤ D_t·(1 − u_t), X_t the largest PV
    output, D_t the draw bound (a fixed pattern keeps today's plain bounds, as it did then)."""
    g, iv = v.grid, v.grid.interval
    if iv is None or g.export_solar_kw is None or isinstance(iv.on, np.ndarray):
        return _TODAY_INTERVAL(v, case) + _TODAY_DRAW(v, case)
    irr = case.irradiance_kw_per_m2[iv.steps]
    largest_pv_kw = sum(v.converters[name].tech.outputs["elec"] * irr * area
                        for name, area in iv.max_area_m2.items())
    draw_kw = iv.max_draw_kw if iv.max_draw_kw is not None else np.asarray(case.elec_demand_kw)[iv.steps]
    return [g.export_solar_kw[iv.steps] <= formulation.atoms.multiply(largest_pv_kw, iv.on),
            g.draw_kw[iv.steps] <= formulation.atoms.multiply(draw_kw, 1 - iv.on)]


def _no_rows(v: formulation.HubVariables, case: Case) -> list[Any]:
    return []


@contextlib.contextmanager
def _metering_before() -> Iterator[None]:
    """Build models with the big-M metering rows (the area-split variables stay, unused)."""
    formulation.define_metering_interval = _big_m_metering_rows
    formulation.define_metering_draw = _no_rows
    try:
        yield
    finally:
        formulation.define_metering_interval = _TODAY_INTERVAL
        formulation.define_metering_draw = _TODAY_DRAW


def run_metering_before(case: Case, policy: str, time_limit_s: float | None) -> Run:
    """``policy`` as the planner solved it before the area-split rows: big-M rows, the MILP by HiGHS."""
    options = SolverOptions(metering_gap=None, time_limit_s=time_limit_s)
    cpu0 = time.process_time()
    with _metering_before():
        result = plan_case(case, policy, options)
    return Run(result.timing.build_s, result.timing.solve_s, result.objective_chf, result.capacities,
               time.process_time() - cpu0, result.solved_as, metered_per_interval=True, result=result)


def _oemof_energy_system(case: Case, prices: ResolvedPrices):  # type: ignore[no-untyped-def]
    """The hub in oemof-solph terms, from the same Case (catalogue, series, prices)."""
    from oemof import solph

    # n + 1 interval boundaries give n time steps
    index = pd.date_range(case.start, periods=case.n_steps + 1, freq=pd.Timedelta(hours=case.step_h))
    es = solph.EnergySystem(timeindex=index, infer_last_interval=False)
    bus = {c: solph.Bus(label=c) for c in ("elec", "heat", *case.fuels)}
    # produced electricity passes a solar or "other" bus, from which exports are limited
    bus["elec_solar"] = solph.Bus(label="elec_solar")
    bus["elec_other"] = solph.Bus(label="elec_other")
    es.add(*bus.values())
    for fuel, spec in case.fuels.items():
        es.add(solph.components.Source(label=f"buy_{fuel}",
                                       outputs={bus[fuel]: solph.Flow(variable_costs=spec.price_per_kwh)}))
    es.add(solph.components.Source(label="grid_import",
                                   outputs={bus["elec"]: solph.Flow(variable_costs=prices.import_per_kwh)}))
    for carrier, demand in (("elec", case.elec_demand_kw), ("heat", case.heat_demand_kw)):
        es.add(solph.components.Sink(label=f"demand_{carrier}",
                                     inputs={bus[carrier]: solph.Flow(nominal_capacity=1.0, fix=demand)}))
    for origin, price in (("solar", prices.feed_in_per_kwh), ("other", prices.other_export_per_kwh)):
        source = bus[f"elec_{origin}"]
        es.add(solph.components.Converter(label=f"use_{origin}", inputs={source: solph.Flow()},
                                          outputs={bus["elec"]: solph.Flow()}))
        if origin == "solar" and prices.net_metering:
            es.add(solph.components.GenericStorage(
                label="nm_bank", nominal_capacity=BANK_CAPACITY_KWH, inputs={source: solph.Flow()},
                outputs={bus["elec"]: solph.Flow()}, initial_storage_level=0, balanced=False))
        else:
            es.add(solph.components.Sink(label=f"export_{origin}",
                                         inputs={source: solph.Flow(variable_costs=-price)}))
    for name, tech in case.catalogue.conversion.items():
        invest = solph.Investment(
            ep_costs=tech.capex_per_unit_chf * crf(case.interest_rate, tech.lifetime_a),
            maximum=tech.max_capacity if tech.max_capacity is not None else float("inf"),
            custom_properties={"roof": 1.0} if tech.is_solar else {})
        out_bus = {c: bus["heat"] if c == "heat" else bus["elec_solar" if tech.is_solar else "elec_other"]
                   for c in tech.outputs}
        if tech.is_solar:
            carrier, eff = next(iter(tech.outputs.items()))
            es.add(solph.components.Source(label=name, outputs={out_bus[carrier]: solph.Flow(
                fix=eff * case.irradiance_kw_per_m2, nominal_capacity=invest,
                variable_costs=tech.om_per_kwh_chf)}))
            continue
        outputs = {out_bus[c]: solph.Flow(variable_costs=tech.om_per_kwh_chf,
                                          **({"nominal_capacity": invest} if c == tech.capacity_on else {}))
                   for c in tech.outputs}
        es.add(solph.components.Converter(
            label=name, inputs={bus[tech.input]: solph.Flow()}, outputs=outputs,
            conversion_factors={out_bus[c]: eff for c, eff in tech.outputs.items()}))
    for name, store in case.catalogue.storage.items():
        es.add(solph.components.GenericStorage(
            label=name,
            nominal_capacity=solph.Investment(
                ep_costs=store.capex_per_kwh_chf * crf(case.interest_rate, store.lifetime_a),
                custom_properties={},
                maximum=store.max_capacity_kwh if store.max_capacity_kwh is not None else float("inf")),
            inputs={bus[store.carrier]: solph.Flow(nominal_capacity=solph.Investment(custom_properties={}))},
            outputs={bus[store.carrier]: solph.Flow(nominal_capacity=solph.Investment(custom_properties={}))},
            loss_rate=store.decay_per_h, inflow_conversion_factor=store.eta_charge,
            outflow_conversion_factor=store.eta_discharge,
            invest_relation_input_capacity=store.c_rate_charge_per_h,
            invest_relation_output_capacity=store.c_rate_discharge_per_h,
            min_storage_level=store.min_soc,
            initial_storage_level=store.min_soc if store.start == "empty" else None,
            balanced=store.start == "cyclic"))
    return es


def run_peer(case: Case, policy: str) -> Run:
    """Build and solve the oemof-solph model of ``case`` under ``policy`` with HiGHS."""
    from oemof import solph
    from pyomo.environ import value

    if case.step_h != 1.0 or case.weight != 1.0:
        raise ValueError("the peer model is written for an hourly, one-year case")
    t0 = time.perf_counter()
    prices = resolve_policy(policy, case.policies[policy], case.price_series, case.n_steps)
    es = _oemof_energy_system(case, prices)
    model = solph.Model(es)
    if case.roof_area_m2 is not None:
        solph.constraints.additional_investment_flow_limit(model, "roof", limit=case.roof_area_m2)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.solve(solver="highs")
    solve_s = time.perf_counter() - t0
    results = solph.processing.results(model)
    capacities: dict[str, float] = {}
    for (node_from, _node_to), data in results.items():
        invest = data.get("scalars", pd.Series(dtype=float)).get("invest")
        if invest is None:
            continue
        # a converter's investment sits on its output flow (tech, bus); a store's on (store, None)
        label = str(node_from.label)
        if label in case.catalogue.conversion:
            capacities[capacity_column(label, case.catalogue.conversion[label])] = float(invest)
        elif label in case.catalogue.storage and _node_to is None:
            capacities[f"{label}_kwh"] = float(invest)
    return Run(build_s, solve_s, float(value(model.objective)), capacities)


def _agree(ours: Run, peer: Run) -> tuple[bool, float, float]:
    rel = abs(ours.objective_chf - peer.objective_chf) / max(abs(ours.objective_chf), 1.0)
    cap_diff = max((abs(v - peer.capacities.get(k, 0.0)) for k, v in ours.capacities.items()), default=0.0)
    return rel < AGREE_RTOL, rel, cap_diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", action="append", help="policy to run (repeatable; default: all seven)")
    parser.add_argument("--no-peer", action="store_true", help="time only our model")
    parser.add_argument("--whole", action="store_true", help="solve our whole LP at once (no probe/pricing)")
    parser.add_argument("--reference", help="reference folder (default: $COSIM_EHUB_REFERENCE, ../shared)")
    parser.add_argument("--metering-before", action="store_true",
                        help="also solve the metering MILP as before the area-split rows (big-M, HiGHS)")
    parser.add_argument("--before-time-limit", type=float, default=None,
                        help="time limit (s) of that before-solve's HiGHS calls")
    args = parser.parse_args()
    console = Console(width=240)  # the table is wide: no truncation when the output is a file
    folder = find_reference_dir(args.reference)
    if folder is None:
        console.print("reference case folder not found (set COSIM_EHUB_REFERENCE or put it at "
                      "../shared/reference/ehub-price-policy): benchmark skipped")
        return
    logging.getLogger("pyomo").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="oemof")
    case = load_reference_case(folder)
    table = Table(title=f"energy hub, {case.n_steps} h, HiGHS: planner.hub (cvxpy) vs oemof-solph (pyomo)")
    for column in ("policy", "ours build s", "ours solve s", "ours solve cpu s", "ours total s",
                   "peer build s", "peer solve s", "peer total s", "peer/ours", "ours objective CHF",
                   "peer objective CHF", "agree", "max cap diff"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    solved_as: dict[str, str] = {}
    results: list[PlanResult] = []
    before_rows: list[tuple[str, Run, Run]] = []
    for policy in args.policy or list(STUDY_POLICY_ORDER):
        ours = run_ours(case, policy, args.whole)
        if args.metering_before and ours.metered_per_interval:
            before_rows.append((policy, run_metering_before(case, policy, args.before_time_limit), ours))
        solved_as[policy] = ours.solved_as
        if ours.result is not None:
            results.append(ours.result)
        cells = [policy, f"{ours.build_s:.2f}", f"{ours.solve_s:.1f}", f"{ours.solve_cpu_s:.1f}",
                 f"{ours.total_s:.1f}"]
        if args.no_peer:
            cells += ["–"] * 4 + [f"{ours.objective_chf:,.0f}", "–", "–", "–"]
        else:
            peer = run_peer(case, policy)
            ok, rel, cap_diff = _agree(ours, peer)
            verdict = f"{'yes' if ok else 'NO'} ({rel:.1e})"
            if ours.metered_per_interval:
                verdict, cap = "n/a: peer meters gross", "–"
            else:
                cap = f"{cap_diff:.2f}"
            cells += [f"{peer.build_s:.1f}", f"{peer.solve_s:.1f}", f"{peer.total_s:.1f}",
                      f"{peer.total_s / ours.total_s:.2f}", f"{ours.objective_chf:,.0f}",
                      f"{peer.objective_chf:,.0f}", verdict, cap]
        table.add_row(*cells)
        console.print(f"{policy}: done", highlight=False)
    console.print(table)
    console.print(f"objectives agree when their relative difference is below {AGREE_RTOL:g}; "
                  "max cap diff is the largest capacity difference (kW, kWe, m2 or kWh); "
                  "n/a: ours meters net per interval, the peer's bank meters gross (not the same model)")
    for policy, how in solved_as.items():
        console.print(f"ours, {policy}: {how}", highlight=False)
    console.print(_design_table(results))
    if before_rows:
        console.print(_before_table(before_rows))


def _before_table(rows: list[tuple[str, Run, Run]]) -> Table:
    """The metering MILP as solved before (big-M rows, HiGHS) against now, same run."""
    table = Table(title="net metering per interval: before (big-M rows, MILP) vs now (area split, "
                        "rounded relaxation), same run")
    for column in ("policy", "before total s", "before cpu s", "now total s", "now cpu s", "before/now",
                   "before/now cpu", "before objective CHF", "before bound CHF", "now objective CHF",
                   "now bound CHF", "now gap"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for policy, before, now in rows:
        b, n = before.result, now.result
        if b is None or n is None:
            continue
        table.add_row(policy, f"{before.total_s:.1f}", f"{before.solve_cpu_s:.1f}", f"{now.total_s:.1f}",
                      f"{now.solve_cpu_s:.1f}", f"{before.total_s / now.total_s:.1f}",
                      f"{before.solve_cpu_s / now.solve_cpu_s:.1f}", f"{b.objective_chf:,.1f}",
                      f"{b.lower_bound_chf:,.1f}", f"{n.objective_chf:,.1f}", f"{n.lower_bound_chf:,.1f}",
                      f"{n.optimality_gap:.1e}")
    return table


def _design_table(results: list[PlanResult]) -> Table:
    """Our design, cost and both emission counts per policy (the study's findings are read here)."""
    table = Table(title="planner.hub results (capacities kWe / kW / m2 / kWh; kCHF/a; t CO2/a; MWh/a)")
    columns = ("policy", "chp_kwe", "boiler_kw", "pv_m2", "heat_pump_kw", "solar_thermal_m2", "battery_kwh",
               "tank_kwh", "total kCHF", "co2_t (study)", "co2_physical_t", "grid bought MWh",
               "grid drawn MWh", "milp", "gap")
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for r in results:
        caps = [f"{r.capacities.get(c, 0.0):,.1f}" for c in columns[1:8]]
        table.add_row(r.policy, *caps, f"{r.costs.total_chf / 1e3:,.2f}", f"{r.co2_t:,.1f}",
                      f"{r.co2_physical_t:,.1f}", f"{r.grid_import_mwh:,.1f}",
                      f"{r.grid_import_physical_mwh:,.1f}", "yes" if r.is_milp else "no",
                      f"{r.optimality_gap:.1e}")
    return table


if __name__ == "__main__":
    main()
