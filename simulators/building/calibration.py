"""Calibration of the buildings' heat loss against the site's own weather, gains included.

A building's configured annual space heating (`space_heating_kwh_a`) is the heat its heater
delivers over a reference year of the site's climate. The calibration finds the heat-loss
coefficient H (kW/K) for which a year of the building's own thermal network, heated ideally to its
setpoint, needs exactly that heat:

1. the reference year: the site's synthetic weather (`simulators.sources.weather`, the climate of
   the site) for `REFERENCE_YEAR` with the seed `CALIBRATION_SEED`, hourly;
2. the gains of that year: appliance electricity (the mean profile, all of it internal heat) and
   solar gains through the windows with their shading and blinds (`solar.window_gains_kw`), split
   between air and mass as in the simulation;
3. for a given H, the 2R2C network (`thermal.rc_from_h`, exact hourly discretisation, the
   building's construction class) run over the year twice (the first pass warms it up), heated
   each hour just enough to hold the setpoint and cooled by open windows above the
   window-opening temperature, and at night above the night-ventilation temperature (ideal
   window ventilation);
4. H solved per building by the secant method until the year's heat equals the configured demand;
5. the thermostat's own year: the same network minute by minute with the simulator's on/off
   thermostat (hysteresis around the setpoint, heater at the design capacity) and window
   ventilation, run at that H; its heat differs from the ideal heating by a few per cent (the
   thermostat holds the room slightly below the setpoint on average, the heat goes in bursts), so
   step 4 is repeated once for the demand scaled by that ratio.

This replaces the energy signature H = demand / (degree days × 24 h), which ignores the gains and
needs degree days from elsewhere; the degree days of the reference year (`degree_days_kd`, 20/15)
are derived from the same weather. The calibration depends on the site and the buildings only, not
on the run's seed: a run with another weather seed is a different year of the same climate, and
its space heating scatters around the configured value (tested within ±5 %).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from simulators.building import thermal
from simulators.building.heatpump import SIZING_MARGIN, T_HEATING_LIMIT_C
from simulators.building.solar import Windows, window_gains_kw
from simulators.sources.profiles import normalised_power
from simulators.sources.weather import Site, degree_days_kd, solar_zenith_deg, synthetic_weather

CALIBRATION_SEED = 0
REFERENCE_YEAR = 2023
SECANT_ITERATIONS = 30
RELATIVE_TOLERANCE = 1e-5

numba: Any
try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None


@dataclass(frozen=True)
class ReferenceYear:
    """Hourly weather of a site's reference year and the sun's position at each hour's middle."""

    t_out_c: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray
    zenith_deg: np.ndarray
    azimuth_deg: np.ndarray
    day_of_year: np.ndarray
    hour_of_day: np.ndarray
    weekend: np.ndarray
    night: np.ndarray
    """Hours of the night-ventilation window (`NIGHT_HOURS`)."""
    degree_days_kd: float


@lru_cache(maxsize=16)
def reference_year(site: Site) -> ReferenceYear:
    """The site's reference year (cached per site)."""
    start = pd.Timestamp(year=REFERENCE_YEAR, month=1, day=1, tz=site.tz)
    times = pd.date_range(start, periods=8760, freq="h") + pd.Timedelta(minutes=30)
    w = synthetic_weather(times, site, CALIBRATION_SEED)
    zenith, azimuth = solar_zenith_deg(times, site)
    return ReferenceYear(
        w.t_out_c, w.ghi_w_m2, w.dni_w_m2, w.dhi_w_m2, zenith, azimuth,
        np.asarray(times.dayofyear - 1, dtype=float), np.asarray(times.hour + times.minute / 60.0),
        np.asarray(times.dayofweek >= 5), is_night(times), degree_days_kd(w.t_out_c, 1.0),
    )  # fmt: skip


NIGHT_HOURS = (21, 9)
"""Local clock hours [from, to) in which occupants air the rooms at night (night ventilation)."""
NIGHT_VENT_MIN_OUT_C = T_HEATING_LIMIT_C
"""Night ventilation only on nights at least as warm as the heating limit (15 °C): outside the
heating season, so airing the rooms does not fight the heater."""


def is_night(times: pd.DatetimeIndex) -> np.ndarray:
    """Whether each (local) time falls in the night-ventilation window `NIGHT_HOURS`."""
    hour = np.asarray(times.hour)
    result: np.ndarray = (hour >= NIGHT_HOURS[0]) | (hour < NIGHT_HOURS[1])
    return result


