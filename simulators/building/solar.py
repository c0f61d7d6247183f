"""Solar heat gains through a building's windows, with shading and external blinds.

The windows (`window_m2_per_m2` × floor area) face the four compass directions in the shares of
`FACADES` (south 40 %, east and west 20 % each, north 20 %). Per facade, the irradiance on the
vertical plane comes from the same isotropic transposition and Martin–Ruiz angle modifiers as the
PV arrays (`pv.poa_parts`), and

    q_sol = Σ_facades A_win · share · GLASS_SHARE · g · F_sh · F_blind · POA_eff / 1000   (kW)

with g the glazing's total solar energy transmittance (`g_value`), F_sh a fixed shading factor
for surroundings and reveals (`shading_factor`) and F_blind the external blinds' factor: 1 when
open, `blind_factor` (F_c, EN ISO 52016 / DIN 4108-2: ~0.25 for external venetian blinds) when
closed. Blinds close on a facade whose irradiance exceeds `blind_threshold_w_m2` while the outdoor
temperature is above `blind_t_out_c` (a common automation rule: it keeps useful winter gains).

Everything here depends on the weather only, not on the building's state, so it is part of a
step's exogenous inputs that a controller's forecast predicts exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from simulators.building.pv import _Surface, poa_parts, surface_of

FACADES: tuple[tuple[float, float], ...] = ((180.0, 0.4), (90.0, 0.2), (270.0, 0.2), (0.0, 0.2))
"""(azimuth in degrees, share of the window area) of each facade."""
GLASS_SHARE = 0.7
"""Glass share of the window area (the rest is frame, EN ISO 52016's F_F = 0.3)."""


@dataclass(frozen=True)
class Windows:
    """The glazing of a fleet (arrays of shape (n,))."""

    area_m2: np.ndarray
    g_value: np.ndarray
    shading_factor: np.ndarray
    blind_factor: np.ndarray
    blind_threshold_w_m2: np.ndarray
    blind_t_out_c: np.ndarray

    @cached_property
    def surface(self) -> _Surface:
        return surface_of(np.array([90.0]))

    @cached_property
    def aperture_m2(self) -> np.ndarray:
        """Effective aperture of the open glazing per facade (len(FACADES), n)."""
        base = self.area_m2 * GLASS_SHARE * self.g_value * self.shading_factor
        return np.stack([share * base for _, share in FACADES])


def window_gains_kw(
    windows: Windows,
    zenith_deg: float | np.ndarray,
    azimuth_deg: float | np.ndarray,
    ghi: np.ndarray,
    dni: np.ndarray,
    dhi: np.ndarray,
    t_out_c: np.ndarray,
) -> np.ndarray:
    """Solar heat gain (kW, ≥ 0) through every building's windows. The sun's position and the
    weather broadcast against the fleet's arrays: scalars or arrays of shape (n,) for one step,
    (T, 1) for T steps of a fleet of n (result (T, n)). The four facades are one call (a leading
    axis of 4)."""
    facades = _FACADE_AZIMUTHS.reshape((len(FACADES),) + (1,) * np.ndim(ghi))
    parts = poa_parts(windows.surface, facades, zenith_deg, azimuth_deg, dni, ghi, dhi)
    poa = parts.poa_global  # finite for finite weather: no NaN to clean
    aperture = windows.aperture_m2 if np.ndim(poa) == 2 else windows.aperture_m2[:, None, :]
    closed = (poa > windows.blind_threshold_w_m2) & (t_out_c > windows.blind_t_out_c)
    per_facade = aperture * np.where(closed, windows.blind_factor, 1.0) * parts.effective(windows.surface)
    result: np.ndarray = per_facade.sum(axis=0) * 0.001
    return result


_FACADE_AZIMUTHS = np.array([azimuth for azimuth, _ in FACADES])
