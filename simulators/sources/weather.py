"""Weather series: a deterministic synthetic generator and the solar geometry both use.

The synthetic weather is seeded: the same seed, site and time axis always give the same series.
Outdoor temperature = seasonal cosine + daily cosine + AR(1) noise; global horizontal irradiance
= clear-sky irradiance (pvlib, simplified Solis) × cloud attenuation (Kasten–Czeplak,
GHI = GHI_clear · (1 − 0.75 · c^3.4)) with an AR(1) cloud cover c in [0, 1]; beam and diffuse
parts come from the Erbs decomposition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib


@dataclass(frozen=True)
class Site:
    """Where the district is. Longitude east positive; `tz` an IANA zone name."""

    latitude_deg: float = 48.14
    longitude_deg: float = 11.58
    altitude_m: float = 520.0
    tz: str = "Europe/Berlin"


@dataclass(frozen=True)
class SyntheticWeatherParams:
    """Climate of the synthetic generator (defaults: a central-European site)."""

    t_mean_c: float = 9.0
    t_season_amplitude_k: float = 9.5
    t_day_amplitude_k: float = 4.0
    t_noise_std_k: float = 2.5
    t_noise_corr_per_h: float = 0.97
    cloud_mean: float = 0.55
    cloud_corr_per_h: float = 0.9


@dataclass(frozen=True)
class WeatherSeries:
    """Weather on a regular time axis. Irradiance in W/m², temperature in °C."""

    times: pd.DatetimeIndex
    t_out_c: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray
    wind_m_s: np.ndarray


def _ar1(rng: np.random.Generator, n: int, corr: float, std: float) -> np.ndarray:
    """Stationary AR(1) series with the given lag-one correlation and marginal std. The first value
    is drawn first, so a longer series extends a shorter one with the same generator."""
    out = np.empty(n)
    out[0] = rng.normal(0.0, std)
    innovations = rng.normal(0.0, std * np.sqrt(1.0 - corr**2), size=n)
    for k in range(1, n):
        out[k] = corr * out[k - 1] + innovations[k]
    return out


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
    params: SyntheticWeatherParams | None = None,
) -> WeatherSeries:
    """Deterministic synthetic weather on `times` (tz-aware, regular).

    The noise is drawn on an hourly grid anchored at the first hour of the year of `times[0]`
    and interpolated, so a run that starts later, ends later or uses another step sees the same
    weather at the same times (a forecaster looking past the run's end relies on this).
    """
    p = params or SyntheticWeatherParams()
    year_start = pd.Timestamp(year=times[0].year, month=1, day=1, tz=times.tz)
    hours_from_year_start = (times - year_start) / pd.Timedelta(hours=1)
    h = np.asarray(hours_from_year_start, dtype=float)
    n_hours = int(np.ceil(h.max())) + 2
    # one generator per series: a series never depends on how long another one is
    t_noise = _ar1(np.random.default_rng([seed, 7919, 1]), n_hours, p.t_noise_corr_per_h, p.t_noise_std_k)
    cloud_latent = _ar1(np.random.default_rng([seed, 7919, 2]), n_hours, p.cloud_corr_per_h, 1.0)
    grid_h = np.arange(n_hours, dtype=float)
    doy = h / 24.0
    hour_of_day = np.asarray(times.hour + times.minute / 60.0, dtype=float)
    t_out = (
        p.t_mean_c
        - p.t_season_amplitude_k * np.cos(2 * np.pi * (doy - 20.0) / 365.0)
        - p.t_day_amplitude_k * np.cos(2 * np.pi * (hour_of_day - 3.0) / 24.0)
        + np.interp(h, grid_h, t_noise)
    )
    # cloud cover in [0, 1] with the requested mean, via a logistic transform of the latent AR(1)
    offset = np.log(p.cloud_mean / (1.0 - p.cloud_mean))
    cloud = 1.0 / (1.0 + np.exp(-(offset + 1.5 * np.interp(h, grid_h, cloud_latent))))
    location = pvlib.location.Location(site.latitude_deg, site.longitude_deg, site.tz, site.altitude_m)
    clear = location.get_clearsky(times, model="simplified_solis")
    ghi = np.clip(clear["ghi"].to_numpy() * (1.0 - 0.75 * cloud**3.4), 0.0, None)
    dni, dhi = split_irradiance(times, ghi, site)
    wind = np.clip(3.0 + 1.5 * np.interp(h, grid_h, cloud_latent), 0.0, None)
    return WeatherSeries(times, t_out, ghi, dni, dhi, wind)