@dataclass(frozen=True)
class CalibrationInputs:
    """What the calibration needs of each building (arrays of shape (n,))."""

    floor_area_m2: np.ndarray
    space_heating_kwh_a: np.ndarray
    appliances_kwh_a: np.ndarray
    t_set_c: np.ndarray
    hysteresis_k: np.ndarray
    solar_share_air: np.ndarray
    windows: Windows
    window_open: np.ndarray
    """Window-opening temperature (°C), +inf without window ventilation."""
    h_window_kw_k: np.ndarray
    """Ventilation conductance of the open windows."""
    night_open: np.ndarray
    """Night-ventilation temperature (°C), +inf without night ventilation."""
    h_night_kw_k: np.ndarray
    """Ventilation conductance of the windows opened at night."""
    h_im_kw_per_m2k: np.ndarray
    c_m_kwh_per_m2k: np.ndarray


CHUNK = 64  # buildings calibrated together (the year's gains are T × chunk arrays)
_FIELDS = ("floor_area_m2", "space_heating_kwh_a", "appliances_kwh_a", "t_set_c", "hysteresis_k",
           "solar_share_air", "window_open", "h_window_kw_k", "night_open", "h_night_kw_k",
           "h_im_kw_per_m2k", "c_m_kwh_per_m2k")
_WINDOW_FIELDS = ("area_m2", "g_value", "shading_factor", "blind_factor", "blind_threshold_w_m2",
                  "blind_t_out_c")


def calibrate_fleet(inputs: CalibrationInputs, site: Site) -> thermal.RcParams:
    """2R2C parameters whose ideal heating over the site's reference year equals each building's
    annual space-heating demand (see the module docstring). Buildings with the same parameters
    are calibrated once; the result is cached per site and parameter set."""
    rows = np.column_stack(
        [getattr(inputs, f) for f in _FIELDS] + [getattr(inputs.windows, f) for f in _WINDOW_FIELDS]
    ).astype(float)
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    h = _calibrated_h(site, unique.tobytes(), unique.shape[0])
    return thermal.rc_from_h(inputs.floor_area_m2, h[inverse.ravel()], inputs.h_im_kw_per_m2k,
                             inputs.c_m_kwh_per_m2k)  # fmt: skip


@lru_cache(maxsize=64)
def _calibrated_h(site: Site, rows_bytes: bytes, n: int) -> np.ndarray:
    rows = np.frombuffer(rows_bytes, dtype=float).reshape(n, -1)
    out = np.empty(n)
    for start in range(0, n, CHUNK):
        part = rows[start : start + CHUNK]
        cols = dict(zip(_FIELDS + _WINDOW_FIELDS, part.T, strict=True))
        windows = Windows(*(cols[f] for f in _WINDOW_FIELDS))
        inputs = CalibrationInputs(
            cols["floor_area_m2"], cols["space_heating_kwh_a"], cols["appliances_kwh_a"], cols["t_set_c"],
            cols["hysteresis_k"], cols["solar_share_air"], windows, cols["window_open"],
            cols["h_window_kw_k"], cols["night_open"], cols["h_night_kw_k"], cols["h_im_kw_per_m2k"],
            cols["c_m_kwh_per_m2k"],
        )  # fmt: skip
        out[start : start + CHUNK] = calibrate_h(inputs, site)
    out.setflags(write=False)
    return out


