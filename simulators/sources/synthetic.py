"""One seeded synthetic weather year on an hourly grid: clear-sky index, temperature, wind.

The clear-sky index k (GHI / clear-sky GHI) is drawn in two layers:

- daily: a latent Gaussian AR(1) process z_d (lag-one correlation `day_persistence`) mapped through
  a Beta distribution (Gaussian copula) onto [`KC_MIN`, `KC_MAX`]: k_d = F⁻¹_Beta(Φ(z_d + δ_m)).
  The Beta's mean follows the climate's monthly mean clear-sky index (monthly GHI over the
  site's clear-sky irradiation, interpolated between mid-months), its concentration a + b is
  `clearness_concentration`. δ_m, one per month, is solved so that the month's irradiation equals
  the climate's exactly: a typical year, in which the days are random but the monthly totals are
  the reference climate's (as in a typical meteorological year).
- hourly: k_h = k_d + σ_d · e_h with e an hourly AR(1) (`hour_persistence`) and σ_d largest on
  broken-cloud days (`hour_variability` · sqrt((k_d − KC_MIN)(KC_MAX − k_d))), clipped, then scaled
  per day so the day's irradiation stays that of k_d.

Temperature = the climate's seasonal curve (two harmonics fitted to the monthly means) + a daily
cycle whose range grows with the day's clearness + a clearness anomaly (clear summer days warmer,
clear winter days colder) + an hourly AR(1) anomaly. Wind is windier on cloudier days.

Each calendar year has its own random streams (seeded with the seed and the year), so a run sees
the same weather at the same time whatever its start, length or step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pvlib
from scipy import special, stats

from simulators.sources.climate import MONTHS, Climate

KC_MIN, KC_MAX = 0.05, 1.0
"""Range of the daily clear-sky index (fully overcast to clearer than the clear-sky model)."""
KC_HOUR_MIN, KC_HOUR_MAX = 0.02, 1.25
CLEAR_SKY_MODEL = "simplified_solis"


@dataclass(frozen=True)
class SyntheticYear:
    """Hourly values of one calendar year (hour k covers [start + k h, start + (k + 1) h))."""

    start: pd.Timestamp
    kc_hour: np.ndarray
    """Clear-sky index per hour (applies at mid-hour)."""
    t_out_c: np.ndarray
    """Outdoor temperature at each hour's start (°C)."""
    wind_m_s: np.ndarray
    kc_day: np.ndarray
    """Daily clear-sky index (clear-sky weighted mean of the day's hours)."""


def _ar1(rng: np.random.Generator, n: int, corr: float) -> np.ndarray:
    """Stationary AR(1) series with unit variance."""
    out = np.empty(n)
    out[0] = rng.normal()
    innovations = rng.normal(0.0, np.sqrt(1.0 - corr**2), size=n)
    for k in range(1, n):
        out[k] = corr * out[k - 1] + innovations[k]
    return out


def clear_sky_ghi(times: pd.DatetimeIndex, latitude_deg: float, longitude_deg: float, altitude_m: float,
                  tz: str) -> np.ndarray:
    """Clear-sky GHI (W/m², pvlib's simplified Solis) at `times`."""
    location = pvlib.location.Location(latitude_deg, longitude_deg, tz, altitude_m)
    return np.asarray(location.get_clearsky(times, model=CLEAR_SKY_MODEL)["ghi"], dtype=float)


def _mid_month_interpolation(values: np.ndarray, day_month: np.ndarray, day_of_month: np.ndarray,
                             days_in_month: np.ndarray) -> np.ndarray:
    """Per-day values interpolated linearly (and periodically) between the months' midpoints."""
    position = (day_month - 1) + (day_of_month - 0.5) / days_in_month  # months since 1 January
    grid = np.arange(-1, MONTHS + 1) + 0.5
    ext = np.concatenate([[values[-1]], values, [values[0]]])
    result: np.ndarray = np.interp(position, grid, ext)
    return result


