"""Forecasts for model-predictive controllers, built from the same pure models as the simulators.

The forecaster holds its own copy of the district's building models (same specifications, seeds
and weather), so with `quality: perfect` it predicts every uncontrolled quantity of the run
exactly: weather, prices, appliance and hot-water demand, PV, heat gains, heat-pump COP. It turns
them, with the measured states, into the ADMM agents' `AgentData` for a horizon starting at the
current control step.

With a scenario `forecast:` section the uncontrolled quantities (demand, PV, hot-water demand of
the tanks, outdoor temperature, irradiance) are instead forecast at each control step from the data before it
(`cosim.control.forecast_issue`); the twin then only supplies the prices (published tariffs) and
the building models. A section whose every quantity is `perfect` keeps the twin's numbers exactly
and only records them. Give a results writer to record the `forecasts` table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controllers.admm import AgentData, ThermalModel
from cosim.control.forecast_issue import ForecastIssuer
from cosim.control.storage_params import battery as battery_data
from cosim.results.writer import ResultsWriter
from cosim.scenario.forecast import ForecastConfig
from cosim.scenario.model import Scenario
from simulators.building import thermal
from simulators.building.model import BuildingFleet, BuildingSpec, WeatherInputs
from simulators.clock import time_axis
from simulators.sources.model import make_prices, make_weather, site_from

WEATHER_FIELDS = ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s")


@dataclass(frozen=True)
class MeasuredState:
    """What the controller knows about one building at the start of a control step."""

    t_in_c: float
    t_mass_c: float
    hp_p_prev_kw: float | None
    battery_e_kwh: float | None


@dataclass(frozen=True)
class ForecastTables:
    """Uncontrolled quantities per step (rows) and building (columns), kW or °C."""

    p_base_kw: np.ndarray
    pv_kw: np.ndarray
    q_air_gain_kw: np.ndarray
    q_mass_gain_kw: np.ndarray
    cop: np.ndarray
    t_out_c: np.ndarray
    dhw_th_kw: np.ndarray  # hot-water heat demand (for the tanks)
    cop_dhw: np.ndarray  # the heat pump's COP at the hot-water supply temperature


class DistrictForecaster:
    """Perfect forecasts of a scenario's buildings over `horizon_steps` control steps."""

    def __init__(self, scenario: Scenario, horizon_steps: int, writer: ResultsWriter | None = None) -> None:
        if scenario.step != scenario.control_step:
            raise ValueError("model-predictive control needs control_step == step")
        self.scenario = scenario
        self.horizon = horizon_steps
        self.dt_s = scenario.control_step
        self.times = time_axis(scenario.start, scenario.timezone, self.dt_s, scenario.n_steps + horizon_steps)
        site_spec = {**scenario.site.model_dump(exclude={"heating_degree_days_kd"}), "tz": scenario.timezone}
        site = site_from(site_spec)
        weather_spec = {**scenario.sources.weather.model_dump(mode="json"), "seed": scenario.seed}
        self.weather = make_weather(self.times, weather_spec, site)
        price_spec = scenario.sources.prices.model_dump(
            mode="json", exclude={"gas_per_kwh", "gas_co2_kg_per_kwh"}
        )
        self.prices = make_prices(self.times, {**price_spec, "seed": scenario.seed}, scenario.timezone)
        self.names: list[str] = []
        specs: list[BuildingSpec] = []
        self.groups = []
        for group in scenario.buildings:
            spec = BuildingSpec.from_dict(group.building_spec())
            for name in group.names():
                self.names.append(name)
                specs.append(spec)
                self.groups.append(group)
        self.fleet = BuildingFleet(
            specs,
            list(range(len(specs))),
            site,
            self.dt_s,
            scenario.seed,
            scenario.site.heating_degree_days_kd,
        )
        self.fleet.set_time_axis(self.times)
        self.model = thermal.discretise(self.fleet.rc, float(self.dt_s))
        self._tables: dict[int, ForecastTables] = {}
        self._issued: tuple[int, ForecastTables] | None = None  # the last step's tables
        self._issued_price: np.ndarray | None = None  # and its import price forecast, if any
        config: ForecastConfig | None = getattr(scenario, "forecast", None)
        self.issuer = None if config is None else ForecastIssuer(scenario, config, horizon_steps, writer)
        self.honest = config is not None and not config.all_perfect()

    def _step_tables(self, index: int) -> ForecastTables:
        n = self.fleet.n
        weather = WeatherInputs(*(np.full(n, getattr(self.weather, f)[index]) for f in WEATHER_FIELDS))
        ex = self.fleet.exogenous(self.times[index], index, weather)
        return ForecastTables(
            ex.p_base_kw, ex.pv_kw, ex.q_air_gain_kw, ex.q_mass_gain_kw, ex.cop_space, weather.t_out_c,
            ex.dhw_th_kw, ex.cop_dhw,
        )

    def tables(self, start: int) -> ForecastTables:
        """Forecasts for steps start … start + horizon − 1, issued at control step `start` (issued
        once per step: the buildings' data and their tanks' read the same tables)."""
        if self._issued is not None and self._issued[0] == start:
            return self._issued[1]
        self._issued_price = None
        if self.issuer is not None and self.honest:
            t = self.issuer.tables(start, self.fleet)
            tables = ForecastTables(t.p_base_kw, t.pv_kw, t.q_air_gain_kw, t.q_mass_gain_kw, t.cop, t.t_out_c,
                                    t.dhw_th_kw, t.cop_dhw)
            self._issued_price = t.import_per_kwh
        else:
            tables = self._perfect_tables(start)
            if self.issuer is not None:
                self.issuer.tables(start, self.fleet)  # records what the (perfect) forecasters issued
        self._issued = (start, tables)
        return tables

    def price_tables(self, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Import and export prices (per kWh) for steps start … start + horizon − 1 as known at
        control step `start`: the published tariff, or with `import_per_kwh` under the scenario's
        `forecast.quantities` the import price forecast at `start` (real-time prices are not known
        ahead; the export price stays the published feed-in tariff)."""
        window = slice(start, start + self.horizon)
        export = np.asarray(self.prices.export_per_kwh[window], dtype=float)
        if self.issuer is not None and self.honest and self.issuer.config.forecasts_prices():
            self.tables(start)  # issued once per step, with the other quantities
            if self._issued_price is not None:
                return np.asarray(self._issued_price, dtype=float), export
        return np.asarray(self.prices.import_per_kwh[window], dtype=float), export

    def _perfect_tables(self, start: int) -> ForecastTables:
        """The twin's stacked values for steps start … start + horizon − 1 (each step computed once)."""
        for k in range(start, start + self.horizon):
            if k not in self._tables:
                self._tables[k] = self._step_tables(k)
        for k in [k for k in self._tables if k < start]:
            del self._tables[k]
        rows = [self._tables[k] for k in range(start, start + self.horizon)]
        return ForecastTables(
            *(np.stack([getattr(r, f) for r in rows]) for f in ForecastTables.__dataclass_fields__)
        )

    def agent_data(self, start: int, states: list[MeasuredState]) -> list[AgentData]:
        """One `AgentData` per building (in scenario order) for the horizon from control step `start`."""
        if len(states) != len(self.names):
            raise ValueError(f"need {len(self.names)} states, got {len(states)}")
        f = self.tables(start)
        price, export_price = self.price_tables(start)
        export = np.minimum(export_price, price)
        dt_h = self.dt_s / 3600.0
        data = []
        for i, (name, group, state) in enumerate(zip(self.names, self.groups, states, strict=True)):
            therm = None
            if self.fleet.is_hp[i]:
                hp_max = float(self.fleet.hp_p_max_kw[i])
                prev = None if state.hp_p_prev_kw is None else float(np.clip(state.hp_p_prev_kw, 0.0, hp_max))
                therm = ThermalModel(
                    a=self.model.a[i],
                    b=self.model.b[i],
                    x0_c=np.array([state.t_in_c, state.t_mass_c]),
                    t_out_c=f.t_out_c[:, i],
                    q_air_gain_kw=f.q_air_gain_kw[:, i],
                    q_mass_gain_kw=f.q_mass_gain_kw[:, i],
                    cop=f.cop[:, i],
                    hp_p_max_kw=hp_max,
                    t_min_c=np.full(self.horizon, group.t_min_c),
                    t_max_c=np.full(self.horizon, group.t_max_c),
                    hp_p_prev_kw=prev,
                )
            battery = None
            if group.battery is not None and state.battery_e_kwh is not None:
                battery = battery_data(group.battery, state.battery_e_kwh)
            data.append(
                AgentData(
                    name=name,
                    dt_h=dt_h,
                    price_per_kwh=price,
                    p_base_kw=f.p_base_kw[:, i],
                    pv_kw=f.pv_kw[:, i],
                    thermal=therm,
                    battery=battery,
                    export_price_per_kwh=export,
                )
            )
        return data


class StateTracker:
    """The measured state of every building at the start of each control step, from what the
    controller receives (the building reports the end of [t, t+Δ)).

    Indoor and mass temperatures at t are the previous step's report (the initial temperature at
    t = 0); the heat pump's power in [t, t+Δ), already applied, is the measured heat divided by
    the COP; the battery's energy at t comes from its time-shifted state of charge.
    """

    def __init__(self, names: list[str], t_init_c: np.ndarray) -> None:
        self.names = names
        self.previous = {n: (float(t), float(t)) for n, t in zip(names, t_init_c, strict=True)}

    def states(self, measured: dict[str, dict[str, float | None]]) -> list[MeasuredState]:
        """States in `names` order from this step's measurements per building name."""
        out = []
        for name in self.names:
            m = measured[name]
            cop, heat = m.get("cop"), m.get("heat_th_kw")
            hp_prev = None if cop is None or cop != cop or heat is None else heat / cop
            soc, capacity = m.get("soc"), m.get("capacity_kwh")
            t_in, t_mass = self.previous[name]
            energy = None if soc is None or capacity is None else soc * capacity
            out.append(MeasuredState(t_in, t_mass, hp_prev, energy))
            self.previous[name] = (float(m.get("t_in_c") or t_in), float(m.get("t_mass_c") or t_mass))
        return out
