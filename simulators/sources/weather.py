"""Weather series: the seeded synthetic generator, the solar geometry and the irradiance split.

The synthetic weather is seeded: the same seed, site and time axis always give the same series. It
reproduces a climate (`simulators.sources.climate`: Munich, Paris, Madrid, Greensboro presets):
GHI = clear-sky GHI (pvlib, simplified Solis) × a stochastic clear-sky index with day-to-day
persistence whose monthly irradiation equals the climate's, outdoor temperature from the climate's
monthly means with a daily cycle and anomalies consistent with the cloudiness
(`simulators.sources.synthetic`); beam and diffuse parts come from the Erbs decomposition (pvlib).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

from simulators.sources.climate import Climate, climate_named, nearest_climate
from simulators.sources.synthetic import clear_sky_ghi, synthetic_year


@dataclass(frozen=True)
class Site:
    """Where the district is and its climate. Longitude east positive; `tz` an IANA zone name;
    `climate` a preset of `simulators.sources.climate.CLIMATES` (None: the nearest preset)."""

    latitude_deg: float = 48.14
    longitude_deg: float = 11.58
    altitude_m: float = 520.0
    tz: str = "Europe/Berlin"
    climate: str | None = None

    def __post_init__(self) -> None:
        if self.climate is not None:
            climate_named(self.climate)  # an unknown name is an error naming the presets

    @property
    def climate_params(self) -> Climate:
        """The site's climate preset (the named one, else the nearest)."""
        if self.climate is not None:
            return climate_named(self.climate)
        return nearest_climate(self.latitude_deg, self.longitude_deg)


@dataclass(frozen=True)
class WeatherSeries:
    """Weather on a regular time axis. Irradiance in W/m², temperature in °C."""

    times: pd.DatetimeIndex
    t_out_c: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray
    wind_m_s: np.ndarray


def solar_zenith_deg(times: pd.DatetimeIndex, site: Site) -> tuple[np.ndarray, np.ndarray]:
    """Apparent solar zenith and azimuth in degrees at the given (tz-aware) times."""
    pos = pvlib.solarposition.get_solarposition(times, site.latitude_deg, site.longitude_deg, site.altitude_m)
    return pos["apparent_zenith"].to_numpy(), pos["azimuth"].to_numpy()


def split_irradiance(
    times: pd.DatetimeIndex, ghi_w_m2: np.ndarray, site: Site
) -> tuple[np.ndarray, np.ndarray]:
    """Direct normal and diffuse horizontal irradiance from GHI (Erbs decomposition)."""
    zenith, _ = solar_zenith_deg(times, site)
    parts = pvlib.irradiance.erbs(ghi_w_m2, zenith, times)
    dni = np.nan_to_num(np.asarray(parts["dni"], dtype=float))
    dhi = np.nan_to_num(np.asarray(parts["dhi"], dtype=float))
    return dni, dhi


def synthetic_weather(
    times: pd.DatetimeIndex,
    site: Site,
    seed: int,
    climate: Climate | None = None,
) -> WeatherSeries:
    """Deterministic synthetic weather on `times` (tz-aware, regular) for the site's climate (or
    `climate`).

    Every calendar year the axis touches is drawn whole (`synthetic.synthetic_year`, hourly) and
    interpolated onto `times`, so a run that starts later, ends later or uses another step sees
    the same weather at the same times (a forecaster looking past the run's end relies on this).
    """
    c = climate or site.climate_params
    first = pd.Timestamp(year=times[0].year, month=1, day=1, tz=times.tz)
    years = [
        synthetic_year(c, site.latitude_deg, site.longitude_deg, site.altitude_m, str(times.tz), seed, y)
        for y in range(times[0].year, times[-1].year + 1)
    ]
    kc_hour = np.concatenate([y.kc_hour for y in years])
    t_hour = np.concatenate([y.t_out_c for y in years])
    wind_hour = np.concatenate([y.wind_m_s for y in years])
    grid_h = np.arange(kc_hour.size, dtype=float)
    h = np.asarray((times - first) / pd.Timedelta(hours=1), dtype=float)
    clear = clear_sky_ghi(times, site.latitude_deg, site.longitude_deg, site.altitude_m, str(times.tz))
    ghi = np.clip(clear * np.interp(h, grid_h + 0.5, kc_hour), 0.0, None)
    dni, dhi = split_irradiance(times, ghi, site)
    t_out = np.interp(h, grid_h, t_hour)
    wind = np.interp(h, grid_h, wind_hour)
    return WeatherSeries(times, t_out, ghi, dni, dhi, wind)


def degree_days_kd(
    t_out_c: np.ndarray, step_h: float, t_base_c: float = 20.0, t_limit_c: float = 15.0
) -> float:
    """Heating degree days (K·d) of an outdoor temperature series in the 20/15 convention (VDI 3807 /
    DIN 4108-6): Σ over days with a mean below `t_limit_c` of (`t_base_c` − the day's mean). The
    series is cut into whole days of 24 / `step_h` values."""
    per_day = round(24.0 / step_h)
    n_days = len(t_out_c) // per_day
    daily = np.asarray(t_out_c[: n_days * per_day], dtype=float).reshape(n_days, per_day).mean(axis=1)
    return float(np.sum(np.where(daily < t_limit_c, t_base_c - daily, 0.0)))
