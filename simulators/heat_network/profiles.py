"""Synthetic hourly heat demands of a district's substations, for calibration runs, tests and
benchmarks (a scenario's buildings give the real demands through the substations' input).

Per substation: space heating from an energy signature (design load at the design outdoor
temperature, zero at the heating limit) times a daily shape (night setback, morning and evening
peaks), plus hot water (a daily shape around `hot_water_share` of the design load), each scaled by
a building factor drawn once (log-normal, 15 %) and an hourly noise (5 %). Deterministic in `seed`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# relative space-heating demand by hour of day (mean 1): night setback, morning and evening peaks
_HEATING_SHAPE = np.array([0.8, 0.8, 0.8, 0.8, 0.85, 0.95, 1.25, 1.3, 1.15, 1.05, 1.0, 0.95,
                           0.95, 0.95, 0.95, 1.0, 1.05, 1.15, 1.2, 1.15, 1.05, 0.95, 0.9, 0.85])
_HOT_WATER_SHAPE = np.array([0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 2.0, 2.6, 1.8, 1.2, 0.9, 0.9,
                             1.1, 1.0, 0.8, 0.7, 0.8, 1.1, 1.6, 1.9, 1.7, 1.3, 0.8, 0.5])


def demand_kw(times: pd.DatetimeIndex, t_out_c: np.ndarray, design_kw: np.ndarray, seed: int, *,
              t_design_c: float = -12.0, t_heating_limit_c: float = 15.0,
              hot_water_share: float = 0.08) -> np.ndarray:
    """(len(times) × n) heat demand (kW) of every substation."""
    rng = np.random.default_rng([seed, 4242])
    design = np.asarray(design_kw, dtype=float)
    n, steps = design.size, len(times)
    hours = np.asarray(times.hour)
    span = t_heating_limit_c - t_design_c
    signature = np.clip((t_heating_limit_c - np.asarray(t_out_c)) / span, 0.0, 1.2)
    heating = (signature * _HEATING_SHAPE[hours] / _HEATING_SHAPE.max())[:, None] * design[None, :]
    hot_water_shape = hot_water_share * _HOT_WATER_SHAPE[hours] / _HOT_WATER_SHAPE.mean()
    hot_water = hot_water_shape[:, None] * design[None, :]
    building = rng.lognormal(0.0, 0.15, size=(1, n))
    noise = np.clip(rng.normal(1.0, 0.05, size=(steps, n)), 0.5, 1.5)
    return np.asarray((heating + hot_water) * building * noise)
