"""Forecasts issued at each control step from the data up to that step (the scenario's `forecast:`).

`ForecastIssuer` builds the district's archive (`forecast_archive`), one forecaster per quantity
(building demand `p_base_kw` and PV `pv_kw`, in a district with hot-water tanks their hot-water
heat `dhw_th_kw`; the site's outdoor temperature and irradiance, by default the weather service's
forecast; the import price `import_per_kwh` when the section names it), trains them on the history
before the run (and again every `retrain_every_h` on everything seen so far) and, at control step
k, issues every forecast from `archive.view(k)`: the observations before step k only.

The controllers' remaining inputs follow from these forecasts through the building model the
controller knows (its own building, not the future): the model's `exogenous` step evaluated on
the forecast weather (irradiance split into beam and diffuse by pvlib's Erbs model, the wind at
its mean over the history) gives the solar gains and the heat pump's COPs (space and hot water);
the appliances' heat is the demand forecast times the appliance share of the demand learnt from
the history.

Every issued forecast at the recorded leads goes to the `forecasts` table
with the value that came true (the simulators' value for that interval, the same as in the
`buildings` table).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pvlib

from cosim.control.forecast_archive import district_archive
from cosim.results.writer import ResultsWriter
from cosim.scenario.forecast import (
    BUILDING_QUANTITIES,
    HOT_WATER_QUANTITY,
    PRICE_QUANTITY,
    WEATHER_QUANTITIES,
    ForecastConfig,
)
from cosim.scenario.model import Scenario
from forecasting import Forecast, Forecaster, build_forecaster
from simulators.building.model import BuildingFleet, WeatherInputs

QUANTITIES = (*BUILDING_QUANTITIES, *WEATHER_QUANTITIES)
FORECASTS_TABLE = "forecasts"
TIMING_TABLE = "forecast_steps_timing"


@dataclass(frozen=True)
class IssuedTables:
    """Forecast inputs of the controllers' models: steps × buildings (kW, °C)."""

    p_base_kw: np.ndarray
    pv_kw: np.ndarray
    q_air_gain_kw: np.ndarray
    q_mass_gain_kw: np.ndarray
    cop: np.ndarray
    t_out_c: np.ndarray
    dhw_th_kw: np.ndarray  # hot-water heat demand (NaN when not forecast: a district without tanks)
    cop_dhw: np.ndarray
    import_per_kwh: np.ndarray | None = None  # steps: the import price, when prices are forecast


