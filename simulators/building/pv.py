"""Rooftop PV output with pvlib's models: isotropic transposition, Martin–Ruiz angle-of-incidence
modifier, Faiman cell temperature, PVWatts DC model, PVWatts system losses and PVWatts inverter.

    POA_eff = POA_beam · IAM(aoi) + POA_sky · IAM_sky + POA_ground · IAM_ground
    T_cell  = faiman(POA_global, T_out, wind)
    P_dc    = pvwatts_dc(POA_eff, T_cell, P_peak, γ) · (1 − L/100)
    P_ac    = pvwatts inverter(P_dc, P_dc0 = P_peak / (`DC_AC_RATIO` · η_nom))

Defaults (`PvLosses`, documented in docs/buildings.md): IAM coefficient a_r = 0.16 (pvlib's default,
glass-front crystalline modules), γ = −0.4 %/K, the PVWatts loss model with its defaults except
availability 0 % (the simulator models an available system; PVWatts' 3 % stands for outages):
soiling 2, shading 3, mismatch 2, wiring 2, connections 0.5, LID 1.5, nameplate 1 % → 11.4 %;
inverter nominal efficiency 0.96 with PVWatts' part-load curve, DC/AC ratio 1.1.

Vectorised over buildings (one transposition for all orientations) and over time for the solar
position (`sun_positions`, computed once per run). `pv_power_kw` runs every step, so it does
pvlib's arithmetic itself, operation for operation and in pvlib's order, with the surfaces'
trigonometry and diffuse modifiers computed once (`PvArrays`): the same numbers (tested against
pvlib's own functions) without pvlib's Python calls, dict and type checks per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pvlib

from simulators.arrays import clip, nan_to_zero
from simulators.sources.weather import Site

GAMMA_PDC_PER_K = -0.004
INVERTER_EFF = 0.96  # PVWatts' nominal inverter efficiency
INVERTER_EFF_REF = 0.9637  # PVWatts' reference inverter efficiency
DC_AC_RATIO = 1.1
IAM_A_R = 0.16  # pvlib's default Martin-Ruiz angular loss coefficient
SYSTEM_LOSSES_PCT: dict[str, float] = {
    "soiling": 2.0,
    "shading": 3.0,
    "snow": 0.0,
    "mismatch": 2.0,
    "wiring": 2.0,
    "connections": 0.5,
    "lid": 1.5,
    "nameplate_rating": 1.0,
    "age": 0.0,
    "availability": 0.0,
}
"""PVWatts loss model inputs (%): pvlib's defaults, availability 0 (outages are not modelled)."""
LOSS_FACTOR = 1.0 - float(pvlib.pvsystem.pvwatts_losses(**SYSTEM_LOSSES_PCT)) / 100.0

ALBEDO = 0.25  # pvlib's default ground albedo
FAIMAN_U0, FAIMAN_U1 = 25.0, 6.84  # pvlib's default Faiman heat-loss factors
T_REF_C = 25.0  # pvlib's PVWatts reference cell temperature


@dataclass(frozen=True)
class PvArrays:
    """PV systems of a fleet (arrays of shape (n,)); peak power 0 means no PV."""

    peak_kw: np.ndarray
    tilt_deg: np.ndarray
    azimuth_deg: np.ndarray

    @cached_property
    def surface(self) -> _Surface:
        """The surfaces' trigonometry (pvlib's `tools.cosd`/`sind` of the tilt)."""
        return surface_of(self.tilt_deg, bool((self.peak_kw > 0).any()))

    @cached_property
    def pdc0_kw(self) -> np.ndarray:
        """The inverters' DC input limit (pvlib.inverter.pvwatts' pdc0)."""
        result: np.ndarray = self.peak_kw / DC_AC_RATIO / INVERTER_EFF
        return result


def surface_of(tilt_deg: np.ndarray, any_surface: bool = True) -> _Surface:
    """Trigonometry and diffuse angle modifiers of tilted surfaces (PV arrays or windows)."""
    cos_tilt = np.cos(np.radians(tilt_deg))
    iam = pvlib.iam.martin_ruiz_diffuse(tilt_deg, IAM_A_R)
    return _Surface(
        any_surface,
        cos_tilt,
        np.sin(np.radians(tilt_deg)),
        1 + cos_tilt,
        1 - cos_tilt,
        np.asarray(iam["sky"], dtype=float),
        np.asarray(iam["ground"], dtype=float),
    )


