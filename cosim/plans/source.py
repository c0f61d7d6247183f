"""Day-ahead plans made by the energy-hub planner for every building of a scenario.

Each building is planned as its own energy hub (`planner.hub`) with its installed equipment fixed
(dispatch only, no sizing): heat pump, rooftop PV and battery, grid import and export, over the
run's horizon, under the scenario's own prices (import series, and the export price as a feed-in
tariff) or under one of the planner's named policies. Its inputs come from the same forecasts the
ADMM agents use (`cosim.control.forecast.DistrictForecaster`), issued at the start of the run: the
twin's exact values without a scenario `forecast:` section, the scenario's forecasters (from the
history before the start only, docs/forecasting.md) with one. It is one plan over the whole run;
re-planning day by day needs the run loop to hand down new plans (not built):

- electricity demand: appliances and hot water (the building's base load);
- heat demand: the heat that holds the indoor temperature `margin_k` above the comfort minimum in
  the building's 2R2C model (zero when the gains suffice), capped at the heat pump's capacity;
- PV: the forecast PV power, passed to the hub's PV model as an equivalent irradiance on a fixed
  collector area (so the hub's PV output equals the forecast exactly);
- the heat pump at the hub catalogue's COP, the battery with the scenario's capacity and initial
  state of charge and the catalogue's efficiencies.

The plan handed down per building is the hub's grid exchange `p_kw` (import positive), plus the
heat pump's electricity and the battery's energy for information. It is a plan, not a forecast
of what ADMM will do: it ignores the shared limit and the thermal mass the ADMM agents exploit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from controllers.plans import AssetPlan, PlanSet
from cosim.control.forecast import DistrictForecaster
from cosim.scenario.model import Scenario
from planner.hub.case import Case
from planner.hub.policies import Policy, PriceSpec, load_policies
from planner.hub.solve import plan_case
from planner.hub.technologies import load_catalogue

SCENARIO_POLICY = "scenario"
PV_EFFICIENCY_KEY = "pv"


def heat_to_hold(
    forecaster: DistrictForecaster, i: int, t_target_c: np.ndarray, q_max_kw: float
) -> np.ndarray:
    """Heat (kW) that keeps building i's indoor temperature at `t_target_c` step by step."""
    f = forecaster.tables(0)
    a, b = forecaster.model.a[i], forecaster.model.b[i]
    x = forecaster.fleet.x[i].astype(float).copy()
    heat = np.zeros(forecaster.horizon)
    for k in range(forecaster.horizon):
        u = np.array([f.t_out_c[k, i], f.q_air_gain_kw[k, i], f.q_mass_gain_kw[k, i]])
        free = a @ x + b @ u
        heat[k] = float(np.clip((t_target_c[k] - free[0]) / b[0, 1], 0.0, q_max_kw))
        x = free + b[:, 1] * heat[k]
    return heat


def planner_plans(scenario: Scenario, policy: str = SCENARIO_POLICY, margin_k: float = 0.5) -> PlanSet:
    """One grid plan per building (see module docstring), over the run's duration."""
    n = scenario.n_steps
    forecaster = DistrictForecaster(scenario, n)
    catalogue = load_catalogue()
    hp = catalogue.conversion["heat_pump"]
    cop = float(hp.outputs["heat"])
    pv_eff = float(catalogue.conversion[PV_EFFICIENCY_KEY].outputs["elec"])
    battery_name = next(name for name, s in catalogue.storage.items() if s.carrier == "elec")
    window = slice(0, n)
    prices = {
        "import": np.asarray(forecaster.prices.import_per_kwh[window], dtype=float),
        "export": np.asarray(forecaster.prices.export_per_kwh[window], dtype=float),
    }
    policies = {
        **load_policies(),
        SCENARIO_POLICY: Policy(
            label="the scenario's import and export prices",
            import_price=PriceSpec(series="import"),
            feed_in=PriceSpec(series="export"),
        ),
    }
    if policy not in policies:
        raise ValueError(f"unknown plan policy {policy!r}; allowed: {', '.join(sorted(policies))}")
    f = forecaster.tables(0)
    dt_h = scenario.step / 3600.0
    start = forecaster.times[0]
    plans: dict[str, AssetPlan] = {}
    for i, (name, group) in enumerate(zip(forecaster.names, forecaster.groups, strict=True)):
        is_hp = bool(forecaster.fleet.is_hp[i])
        q_max = float(forecaster.fleet.hp_p_max_kw[i]) * cop if is_hp else 0.0
        t_target = np.full(n, group.t_min_c + margin_k)
        heat = heat_to_hold(forecaster, i, t_target, q_max) if is_hp else np.zeros(n)
        pv_kw = np.maximum(f.pv_kw[:, i], 0.0)
        area_m2 = max(float(pv_kw.max()) / pv_eff, 1.0)  # 1 kW/m² irradiance at the peak
        fixed = {t: 0.0 for t in catalogue.conversion} | {s: 0.0 for s in catalogue.storage}
        fixed |= {"heat_pump": q_max, PV_EFFICIENCY_KEY: area_m2 if pv_kw.max() > 0 else 0.0}
        initial: dict[str, float] = {}
        if group.battery is not None:
            fixed[battery_name] = group.battery.capacity_kwh
            initial[battery_name] = group.battery.soc_init * group.battery.capacity_kwh
        case = Case(
            name=name,
            start=pd.Timestamp(start),
            step_h=dt_h,
            heat_demand_kw=heat,
            elec_demand_kw=np.maximum(f.p_base_kw[:, i], 0.0),
            irradiance_w_per_m2=pv_kw / (pv_eff * area_m2) * 1000.0,
            catalogue=catalogue,
            policies=policies,
            price_series=prices,
            fixed_capacities=fixed,
            initial_e_kwh=initial,
            operation_weight=1.0,
        )
        result = plan_case(case, policy)
        d = result.dispatch
        zero = pd.Series(0.0, index=d.index)
        grid = (
            d["grid_import_kw"]
            + d.get("nm_withdrawal_kw", zero)
            - d["export_solar_kw"]
            - d["export_other_kw"]
        )
        series = {"p_kw": grid.to_list(), "hp_p_kw": d["heat_pump_in_kw"].to_list()}
        if group.battery is not None:
            series["battery_e_kwh"] = d[f"{battery_name}_e_kwh"].to_list()
        plans[name] = AssetPlan(
            asset=name,
            kind="grid",
            source=f"planner.hub day-ahead ({policy})",
            start=start.to_pydatetime(),
            step_s=scenario.step,
            series=series,
        )
    return PlanSet(source="planner.hub", plans=plans)