def calibrate_h(inputs: CalibrationInputs, site: Site) -> np.ndarray:
    """The heat-loss coefficient (kW/K) of each building (see the module docstring)."""
    year = reference_year(site)
    target = np.asarray(inputs.space_heating_kwh_a, dtype=float)
    area = np.asarray(inputs.floor_area_m2, dtype=float)
    q_sol = window_gains_kw(
        inputs.windows, year.zenith_deg[:, None], year.azimuth_deg[:, None], year.ghi_w_m2[:, None],
        year.dni_w_m2[:, None], year.dhi_w_m2[:, None], year.t_out_c[:, None],
    )  # fmt: skip
    appliances = normalised_power("appliances", year.day_of_year, year.hour_of_day, year.weekend)
    q_air = inputs.solar_share_air * q_sol + appliances[:, None] * inputs.appliances_kwh_a
    q_mass = (1.0 - inputs.solar_share_air) * q_sol
    h_im, c_m = inputs.h_im_kw_per_m2k, inputs.c_m_kwh_per_m2k
    h_max = h_im * area / (1.0 - thermal.SHARE_AIR_PATH)  # the mass path's limit

    def rc(h: np.ndarray) -> thermal.RcParams:
        return thermal.rc_from_h(area, h, h_im, c_m)

    def heat(h: np.ndarray) -> np.ndarray:
        model = thermal.discretise(rc(h), 3600.0)
        result: np.ndarray = _ideal_year(
            model.a, model.b, year.t_out_c, q_air, q_mass, inputs.t_set_c, inputs.window_open,
            year.night, inputs.night_open,
        )  # fmt: skip
        return result

    h_0 = target / (year.degree_days_kd * 24.0)
    if np.any(h_0 * (1.0 - thermal.SHARE_AIR_PATH) >= h_im * area):
        raise ValueError(
            "space-heating demand too high for the floor area (opaque loss above the mass coupling)"
        )
    h = _secant(heat, target, np.maximum(h_0, 1e-6), 0.999 * h_max)
    # the thermostat's year at that H, and the ideal heating solved again for the scaled demand
    minute = thermal.discretise(rc(h), 60.0)
    q_max = SIZING_MARGIN * h * (inputs.t_set_c - site.climate_params.t_design_c)
    thermostat = _thermostat_year(
        minute.a, minute.b, year.t_out_c, q_air, q_mass, inputs.t_set_c, inputs.hysteresis_k, q_max,
        inputs.window_open, inputs.h_window_kw_k, year.night, inputs.night_open, inputs.h_night_kw_k,
    )  # fmt: skip
    ratio = np.where(target > 0, thermostat / np.maximum(heat(h), 1e-9), 1.0)
    ratio = np.clip(ratio, 0.8, 1.25)
    h = _secant(heat, target / ratio, h, 0.999 * h_max)
    result: np.ndarray = np.where(target > 0, h, 0.0)
    return result


def _secant(
    heat: Callable[[np.ndarray], np.ndarray], target: np.ndarray, h_0: np.ndarray, h_max: np.ndarray
) -> np.ndarray:
    """H with heat(H) = target per building: the secant method from H_0 and 1.5·H_0, within (0, h_max)."""
    h_prev, h = h_0, np.minimum(1.5 * h_0, h_max)
    f_prev, f = heat(h_prev) - target, heat(h) - target
    for _ in range(SECANT_ITERATIONS):
        done = np.abs(f) <= RELATIVE_TOLERANCE * np.maximum(target, 1.0)
        if done.all():
            break
        slope = np.where(f != f_prev, (f - f_prev) / np.where(h != h_prev, h - h_prev, 1.0), 0.0)
        step = np.where(slope > 0, f / np.where(slope > 0, slope, 1.0), 0.0)
        h_next = np.where(done, h, np.clip(h - step, 0.2 * h, np.minimum(5.0 * h, h_max)))
        h_prev, f_prev = h, f
        h, f = h_next, heat(h_next) - target
    if np.any(np.abs(f) > 1e-3 * np.maximum(target, 1.0)):
        worst = int(np.argmax(np.abs(f) / np.maximum(target, 1.0)))
        raise ValueError(
            f"calibration failed: a building of {target[worst]:.0f} kWh/a space heating cannot reach its "
            f"demand in the site's climate (closest: {target[worst] + f[worst]:.0f} kWh/a); check "
            "space_heating_kwh_a against the floor area"
        )
    result: np.ndarray = h
    return result


