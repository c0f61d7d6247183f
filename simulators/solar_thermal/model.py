"""Solar-thermal collectors and their hot-water store, vectorised over buildings. Pure NumPy/pvlib.

Collector (EN ISO 9806 quasi-steady efficiency curve on the plane of array):

    η = η0 − a1 (T_m − T_out) / G − a2 (T_m − T_out)² / G,   q = max(η, 0) · G · A · η_sys   (W)

with G the irradiance on the tilted collector (pvlib: solar position, `get_total_irradiance`,
isotropic sky), T_m the collector's mean fluid temperature (constant, `t_mean_c`), A the aperture
area and η_sys the share of the collector's heat that reaches the store (pipes, pump control).
Defaults: a flat-plate collector (η0 0.80, a1 3.5 W/(m²K), a2 0.015 W/(m²K²)), T_m 50 °C, south at
35°.

Store and use, per building and step of Δt h (`dispatch`): the store's heat plus this step's
collector heat serves the building's hot water first, then its space heating (a combi system);
what is left charges the store up to its capacity, the rest is dumped (the collector stagnates).
The store loses `loss_per_h` of its content per hour. Signs: every heat flow ≥ 0 (kW).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CollectorParams:
    eta0: float = 0.80
    a1_w_m2k: float = 3.5
    a2_w_m2k2: float = 0.015
    t_mean_c: float = 50.0
    tilt_deg: float = 35.0
    azimuth_deg: float = 180.0
    eta_system: float = 0.9


def plane_irradiance_w_m2(
    times: pd.DatetimeIndex,
    ghi_w_m2: np.ndarray,
    dni_w_m2: np.ndarray,
    dhi_w_m2: np.ndarray,
    latitude_deg: float,
    longitude_deg: float,
    collector: CollectorParams,
) -> np.ndarray:
    """Irradiance on the collector plane (W/m²) by pvlib's transposition (isotropic sky), at the
    middle of each step."""
    zenith, azimuth = sun_at_middle(times, latitude_deg, longitude_deg)
    return plane_irradiance_from_sun(
        zenith, azimuth, ghi_w_m2, dni_w_m2, dhi_w_m2, collector.tilt_deg, collector.azimuth_deg
    )


def sun_at_middle(
    times: pd.DatetimeIndex, latitude_deg: float, longitude_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """The sun's apparent zenith and azimuth (degrees) at the middle of each step of `times`."""
    import pvlib

    middle = times + (times[1] - times[0]) / 2 if len(times) > 1 else times
    sun = pvlib.solarposition.get_solarposition(middle, latitude_deg, longitude_deg)
    return sun["apparent_zenith"].to_numpy(), sun["azimuth"].to_numpy()


def plane_irradiance_from_sun(
    zenith_deg: np.ndarray | float,
    azimuth_deg: np.ndarray | float,
    ghi_w_m2: np.ndarray,
    dni_w_m2: np.ndarray,
    dhi_w_m2: np.ndarray,
    tilt_deg: np.ndarray | float,
    surface_azimuth_deg: np.ndarray | float,
) -> np.ndarray:
    """pvlib's isotropic transposition onto planes of `tilt_deg` / `surface_azimuth_deg` (arrays
    broadcast: one step of many collectors, or many steps of one), never negative or NaN."""
    import pvlib

    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg,
        surface_azimuth_deg,
        zenith_deg,
        azimuth_deg,
        np.asarray(dni_w_m2),
        np.asarray(ghi_w_m2),
        np.asarray(dhi_w_m2),
        model="isotropic",
    )
    return np.asarray(np.nan_to_num(np.asarray(poa["poa_global"], dtype=float)).clip(min=0.0))


def collector_heat_w_m2(
    g_poa_w_m2: np.ndarray, t_out_c: np.ndarray, collector: CollectorParams | CollectorArrays
) -> np.ndarray:
    """Heat per m² of aperture that reaches the store (W/m²): the efficiency curve × η_sys
    (`collector`'s parameters may be arrays that broadcast against the irradiance)."""
    g = np.asarray(g_poa_w_m2, dtype=float)
    dt = collector.t_mean_c - np.asarray(t_out_c, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = collector.eta0 - collector.a1_w_m2k * dt / g - collector.a2_w_m2k2 * dt**2 / g
    eta = np.where(g > 0, np.clip(eta, 0.0, collector.eta0), 0.0)
    return np.asarray(eta * g * collector.eta_system)


@dataclass(frozen=True)
class CollectorArrays:
    """The `CollectorParams` of several collectors as arrays (shape (n,))."""

    eta0: np.ndarray
    a1_w_m2k: np.ndarray
    a2_w_m2k2: np.ndarray
    t_mean_c: np.ndarray
    tilt_deg: np.ndarray
    azimuth_deg: np.ndarray
    eta_system: np.ndarray

    @classmethod
    def of(cls, collectors: list[CollectorParams]) -> CollectorArrays:
        return cls(*(np.array([getattr(c, f.name) for c in collectors], dtype=float) for f in fields(cls)))


@dataclass(frozen=True)
class SolarDispatch:
    """Per step (rows) and building (columns), kW: collector heat, heat used for hot water and for
    space heating, dumped heat; the store's content at the end of each step (kWh)."""

    q_collector_kw: np.ndarray
    q_dhw_kw: np.ndarray
    q_space_kw: np.ndarray
    q_dumped_kw: np.ndarray
    e_store_kwh: np.ndarray


def dispatch(
    q_collector_kw: np.ndarray,
    dhw_kw: np.ndarray,
    space_kw: np.ndarray,
    capacity_kwh: np.ndarray,
    dt_h: float,
    loss_per_h: float = 0.01,
) -> SolarDispatch:
    """Serve hot water, then space heating, from the collectors through the store (module docstring).
    Arrays (steps, buildings); `capacity_kwh` per building."""
    q = np.asarray(q_collector_kw, dtype=float)
    n_steps, n = q.shape
    e = np.zeros(n)
    cap = np.broadcast_to(np.asarray(capacity_kwh, dtype=float), (n,))
    out = {k: np.zeros((n_steps, n)) for k in ("dhw", "space", "dumped", "e")}
    for k in range(n_steps):
        available = e * (1.0 - loss_per_h * dt_h) + q[k] * dt_h
        to_dhw = np.minimum(available, dhw_kw[k] * dt_h)
        available -= to_dhw
        to_space = np.minimum(available, space_kw[k] * dt_h)
        available -= to_space
        e = np.minimum(available, cap)
        out["dhw"][k], out["space"][k] = to_dhw / dt_h, to_space / dt_h
        out["dumped"][k], out["e"][k] = (available - e) / dt_h, e
    return SolarDispatch(q, out["dhw"], out["space"], out["dumped"], out["e"])