def _beta_ppf(u: np.ndarray, mean: np.ndarray, concentration: float) -> np.ndarray:
    m = np.clip((mean - KC_MIN) / (KC_MAX - KC_MIN), 0.02, 0.98)
    quantile = np.asarray(special.betaincinv(m * concentration, (1 - m) * concentration, u), dtype=float)
    result: np.ndarray = KC_MIN + (KC_MAX - KC_MIN) * quantile
    return result


def _solve_month_shifts(z: np.ndarray, mean_day: np.ndarray, clear_day: np.ndarray, day_month: np.ndarray,
                        target: np.ndarray, concentration: float) -> np.ndarray:
    """δ per month (bisection) so that Σ_d clear_d · k_d(z_d + δ) equals the month's target."""
    low, high = np.full(MONTHS, -6.0), np.full(MONTHS, 6.0)
    index = day_month - 1
    for _ in range(48):
        mid = 0.5 * (low + high)
        kc = _beta_ppf(stats.norm.cdf(z + mid[index]), mean_day, concentration)
        got = np.bincount(index, weights=clear_day * kc, minlength=MONTHS)
        low = np.where(got < target, mid, low)
        high = np.where(got < target, high, mid)
    result: np.ndarray = 0.5 * (low + high)
    return result


def _seasonal_fit(t_month: np.ndarray, doy: np.ndarray, month: np.ndarray, n_days: int) -> np.ndarray:
    """Two-harmonic seasonal temperature curve whose monthly means fit the climate's (least squares)."""
    phase = 2 * np.pi * doy / n_days
    basis = np.stack(
        [np.ones_like(phase), np.cos(phase), np.sin(phase), np.cos(2 * phase), np.sin(2 * phase)]
    )
    monthly_basis = np.stack([[row[month == m].mean() for m in range(1, MONTHS + 1)] for row in basis])
    coef, *_ = np.linalg.lstsq(monthly_basis.T, t_month, rcond=None)
    result: np.ndarray = coef @ basis
    return result


@lru_cache(maxsize=64)
def synthetic_year(
    climate: Climate,
    latitude_deg: float,
    longitude_deg: float,
    altitude_m: float,
    tz: str,
    seed: int,
    year: int,
) -> SyntheticYear:
    """The seeded synthetic year `year` of `climate` at a location (cached: the arrays are shared,
    never modify them)."""
    start = pd.Timestamp(year=year, month=1, day=1, tz=tz)
    n_hours = int((pd.Timestamp(year=year + 1, month=1, day=1, tz=tz) - start) / pd.Timedelta(hours=1))
    hours = start + pd.to_timedelta(np.arange(n_hours), unit="h")
    clear = clear_sky_ghi(hours + pd.Timedelta(minutes=30), latitude_deg, longitude_deg, altitude_m, tz)
    n_days = n_hours // 24  # 365 or 366 whole days: 1 January is in standard time every year
    day_start = start + pd.to_timedelta(np.arange(n_days), unit="D")
    day_month = np.asarray(day_start.month)
    clear_day = clear.reshape(n_days, 24).sum(axis=1)
    clear_month = np.bincount(day_month - 1, weights=clear_day, minlength=MONTHS)
    target = 1000.0 * np.asarray(climate.ghi_kwh_m2_month)
    mean_month = np.clip(target / clear_month, KC_MIN + 0.03, KC_MAX - 0.03)
    target = mean_month * clear_month  # unreachable targets (a climate far from its site) are clipped
    mean_day = _mid_month_interpolation(mean_month, day_month, np.asarray(day_start.day),
                                        np.asarray(day_start.days_in_month))
    z = _ar1(np.random.default_rng([seed, year, 17, 1]), n_days, climate.day_persistence)
    delta = _solve_month_shifts(z, mean_day, clear_day, day_month, target, climate.clearness_concentration)
    kc_day = _beta_ppf(stats.norm.cdf(z + delta[day_month - 1]), mean_day, climate.clearness_concentration)
    kc_hour = _hourly_index(climate, kc_day, clear, np.random.default_rng([seed, year, 17, 2]))
    t_out = _temperature(climate, hours, kc_day, mean_day, np.random.default_rng([seed, year, 17, 3]))
    z_hour = np.interp(np.arange(n_hours) / 24.0, np.arange(n_days) + 0.5, z)
    wind = np.clip(3.0 - 1.2 * z_hour, 0.3, None)
    return SyntheticYear(start, kc_hour, t_out, wind, kc_day)


