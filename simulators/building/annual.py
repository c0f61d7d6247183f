"""A year of a building fleet under its own thermostats on the synthetic weather: the annual
totals a calibration is checked with (space heating, hot water, appliances, heat-pump
electricity, PV) and the comfort statistics (hours below the band, above it, above 26 °C in
summer). Used by `benchmarks/bench_calibration.py` and the calibration tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.building import heatpump
from simulators.building.model import BuildingFleet, BuildingSpec, Controls, WeatherInputs
from simulators.sources.weather import Site, synthetic_weather

WEATHER_FIELDS = ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s")
SUMMER_MONTHS = (6, 7, 8)
OVERHEATING_C = 26.0


@dataclass(frozen=True)
class AnnualResult:
    """Annual totals (kWh) and comfort shares of each building (arrays of shape (n,))."""

    specs: list[BuildingSpec]
    heat_kwh: np.ndarray
    cool_kwh: np.ndarray
    dhw_kwh: np.ndarray
    appliances_kwh: np.ndarray
    hp_kwh: np.ndarray
    cool_el_kwh: np.ndarray
    """The heat pump's electricity for cooling (part of `hp_kwh`)."""
    pv_kwh: np.ndarray
    hours_below_band: np.ndarray
    """Hours with the mean indoor temperature below t_min_c (heating discomfort)."""
    hours_above_band: np.ndarray
    """Hours with the mean indoor temperature above t_max_c (cooling discomfort)."""
    summer_share_above_26: np.ndarray
    """Share of the June-August hours above `OVERHEATING_C`."""
    t_in_max_c: np.ndarray

    @property
    def seasonal_cop(self) -> np.ndarray:
        """Heat (space heating + hot water) over the heat pump's heating electricity (its cooling
        electricity left out); NaN without a heat pump."""
        is_hp = np.array([s.heating == "heat_pump" for s in self.specs])
        heating_kwh = self.hp_kwh - self.cool_el_kwh
        result: np.ndarray = np.where(
            is_hp, (self.heat_kwh + self.dhw_kwh) / np.where(heating_kwh > 0, heating_kwh, np.nan), np.nan
        )
        return result

    @property
    def pv_kwh_per_kwp(self) -> np.ndarray:
        kwp = np.array([s.pv_kwp for s in self.specs])
        result: np.ndarray = np.where(kwp > 0, self.pv_kwh / np.where(kwp > 0, kwp, 1.0), np.nan)
        return result


def simulate_year(
    specs: list[BuildingSpec], site: Site, seed: int, year: int, step_s: int = 3600
) -> AnnualResult:
    """One calendar year (8,760 h from 1 January) of the fleet without setpoints, on the synthetic
    weather of `seed`."""
    n_steps = 8760 * 3600 // step_s
    times = pd.date_range(f"{year}-01-01", periods=n_steps, freq=f"{step_s}s", tz=site.tz)
    fleet = BuildingFleet(specs, list(range(len(specs))), site, step_s, seed)
    fleet.set_time_axis(times)
    w = synthetic_weather(times, site, seed)
    n = len(specs)
    sums = {k: np.zeros(n) for k in ("heat", "cool", "dhw", "app", "hp", "cool_el", "pv")}
    t_in = np.empty((n_steps, n))
    none = Controls.none(n)
    for k, t in enumerate(times):
        inputs = WeatherInputs(*(np.full(n, getattr(w, f)[k]) for f in WEATHER_FIELDS))
        s = fleet.step(t, k * step_s, k, inputs, none)
        sums["heat"] += s.heat_th_kw
        sums["cool"] += s.cool_th_kw
        sums["cool_el"] += s.cool_th_kw / heatpump.eer(inputs.t_out_c)
        sums["dhw"] += s.dhw_th_kw
        sums["app"] += s.p_appliances_kw
        sums["hp"] += s.hp_p_kw
        sums["pv"] += s.pv_kw
        t_in[k] = s.t_in_mean_c
    h = step_s / 3600.0
    t_min = np.array([s.t_min_c for s in specs])
    t_max = np.array([s.t_max_c for s in specs])
    summer = np.isin(times.month, SUMMER_MONTHS)
    return AnnualResult(
        specs, sums["heat"] * h, sums["cool"] * h, sums["dhw"] * h, sums["app"] * h, sums["hp"] * h,
        sums["cool_el"] * h, sums["pv"] * h,
        (t_in < t_min).sum(axis=0) * h, (t_in > t_max).sum(axis=0) * h,
        (t_in[summer] > OVERHEATING_C).mean(axis=0), t_in.max(axis=0),
    )  # fmt: skip
