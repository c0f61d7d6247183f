"""Weather-compensated heating (a heating curve) for buildings on a heat network or with a boiler.

How radiator systems on district heating are run: the substation's controller sets the heating
circuit's supply temperature from the outdoor temperature so that the radiators give the heat the
building needs at that outdoor temperature, and thermostatic radiator valves (TRVs) close when a
room gets warmer than wanted (sun, appliances). The heat drawn then follows the outdoor
temperature and the building's inertia, not the minute-by-minute air temperature. The model:

    T_damped ← T_damped + (T_out − T_damped) · (1 − exp(−Δt / τ))      (attenuated outdoor temperature)
    T_ref    = T_base − setback + k_room · (T_set − T_room)              (the curve's parallel shift)
    q_curve  = clip(H · (T_ref − T_damped), 0, q_max)                    (heat at full valve opening)

- the curve's slope is the building's heat-loss coefficient H and its base temperature `T_base`
  `curve_base_c`, else the building's balance point (the energy signature's base: T_set − mean
  heating-season gains / H, `balance_temperature_c`) plus a commissioning margin of
  `MARGIN_K` (1 K: the curve is set so that the rooms hold their temperature on a dull day, whose
  gains fall short of the season's mean), so that over a day the radiators give about the loss
  less the gains: the heat the building needs, spread over the day;
- τ (`curve_damping_h`) is the controller's building time constant: the curve follows a damped outdoor
  temperature, as the building's mass does (EN 12098-1 controllers; a few hours for light, a day
  and more for heavy construction);
- `k_room` (`curve_room_k_per_k`) is the room-temperature influence: the curve shifts up by that many
  kelvin per kelvin the room (its air at the start of the step) is below the setpoint (down when
  above); 0 is pure weather compensation;
- the TRVs (the building's minute-by-minute on/off thermostat, `BuildingFleet`) shut the heat above
  the setpoint + `curve_trv_offset_k` (their proportional band lets the room rise about that far before
  they close) and open below it again with the building's hysteresis; the heat delivered when
  open is q_curve (the supply temperature limits the radiators' output);
- night setback (only if asked: `setback_k` > 0) lowers the curve and the TRVs' setpoint by
  `setback_k` during the hours [`setback_from_h`, `setback_to_h`) of local time.

`q_max` is the heater's capacity (the substation's or boiler's design heat, `heater_capacity_kw`).
Hot water is served on top, as with the thermostat. With the thermostat (`heating_control:
thermostat`) the heater gives its full capacity whenever the air is below the setpoint minus the
hysteresis: the air node is held at the setpoint, the building's mass hardly swings and takes
little of the day's solar and internal gains into the night, so the heat comes at night (in the
eco-district's flats, January: ~4 MW at night, ~0.2 MW in the afternoon, docs/heat_network.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulators.building.heatpump import T_HEATING_LIMIT_C
from simulators.building.solar import Windows, window_gains_kw
from simulators.sources.profiles import normalised_power
from simulators.sources.weather import Site

MARGIN_K = 1.0
"""The curve's base above the building's balance point when `curve_base_c` is not given (K)."""


def balance_temperature_c(
    t_set_c: np.ndarray,
    h_total_kw_k: np.ndarray,
    appliances_kwh_a: np.ndarray,
    windows: Windows,
    site: Site,
) -> np.ndarray:
    """Each building's balance point (°C): the setpoint less its mean heat gains over the heating
    season's hours divided by its heat-loss coefficient. The gains are the calibration's
    (`calibration.reference_year` of the site: the appliances' electricity, all of it heat, and
    the sun through the windows, shading and blinds included); the heating season is the hours
    below the heating limit (`heatpump.T_HEATING_LIMIT_C`, 15 °C)."""
    from simulators.building.calibration import reference_year

    year = reference_year(site)
    season = year.t_out_c < T_HEATING_LIMIT_C
    q_sol = window_gains_kw(
        windows, year.zenith_deg[season, None], year.azimuth_deg[season, None],
        year.ghi_w_m2[season, None], year.dni_w_m2[season, None], year.dhi_w_m2[season, None],
        year.t_out_c[season, None],
    )  # fmt: skip
    profile = normalised_power("appliances", year.day_of_year[season], year.hour_of_day[season],
                               year.weekend[season])  # fmt: skip
    gains_kw = q_sol.mean(axis=0) + float(profile.mean()) * np.asarray(appliances_kwh_a, dtype=float)
    h = np.asarray(h_total_kw_k, dtype=float)
    result: np.ndarray = np.where(h > 0, t_set_c - gains_kw / np.where(h > 0, h, 1.0), t_set_c)
    return result


@dataclass
class HeatingCurves:
    """The heating curves of a fleet's buildings (arrays of shape (n,)); `on` marks the buildings
    run by their curve (the others keep the thermostat: their capacity and setpoint pass through).
    Holds the damped outdoor temperature (NaN until the first step)."""

    on: np.ndarray
    h_kw_k: np.ndarray
    base_c: np.ndarray
    t_set_c: np.ndarray
    q_max_kw: np.ndarray
    damping_h: np.ndarray
    room_k_per_k: np.ndarray
    trv_offset_k: np.ndarray
    setback_k: np.ndarray
    setback_from_h: np.ndarray
    setback_to_h: np.ndarray
    t_damped_c: np.ndarray

    @classmethod
    def of(
        cls,
        specs: list[Any],
        on: np.ndarray,
        h_kw_k: np.ndarray,
        t_set_c: np.ndarray,
        q_max_kw: np.ndarray,
        balance_c: np.ndarray,
    ) -> HeatingCurves:
        """Curves from each building's `BuildingSpec` (its `curve_*` and `setback_*` fields); a
        building without `curve_base_c` takes its `balance_c` + `MARGIN_K`."""

        def arr(name: str) -> np.ndarray:
            return np.array([getattr(s, name) for s in specs], dtype=float)

        given = np.array([np.nan if s.curve_base_c is None else s.curve_base_c for s in specs], dtype=float)
        base = np.where(np.isnan(given), np.asarray(balance_c) + MARGIN_K, given)
        return cls(
            np.asarray(on, dtype=bool), np.asarray(h_kw_k, dtype=float), base, np.asarray(t_set_c, float),
            np.asarray(q_max_kw, dtype=float), arr("curve_damping_h"), arr("curve_room_k_per_k"),
            arr("curve_trv_offset_k"), arr("setback_k"), arr("setback_from_h"), arr("setback_to_h"),
            np.full(len(specs), np.nan),
        )  # fmt: skip

    def setback_now(self, hour: float) -> np.ndarray:
        """The setback (K) of each building at local clock `hour` (0 outside its hours or without one)."""
        start, end = self.setback_from_h, self.setback_to_h
        inside = np.where(start < end, (hour >= start) & (hour < end), (hour >= start) | (hour < end))
        result: np.ndarray = np.where(inside, self.setback_k, 0.0)
        return result

    def step(
        self,
        time: pd.Timestamp,
        step_s: float,
        t_out_c: np.ndarray,
        t_room_c: np.ndarray,
        t_set_c: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advance the damped outdoor temperature by one step ending at `time` + `step_s` and
        return each building's heat at full valve opening (kW) and its TRVs' setpoint (°C) for the
        step. `t_set_c`: the step's room setpoint (a controller's, else the building's); buildings
        not on a curve get their `q_max_kw` and `t_set_c` back."""
        t_out = np.asarray(t_out_c, dtype=float)
        tau_h = np.maximum(self.damping_h, 1e-9)
        weight = np.where(self.damping_h > 0, -np.expm1(-step_s / 3600.0 / tau_h), 1.0)
        first = np.isnan(self.t_damped_c)
        self.t_damped_c = np.where(first, t_out, self.t_damped_c + weight * (t_out - self.t_damped_c))
        setback = self.setback_now(time.hour + time.minute / 60.0)
        target = t_set_c - setback
        shift = self.base_c + (t_set_c - self.t_set_c) - setback + self.room_k_per_k * (target - t_room_c)
        q = np.clip(self.h_kw_k * (shift - self.t_damped_c), 0.0, self.q_max_kw)
        return np.where(self.on, q, self.q_max_kw), np.where(self.on, target + self.trv_offset_k, t_set_c)