def _hourly_index(
    climate: Climate, kc_day: np.ndarray, clear: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Hourly clear-sky index around each day's value, scaled so each day keeps its irradiation."""
    n_days = kc_day.size
    n_hours = n_days * 24
    sigma = climate.hour_variability * np.sqrt(np.clip((kc_day - KC_MIN) * (KC_MAX - kc_day), 0.0, None))
    noise = _ar1(rng, n_hours, climate.hour_persistence)
    kc = np.clip(np.repeat(kc_day, 24) + np.repeat(sigma, 24) * noise, KC_HOUR_MIN, KC_HOUR_MAX)
    day_clear = clear.reshape(n_days, 24)
    got = (day_clear * kc.reshape(n_days, 24)).sum(axis=1)
    want = kc_day * day_clear.sum(axis=1)
    scale = np.where(got > 0, want / np.where(got > 0, got, 1.0), 1.0)
    result: np.ndarray = np.clip(kc * np.repeat(scale, 24), KC_HOUR_MIN, KC_HOUR_MAX)
    return result


def _temperature(climate: Climate, hours: pd.DatetimeIndex, kc_day: np.ndarray, mean_day: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    n_hours = len(hours)
    n_days = kc_day.size
    days_in_year = 366 if hours[0].is_leap_year else 365
    doy = np.arange(n_hours) / 24.0
    seasonal = _seasonal_fit(np.asarray(climate.t_mean_c_month), doy, np.asarray(hours.month), days_in_year)
    centres = np.arange(n_days) + 0.5
    kc_h = np.interp(doy, centres, kc_day)
    mean_h = np.interp(doy, centres, mean_day)
    amplitude = climate.t_day_amplitude_k * (0.5 + kc_h) / (0.5 + mean_h)
    hour_of_day = np.asarray(hours.hour, dtype=float)
    daily = -amplitude * np.cos(2 * np.pi * (hour_of_day - 3.0) / 24.0)
    season_sign = -np.cos(2 * np.pi * (doy - 15.0) / days_in_year)  # -1 mid-January, +1 mid-July
    anomaly = climate.t_cloud_k * season_sign * (kc_h - mean_h)
    noise = climate.t_noise_std_k * _ar1(rng, n_hours, climate.t_noise_corr_per_h)
    return _typical_months(seasonal + daily + anomaly + noise, np.asarray(hours.month),
                           np.asarray(climate.t_mean_c_month), doy, days_in_year)


def _typical_months(t: np.ndarray, month: np.ndarray, t_month: np.ndarray, doy: np.ndarray,
                    days_in_year: int) -> np.ndarray:
    """`t` with each month's mean moved onto the climate's (a typical year): a smooth correction,
    interpolated between mid-months, refined three times (the interpolation mixes neighbours)."""
    index = month - 1
    counts = np.bincount(index, minlength=MONTHS)
    mid = np.bincount(index, weights=doy, minlength=MONTHS) / counts
    grid = np.concatenate([[mid[-1] - days_in_year], mid, [mid[0] + days_in_year]])
    total = np.zeros(MONTHS)
    result = t
    for _ in range(4):
        error = np.bincount(index, weights=result, minlength=MONTHS) / counts - t_month
        total = total + error
        result = t - np.interp(doy, grid, np.concatenate([[total[-1]], total, [total[0]]]))
    return result