class ForecastIssuer:
    """The run's forecasters (see the module docstring)."""

    def __init__(self, scenario: Scenario, config: ForecastConfig, horizon_steps: int,
                 writer: ResultsWriter | None = None) -> None:
        self.config = config
        self.horizon = horizon_steps
        self.step_s = scenario.control_step
        self.writer = writer
        self.district = district_archive(scenario, config.history_days, horizon_steps,
                                         config.weather.params(), prices=config.forecasts_prices())
        archive = self.district.archive
        self.forecasters: dict[str, Forecaster] = {}
        hot_water = any(group.tank is not None for group in scenario.buildings)
        extra = (*((HOT_WATER_QUANTITY,) if hot_water else ()),
                 *((PRICE_QUANTITY,) if config.forecasts_prices() else ()))
        for quantity in (*QUANTITIES, *extra):
            spec = config.spec(quantity)
            params = dict(spec.params)
            if spec.kind == "gbt":  # quantile models only when intervals are issued (they triple training)
                params.setdefault("intervals", config.intervals)
            self.forecasters[quantity] = build_forecaster(spec.kind, quantity, params, oracle=archive)
        self.train_s = self._fit(0)
        offset = self.district.run_offset
        base = archive.values["p_base_kw"][:offset].sum(axis=0)
        appliances = archive.values["p_appliances_kw"][:offset].sum(axis=0)
        self.appliance_share = np.where(base > 0, appliances / np.where(base > 0, base, 1.0), 1.0)
        self.record_leads = sorted({max(1, round(h * 3600 / self.step_s)) for h in config.record_leads_h})
        self.last_fit = 0
        self.wind_m_s = self.district.wind_m_s
        self.zenith_deg = self.district.zenith_deg

    def _fit(self, step: int) -> float:
        view = self.district.archive.view(self.district.run_offset + step, self.district.weather)
        t0 = time.perf_counter()
        for forecaster in self.forecasters.values():
            forecaster.fit(view)
        return time.perf_counter() - t0

    def _maybe_retrain(self, step: int) -> float:
        every_h = self.config.retrain_every_h
        if every_h is None or step == 0:
            return 0.0
        every = max(1, round(every_h * 3600 / self.step_s))
        if step - self.last_fit < every:
            return 0.0
        self.last_fit = step
        return self._fit(step)

    def issue(self, step: int) -> dict[str, Forecast]:
        """Every quantity's forecast issued at run step `step`, from the data before it."""
        view = self.district.archive.view(self.district.run_offset + step, self.district.weather)
        return {q: f.forecast(view, self.horizon, self.config.intervals) for q, f in self.forecasters.items()}

    def tables(self, step: int, fleet: BuildingFleet, time_s: int | None = None) -> IssuedTables:
        """The controllers' forecast inputs issued at `step` (recorded when a writer is given)."""
        t0 = time.perf_counter()
        train_s = self._maybe_retrain(step)
        issued = self.issue(step)
        forecast_s = time.perf_counter() - t0 - train_s
        if self.writer is not None:
            self._record(step, issued, self.step_s * step if time_s is None else time_s, forecast_s, train_s)
        return self._model_inputs(step, issued, fleet)

    def _model_inputs(self, step: int, issued: dict[str, Forecast], fleet: BuildingFleet) -> IssuedTables:
        """Heat gains and COP through the building model's own `exogenous` with the forecast
        weather (its demand outputs, the truth, are replaced by the demand forecast)."""
        n, horizon = fleet.n, self.horizon
        k = self.district.run_offset + step
        times = self.district.archive.times[k : k + horizon]
        t_out = issued["t_out_c"].mean[:, 0]
        ghi = np.clip(issued["ghi_w_m2"].mean[:, 0], 0.0, None)
        parts = pvlib.irradiance.erbs(ghi, self.zenith_deg[k : k + horizon], times)
        dni = np.nan_to_num(np.asarray(parts["dni"], dtype=float))
        dhi = np.nan_to_num(np.asarray(parts["dhi"], dtype=float))
        p_base = issued["p_base_kw"].mean
        appliances = self.appliance_share[None, :] * np.clip(p_base, 0.0, None)
        q_air, q_mass, cop, cop_dhw = (np.empty((horizon, n)) for _ in range(4))
        for j in range(horizon):
            w = WeatherInputs(*(np.full(n, v) for v in (t_out[j], ghi[j], dni[j], dhi[j], self.wind_m_s)))
            ex = fleet.exogenous(times[j], step + j, w)
            q_air[j] = ex.q_air_gain_kw - ex.p_appliances_kw + appliances[j]
            q_mass[j], cop[j], cop_dhw[j] = ex.q_mass_gain_kw, ex.cop_space, ex.cop_dhw
        hot_water = issued.get(HOT_WATER_QUANTITY)
        return IssuedTables(
            p_base_kw=p_base,
            pv_kw=np.clip(issued["pv_kw"].mean, 0.0, None),
            q_air_gain_kw=q_air,
            q_mass_gain_kw=q_mass,
            cop=cop,
            t_out_c=np.repeat(t_out[:, None], n, axis=1),
            dhw_th_kw=np.full_like(cop, np.nan) if hot_water is None else np.clip(hot_water.mean, 0, None),
            cop_dhw=cop_dhw,
            import_per_kwh=None if (price := issued.get(PRICE_QUANTITY)) is None else price.mean[:, 0],
        )

    def _record(self, step: int, issued: dict[str, Forecast], time_s: int, forecast_s: float,
                train_s: float) -> None:
        if self.writer is None:
            return
        archive = self.district.archive
        k = self.district.run_offset + step
        issue_time = archive.times[k]
        rows: list[dict[str, Any]] = []
        for quantity, f in issued.items():
            truth = archive.values[quantity]
            for lead in self.record_leads:
                if lead > f.horizon_steps:
                    continue
                j = lead - 1
                for e, entity in enumerate(f.entities):
                    rows.append({
                        "time_s": time_s,
                        "timestamp": issue_time,
                        "entity": entity,
                        "quantity": quantity,
                        "lead_s": lead * self.step_s,
                        "value": float(f.mean[j, e]),
                        "lower": None if f.lower is None else float(f.lower[j, e]),
                        "upper": None if f.upper is None else float(f.upper[j, e]),
                        "realised": float(truth[k + j, e]),
                    })
        self.writer.add_rows(FORECASTS_TABLE, rows)
        self.writer.add_rows(TIMING_TABLE, [{
            "time_s": time_s, "timestamp": issue_time, "entity": "forecasts",
            "forecast_ms": forecast_s * 1e3, "train_ms": train_s * 1e3,
        }])
