"""Electricity price and carbon-intensity series.

Kinds: `flat` (one import price), `tou` (time of use: a day price on given weekdays and hours,
a night price otherwise; defaults are the price-policy study's 0.27 / 0.14 per kWh on
Mon–Sat 06–22 h), `rtp` (real-time: a seeded synthetic day-ahead-like series scaled to a given
mean), and `series` (a user's series, see `series.py`). Prices are per kWh in the scenario's
currency; the export (feed-in) price and the grid's carbon intensity are flat unless a series is
given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TouTariff:
    """Time-of-use tariff: `day_price_per_kwh` in [start_h, end_h) on `weekdays` (0 = Monday)."""

    day_price_per_kwh: float = 0.27
    night_price_per_kwh: float = 0.14
    start_h: int = 6
    end_h: int = 22
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5)


@dataclass(frozen=True)
class PriceSeries:
    """Prices on a regular time axis (per kWh) and the grid's carbon intensity (kg CO2 per kWh)."""

    times: pd.DatetimeIndex
    import_per_kwh: np.ndarray
    export_per_kwh: np.ndarray
    co2_kg_per_kwh: np.ndarray


def flat_prices(times: pd.DatetimeIndex, price_per_kwh: float) -> np.ndarray:
    """The same import price at every time."""
    return np.full(len(times), float(price_per_kwh))


def tou_prices(times: pd.DatetimeIndex, tariff: TouTariff) -> np.ndarray:
    """Time-of-use import prices."""
    hour = np.asarray(times.hour)
    is_day = (
        np.isin(np.asarray(times.dayofweek), tariff.weekdays)
        & (hour >= tariff.start_h)
        & (hour < tariff.end_h)
    )
    return np.where(is_day, tariff.day_price_per_kwh, tariff.night_price_per_kwh)


def rtp_prices(
    times: pd.DatetimeIndex, mean_price_per_kwh: float, seed: int, volatility: float = 0.25
) -> np.ndarray:
    """Seeded synthetic real-time prices: a double-peaked daily shape plus hourly AR(1) noise
    (mean zero), scaled so that their expected mean is `mean_price_per_kwh`. Noise is anchored to
    the year start and the scale to the daily shape, so a price never depends on the run's length."""
    year_start = pd.Timestamp(year=times[0].year, month=1, day=1, tz=times.tz)
    h = np.asarray((times - year_start) / pd.Timedelta(hours=1), dtype=float)
    hour = np.asarray(times.hour + times.minute / 60.0, dtype=float)
    shape = _rtp_shape(hour)
    n_hours = int(np.ceil(h.max())) + 2
    rng = np.random.default_rng([seed, 104729])
    noise = np.empty(n_hours)
    noise[0] = 0.0
    eps = rng.normal(0.0, volatility * np.sqrt(1 - 0.8**2), n_hours)
    for k in range(1, n_hours):
        noise[k] = 0.8 * noise[k - 1] + eps[k]
    raw = shape * (1.0 + np.interp(h, np.arange(n_hours, dtype=float), noise))
    result: np.ndarray = (
        raw / _rtp_shape(np.linspace(0.0, 24.0, 1440, endpoint=False)).mean() * mean_price_per_kwh
    )
    return result


def _rtp_shape(hour: np.ndarray) -> np.ndarray:
    """The daily shape of the synthetic real-time price (1 on average-ish, peaks at 8 and 19 h)."""
    shape = 1.0 + 0.25 * np.exp(-((hour - 8.0) ** 2) / 4.0) + 0.35 * np.exp(-((hour - 19.0) ** 2) / 5.0)
    result: np.ndarray = shape - 0.2 * np.exp(-((hour - 13.0) ** 2) / 6.0)  # midday solar dip
    return result
