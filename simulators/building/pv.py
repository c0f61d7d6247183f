"""Rooftop PV output with pvlib (PVWatts DC model, Faiman cell temperature).

p_ac = η_inv · pvwatts_dc(POA, T_cell, P_peak, γ) with the plane-of-array irradiance from pvlib's
isotropic transposition. Vectorised over buildings (one transposition for all orientations) and
over time for the solar position (`sun_positions`, computed once per run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

from simulators.arrays import clip, nan_to_zero
from simulators.sources.weather import Site

GAMMA_PDC_PER_K = -0.004
INVERTER_EFF = 0.96


@dataclass(frozen=True)
class PvArrays:
    """PV systems of a fleet (arrays of shape (n,)); peak power 0 means no PV."""

    peak_kw: np.ndarray
    tilt_deg: np.ndarray
    azimuth_deg: np.ndarray


@dataclass(frozen=True)
class SunPosition:
    """Apparent solar zenith and azimuth (degrees) at each time of an axis."""

    zenith_deg: np.ndarray
    azimuth_deg: np.ndarray


def sun_positions(times: pd.DatetimeIndex, site: Site) -> SunPosition:
    """Solar positions for a whole time axis in one vectorised call (a call per step costs ~10 ms)."""
    pos = pvlib.solarposition.get_solarposition(times, site.latitude_deg, site.longitude_deg, site.altitude_m)
    return SunPosition(pos["apparent_zenith"].to_numpy(), pos["azimuth"].to_numpy())


def pv_power_kw(
    pv: PvArrays,
    zenith_deg: float,
    azimuth_deg: float,
    ghi: np.ndarray,
    dni: np.ndarray,
    dhi: np.ndarray,
    t_out_c: np.ndarray,
    wind_m_s: np.ndarray,
) -> np.ndarray:
    """AC output (kW, ≥ 0) of every system for a sun position and weather (arrays of shape (n,))."""
    if not (pv.peak_kw > 0).any() or not (np.asarray(ghi) > 0).any():
        return np.zeros_like(pv.peak_kw)
    poa = pvlib.irradiance.get_total_irradiance(
        pv.tilt_deg, pv.azimuth_deg, zenith_deg, azimuth_deg, dni, ghi, dhi
    )
    poa_global = nan_to_zero(np.asarray(poa["poa_global"], dtype=float))
    t_cell = pvlib.temperature.faiman(poa_global, t_out_c, wind_m_s)
    dc_kw = pvlib.pvsystem.pvwatts_dc(poa_global, t_cell, pv.peak_kw, GAMMA_PDC_PER_K)
    return clip(INVERTER_EFF * np.asarray(dc_kw, dtype=float), 0.0)
