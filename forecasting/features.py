"""Feature rows for the data-driven forecaster, built from a `HistoryView` only.

A row is (issue step k, lead j ≥ 1, entity e); its target is the interval τ = k + j − 1. Every
lagged feature reads an observed row ≤ k − 1 (the lags step back whole days or weeks until they
reach the past), so the same code builds training rows (k in the past) and forecast rows (k the
issue step) without any look-ahead:

- calendar of the target: hour of day, day of week, lead in hours (no day of year: a history of
  weeks cannot teach a season, and with it the trees memorised each training day's weather error);
- lags of the entity's own series (divided by its scale): the last observed interval, the same
  time of the latest observed day and week, the mean of the same time over the last 7 observed
  days, the mean of the last 24 hours;
- weather forecasts (when the history has them): temperature, irradiance and clear-sky irradiance
  at the target, as issued at k (archived forecasts for training rows, never realised weather);
- the weather last observed (when the history holds the site's `t_out_c` and `ghi_w_m2`): the
  temperature and the clear-sky index of interval k − 1, and the "smart persistence" of the
  entity, its last value times the ratio of clear-sky irradiance at the target to that at k − 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.history import HistoryView

WEATHER_FEATURES = ("t_out_c", "ghi_w_m2", "ghi_clear_w_m2")
LAG_DAYS = 7
SUN_UP_W_M2 = 50.0


@dataclass(frozen=True)
class Rows:
    """Row coordinates: issue step, lead (steps, ≥ 1), entity column."""

    issue: np.ndarray
    lead: np.ndarray
    entity: np.ndarray

    @property
    def target(self) -> np.ndarray:
        result: np.ndarray = self.issue + self.lead - 1
        return result


def min_history_steps(steps_per_day: int) -> int:
    """Past steps a row's issue step needs (a week of lags, plus a day)."""
    return (LAG_DAYS + 1) * steps_per_day


def _calendar(history: HistoryView, target: np.ndarray) -> np.ndarray:
    """Hour of day and day of week at the targets' local start times."""
    origin = history.times[0] if len(history.times) else history.issue_time
    unique, inverse = np.unique(target, return_inverse=True)
    times = pd.DatetimeIndex(origin + pd.to_timedelta(unique * history.step_s, unit="s"))
    hour = np.asarray(times.hour + times.minute / 60.0, dtype=float)
    dow = np.asarray(times.dayofweek, dtype=float)
    table = np.stack([hour, dow], axis=1)
    result: np.ndarray = table[inverse]
    return result


def lag_features(y: np.ndarray, rows: Rows, steps_per_day: int) -> np.ndarray:
    """The lag columns (see the module docstring) of `y` (observed steps × entities)."""
    spd = steps_per_day
    k, j, e, tau = rows.issue, rows.lead, rows.entity, rows.target
    if k.size and int(k.min()) < min_history_steps(spd):
        raise ValueError(f"rows need at least {min_history_steps(spd)} past steps")
    days_back = np.ceil(j / spd).astype(int)
    weeks_back = np.ceil(j / (7 * spd)).astype(int)
    last = y[k - 1, e]
    day = y[tau - days_back * spd, e]
    week = y[tau - weeks_back * 7 * spd, e]
    same_time = np.mean([y[tau - (days_back + m) * spd, e] for m in range(LAG_DAYS)], axis=0)
    if k.size and k.min() == k.max():  # one issue step (a forecast): no running sum over the history
        last_day_mean = y[int(k[0]) - spd : int(k[0])].mean(axis=0)[e]
    else:
        csum = np.vstack([np.zeros((1, y.shape[1])), np.cumsum(y, axis=0)])
        last_day_mean = (csum[k, e] - csum[k - spd, e]) / spd
    return np.stack([last, day, week, same_time, last_day_mean], axis=1)


def feature_matrix(history: HistoryView, y: np.ndarray, rows: Rows, weather: bool) -> np.ndarray:
    """All feature columns for `rows`; `y` is the (scaled) observed series of the quantity."""
    lead_h = rows.lead * history.step_s / 3600.0
    columns = [lead_h[:, None], _calendar(history, rows.target), lag_features(y, rows, history.steps_per_day)]
    if weather:
        columns.append(np.stack([history.weather_forecasts(name, rows.issue, rows.lead)
                                 for name in WEATHER_FEATURES], axis=1))
        columns.append(_observed_weather(history, y, rows))
    return np.hstack(columns)


def _observed_weather(history: HistoryView, y: np.ndarray, rows: Rows) -> np.ndarray:
    """Last observed temperature and clear-sky index (NaN at night or without observations) and
    the smart persistence of the entity (see the module docstring)."""
    previous = rows.issue - 1
    clear_prev = history.weather_forecasts("ghi_clear_w_m2", previous, np.ones_like(previous))
    clear_target = history.weather_forecasts("ghi_clear_w_m2", rows.issue, rows.lead)
    sun_prev = clear_prev > SUN_UP_W_M2
    ratio = np.where(sun_prev, clear_target / np.where(sun_prev, clear_prev, 1.0), np.nan)
    smart = y[previous, rows.entity] * np.clip(ratio, 0.0, 10.0)
    nan = np.full(len(previous), np.nan)
    t_obs = history.values["t_out_c"][previous, 0] if "t_out_c" in history.values else nan
    if "ghi_w_m2" in history.values:
        ghi = history.values["ghi_w_m2"][previous, 0]
        index = np.where(sun_prev, ghi / np.where(sun_prev, clear_prev, 1.0), np.nan)
    else:
        index = nan
    return np.stack([t_obs, index, smart], axis=1)