@dataclass(frozen=True)
class _Surface:
    any_pv: bool
    cos_tilt: np.ndarray
    sin_tilt: np.ndarray
    sky_view: np.ndarray  # 1 + cos(tilt), as pvlib.irradiance.isotropic has it
    ground_view: np.ndarray  # 1 - cos(tilt), as pvlib.irradiance.get_ground_diffuse has it
    iam_sky: np.ndarray  # pvlib.iam.martin_ruiz_diffuse(tilt)["sky"]
    iam_ground: np.ndarray  # pvlib.iam.martin_ruiz_diffuse(tilt)["ground"]


@dataclass(frozen=True)
class PoaParts:
    """Plane-of-array irradiance parts (W/m², pvlib's get_total_irradiance) and the cosine of the
    angle of incidence."""

    direct: np.ndarray
    sky: np.ndarray
    ground: np.ndarray
    cos_aoi: np.ndarray
    aoi_deg: np.ndarray

    @property
    def poa_global(self) -> np.ndarray:
        result: np.ndarray = self.direct + (self.sky + self.ground)
        return result

    def effective(self, surface: _Surface) -> np.ndarray:
        """POA irradiance after the Martin-Ruiz modifiers (beam by angle, diffuse per surface)."""
        # pvlib.iam.martin_ruiz (its errstate guard is for NaN angles; these are finite)
        iam = (1 - np.exp(-self.cos_aoi / IAM_A_R)) / (1 - np.exp(-1 / IAM_A_R))
        iam = np.where(np.abs(self.aoi_deg) >= 90.0, 0.0, iam)
        diffuse = self.sky * surface.iam_sky + self.ground * surface.iam_ground
        result: np.ndarray = self.direct * iam + diffuse
        return result


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
    surface = pv.surface
    if not surface.any_pv or not (np.asarray(ghi) > 0).any():
        return np.zeros_like(pv.peak_kw)
    parts = poa_parts(surface, pv.azimuth_deg, zenith_deg, azimuth_deg, dni, ghi, dhi)
    poa_global = nan_to_zero(np.asarray(parts.poa_global, dtype=float))
    poa_eff = nan_to_zero(np.asarray(parts.effective(surface), dtype=float))
    # pvlib.temperature.faiman, then pvlib.pvsystem.pvwatts_dc (no Marion correction) and the losses
    t_cell = t_out_c + poa_global / (FAIMAN_U0 + FAIMAN_U1 * wind_m_s)
    dc_kw = poa_eff * 0.001 * pv.peak_kw * (1 + GAMMA_PDC_PER_K * (t_cell - T_REF_C))
    return _inverter_kw(np.asarray(dc_kw, dtype=float) * LOSS_FACTOR, pv)


def _inverter_kw(pdc_kw: np.ndarray, pv: PvArrays) -> np.ndarray:
    """pvlib.inverter.pvwatts(pdc, pdc0) with its part-load efficiency, clipping and floor at 0;
    0 for systems without PV (where pvlib divides 0 by 0)."""
    pdc0 = pv.pdc0_kw
    has = pdc0 > 0
    zeta = pdc_kw / np.where(has, pdc0, 1.0)
    eta = np.zeros_like(pdc_kw, dtype=float)
    eta = INVERTER_EFF / INVERTER_EFF_REF * (
        -0.0162 * zeta - np.divide(0.0059, zeta, out=eta, where=~np.equal(pdc_kw, 0)) + 0.9858
    )
    power_ac = np.maximum(0, np.minimum(INVERTER_EFF * pdc0, eta * pdc_kw))
    return np.where(has, power_ac, 0.0)


def poa_parts(
    surface: _Surface,
    surface_azimuth_deg: np.ndarray,
    zenith_deg: float | np.ndarray,
    azimuth_deg: float | np.ndarray,
    dni: np.ndarray,
    ghi: np.ndarray,
    dhi: np.ndarray,
) -> PoaParts:
    """pvlib.irradiance.get_total_irradiance(...) with the isotropic sky model: beam, sky diffuse
    and ground-reflected parts, and the angle of incidence."""
    sky = dhi * surface.sky_view * 0.5
    ground = ghi * ALBEDO * surface.ground_view * 0.5
    projection = surface.cos_tilt * np.cos(np.radians(zenith_deg)) + surface.sin_tilt * np.sin(
        np.radians(zenith_deg)
    ) * np.cos(np.radians(azimuth_deg - surface_azimuth_deg))
    aoi = np.rad2deg(np.arccos(clip(projection, -1, 1)))
    cos_aoi = np.cos(np.radians(aoi))
    direct = np.maximum(dni * cos_aoi, 0)
    return PoaParts(direct, sky, ground, cos_aoi, aoi)
