"""Day-ahead plans made by the energy-hub planner for every building of a scenario.

Each building is planned as its own energy hub (`planner.hub`) with its installed equipment fixed
(dispatch only, no sizing): heat pump, rooftop PV and battery, grid import and export, over the
run's horizon, under the scenario's own prices (import series, and the export price as a feed-in
tariff) or under one of the planner's named policies. Its inputs come from the same forecasts the
ADMM agents use (`cosim.control.forecast.DistrictForecaster`), issued at the plan's issue time: the
twin's exact values without a scenario `forecast:` section, the scenario's forecasters (from the
history before the issue time only, docs/forecasting.md) with one. Without `plan.planner.replan_hour`
it is one plan over the whole run made at its start; with it, one plan over `horizon_h` hours made
at the start and again every day at that hour from the states measured then (`cosim.plans.replan`):

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

from collections.abc import Sequence

import numpy as np
import pandas as pd

from controllers.plans import AssetPlan, PlanSet
from cosim.control.forecast import DistrictForecaster, ForecastTables, MeasuredState
from cosim.scenario.model import Scenario
from planner.hub.case import Case
from planner.hub.policies import Policy, PriceSpec, load_policies
from planner.hub.solve import plan_case
from planner.hub.technologies import load_catalogue

SCENARIO_POLICY = "scenario"
PV_EFFICIENCY_KEY = "pv"


def heat_to_hold(
    f: ForecastTables, a: np.ndarray, b: np.ndarray, i: int, x0_c: np.ndarray, t_target_c: np.ndarray,
    q_max_kw: float,
) -> np.ndarray:
    """Heat (kW) that keeps building i's indoor temperature at `t_target_c` step by step, from the
    state `x0_c` (indoor, mass) through its 2R2C model (`a`, `b`) on the forecasts `f`."""
    x = np.asarray(x0_c, dtype=float).copy()
    heat = np.zeros(len(t_target_c))
    for k in range(len(t_target_c)):
        u = np.array([f.t_out_c[k, i], f.q_air_gain_kw[k, i], f.q_mass_gain_kw[k, i]])
        free = a @ x + b @ u
        heat[k] = float(np.clip((t_target_c[k] - free[0]) / b[0, 1], 0.0, q_max_kw))
        x = free + b[:, 1] * heat[k]
    return heat


class DayAheadPlanner:
    """Plans every building over `horizon_steps` control steps (default: the whole run) from any
    control step, on the forecasts issued at that step (see the module docstring)."""

    def __init__(self, scenario: Scenario, policy: str = SCENARIO_POLICY, margin_k: float = 0.5,
                 horizon_steps: int | None = None) -> None:
        self.scenario = scenario
        self.n = scenario.n_steps if horizon_steps is None else horizon_steps
        self.policy, self.margin_k = policy, margin_k
        self.catalogue = load_catalogue()
        self.policies = {
            **load_policies(),
            SCENARIO_POLICY: Policy(
                label="the scenario's import and export prices",
                import_price=PriceSpec(series="import"),
                feed_in=PriceSpec(series="export"),
            ),
        }
        if policy not in self.policies:
            raise ValueError(f"unknown plan policy {policy!r}; allowed: {', '.join(sorted(self.policies))}")
        self.forecaster = DistrictForecaster(scenario, self.n)

    def plans_at(self, step: int = 0, states: Sequence[MeasuredState] | None = None) -> PlanSet:
        """One grid plan per building over the next `n` steps from control step `step`, on the
        forecasts issued at `step`, from the measured `states` (default: the run's initial states)."""
        forecaster, catalogue, n = self.forecaster, self.catalogue, self.n
        hp = catalogue.conversion["heat_pump"]
        cop = float(hp.outputs["heat"])
        pv_eff = float(catalogue.conversion[PV_EFFICIENCY_KEY].outputs["elec"])
        battery_name = next(name for name, s in catalogue.storage.items() if s.carrier == "elec")
        import_price, export_price = forecaster.price_tables(step)
        prices = {"import": import_price[:n], "export": export_price[:n]}
        f = forecaster.tables(step)
        dt_h = self.scenario.step / 3600.0
        start = forecaster.times[step]
        plans: dict[str, AssetPlan] = {}
        for i, (name, group) in enumerate(zip(forecaster.names, forecaster.groups, strict=True)):
            state = None if states is None else states[i]
            x0 = forecaster.fleet.x[i] if state is None else np.array([state.t_in_c, state.t_mass_c])
            is_hp = bool(forecaster.fleet.is_hp[i])
            q_max = float(forecaster.fleet.hp_p_max_kw[i]) * cop if is_hp else 0.0
            t_target = np.full(n, group.t_min_c + self.margin_k)
            a, b = forecaster.model.a[i], forecaster.model.b[i]
            heat = heat_to_hold(f, a, b, i, x0, t_target, q_max) if is_hp else np.zeros(n)
            pv_kw = np.maximum(f.pv_kw[:n, i], 0.0)
            area_m2 = max(float(pv_kw.max()) / pv_eff, 1.0)  # 1 kW/m² irradiance at the peak
            fixed = {t: 0.0 for t in catalogue.conversion} | {s: 0.0 for s in catalogue.storage}
            fixed |= {"heat_pump": q_max, PV_EFFICIENCY_KEY: area_m2 if pv_kw.max() > 0 else 0.0}
            initial: dict[str, float] = {}
            if group.battery is not None:
                fixed[battery_name] = group.battery.capacity_kwh
                measured = None if state is None else state.battery_e_kwh
                initial[battery_name] = (
                    group.battery.soc_init * group.battery.capacity_kwh if measured is None else measured
                )
            case = Case(
                name=name,
                start=pd.Timestamp(start),
                step_h=dt_h,
                heat_demand_kw=heat,
                elec_demand_kw=np.maximum(f.p_base_kw[:n, i], 0.0),
                irradiance_w_per_m2=pv_kw / (pv_eff * area_m2) * 1000.0,
                catalogue=catalogue,
                policies=self.policies,
                price_series=prices,
                fixed_capacities=fixed,
                initial_e_kwh=initial,
                operation_weight=1.0,
            )
            result = plan_case(case, self.policy)
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
                source=f"planner.hub day-ahead ({self.policy}) issued {start.isoformat()}",
                start=start.to_pydatetime(),
                step_s=self.scenario.step,
                series=series,
            )
        return PlanSet(source="planner.hub", plans=plans)


def horizon_steps(scenario: Scenario) -> int | None:
    """The plans' length in control steps: `plan.planner.horizon_h` when re-planning, else None
    (the whole run)."""
    source = None if scenario.plan is None else scenario.plan.planner
    if source is None or source.replan_hour is None:
        return None
    return max(1, round(source.horizon_h * 3600 / scenario.control_step))


def planner_plans(scenario: Scenario, policy: str = SCENARIO_POLICY, margin_k: float = 0.5) -> PlanSet:
    """The plans made at the start of the run (see the module docstring)."""
    return DayAheadPlanner(scenario, policy, margin_k, horizon_steps(scenario)).plans_at(0)