def _ideal_year_py(
    a: np.ndarray,
    b: np.ndarray,
    t_out: np.ndarray,
    q_air: np.ndarray,
    q_mass: np.ndarray,
    t_set: np.ndarray,
    t_open: np.ndarray,
    night: np.ndarray,
    t_night: np.ndarray,
) -> np.ndarray:
    """Heat (kWh) each building needs over the year (hourly steps, two passes, the second counted);
    the open windows hold the room at their opening temperature (`t_night` in the night hours)."""
    n = a.shape[0]
    total = np.zeros(n)
    for i in range(n):
        x_in, x_m = t_set[i], t_set[i]
        for rep in range(2):
            acc = 0.0
            for k in range(t_out.shape[0]):
                u_out, u_air, u_mass = t_out[k], q_air[k, i], q_mass[k, i]
                f_in = a[i, 0, 0] * x_in + a[i, 0, 1] * x_m + b[i, 0, 0] * u_out + b[i, 0, 1] * u_air
                f_in += b[i, 0, 2] * u_mass
                f_m = a[i, 1, 0] * x_in + a[i, 1, 1] * x_m + b[i, 1, 0] * u_out + b[i, 1, 1] * u_air
                f_m += b[i, 1, 2] * u_mass
                q = 0.0
                warm_night = night[k] and t_out[k] >= NIGHT_VENT_MIN_OUT_C
                vent = min(t_open[i], t_night[i]) if warm_night else t_open[i]
                if f_in < t_set[i]:
                    q = (t_set[i] - f_in) / b[i, 0, 1]
                elif f_in > vent and t_out[k] < vent:
                    q = (vent - f_in) / b[i, 0, 1]  # windows remove the excess heat
                f_in += b[i, 0, 1] * q
                f_m += b[i, 1, 1] * q
                if q > 0:
                    acc += q
                x_in, x_m = f_in, f_m
            if rep == 1:
                total[i] = acc
    return total


_ideal_year = _ideal_year_py if numba is None else numba.njit(cache=True)(_ideal_year_py)


def _thermostat_year_py(
    a: np.ndarray,
    b: np.ndarray,
    t_out: np.ndarray,
    q_air: np.ndarray,
    q_mass: np.ndarray,
    t_set: np.ndarray,
    hysteresis: np.ndarray,
    q_max: np.ndarray,
    t_open: np.ndarray,
    h_win: np.ndarray,
    night: np.ndarray,
    t_night: np.ndarray,
    h_night: np.ndarray,
) -> np.ndarray:
    """Heat (kWh) of each building's on/off thermostat over the year: hourly inputs, minute steps
    (`a`, `b` discretised over a minute), window and night ventilation as in the simulator
    (`minutes`), two passes (the second counted)."""
    n = a.shape[0]
    total = np.zeros(n)
    for i in range(n):
        x_in, x_m, on = t_set[i], t_set[i], False
        low, high = t_set[i] - hysteresis[i], t_set[i] + hysteresis[i]
        for rep in range(2):
            acc = 0.0
            for k in range(t_out.shape[0]):
                base_in = b[i, 0, 0] * t_out[k] + b[i, 0, 2] * q_mass[k, i]
                base_m = b[i, 1, 0] * t_out[k] + b[i, 1, 2] * q_mass[k, i]
                for _ in range(60):
                    on = x_in < low or (on and not x_in > high)
                    q = q_air[k, i] + (q_max[i] if on else 0.0)
                    if t_out[k] < x_in:
                        if night[k] and t_out[k] >= NIGHT_VENT_MIN_OUT_C and x_in > t_night[i]:
                            q += h_night[i] * (t_out[k] - x_in)
                        elif x_in > t_open[i]:
                            q += h_win[i] * (t_out[k] - x_in)
                    new_in = a[i, 0, 0] * x_in + a[i, 0, 1] * x_m + base_in + b[i, 0, 1] * q
                    new_m = a[i, 1, 0] * x_in + a[i, 1, 1] * x_m + base_m + b[i, 1, 1] * q
                    if on:
                        acc += q_max[i] / 60.0
                    x_in, x_m = new_in, new_m
            if rep == 1:
                total[i] = acc
    return total


_thermostat_year = _thermostat_year_py if numba is None else numba.njit(cache=True)(_thermostat_year_py)


def calibration_inputs(
    p: dict[str, np.ndarray],
    windows: Windows,
    venting: np.ndarray,
    h_window_kw_k: np.ndarray,
    night_venting: np.ndarray,
    h_night_kw_k: np.ndarray,
) -> CalibrationInputs:
    """The calibration's inputs from a fleet's parameter arrays (`BuildingFleet.p`)."""
    return CalibrationInputs(
        p["floor_area_m2"], p["space_heating_kwh_a"], p["appliances_kwh_a"], p["t_set_c"], p["hysteresis_k"],
        p["solar_share_air"], windows, np.where(venting, p["t_window_open_c"], np.inf), h_window_kw_k,
        np.where(night_venting, p["t_night_vent_c"], np.inf), h_night_kw_k, p["h_im_kw_per_m2k"],
        p["c_m_kwh_per_m2k"],
    )  # fmt: skip
