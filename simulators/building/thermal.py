"""Two-capacity (2R2C) thermal network of a building, discretised exactly.

States x = [t_in_c, t_mass_c]: indoor air (with furniture) and building mass. Inputs
u = [t_out_c, q_air_kw, q_mass_kw]: outdoor temperature, heat into the air node (heating, internal
gains, the air share of solar gains), heat into the mass node (the rest of the solar gains).

    C_in dT_in/dt = H_ie (T_out − T_in) + H_im (T_m − T_in) + q_air
    C_m  dT_m/dt  = H_im (T_in − T_m) + H_me (T_out − T_m) + q_mass

Capacities in kWh/K, conductances in kW/K, heat in kW, time in hours. With inputs held constant
over a step the discretisation x⁺ = A x + B u is exact (zero-order hold via the matrix
exponential of the augmented system), so a controller that uses (A, B) predicts the simulator
exactly.

Parameters from the total heat-loss coefficient H = H_ie + (H_im·H_me)/(H_im + H_me)
(`rc_from_h`): 30 % of it goes through the air node (ventilation, windows), 70 % through the opaque
envelope via the mass. The mass node follows ISO 13790's construction classes (Table 12, `MASS_CLASSES`):
H_im = 9.1 W/m²K over the effective mass area (2.5 × floor area for light and medium, 3.0 for
heavy, 3.5 for very heavy construction) and the internal heat capacity per floor area (80, 165,
260, 370 kJ/m²K). The default is "medium"; a climate preset names its typical construction
(`simulators.sources.climate.Climate.construction`: Madrid's masonry and concrete are "heavy").

H itself comes from the annual space-heating demand: `calibration.calibrate_to_weather` solves it
against a year of the site's weather with the gains (what the simulator does);
`calibrate` is the plain energy signature H = demand / (heating degree days × 24 h), which
ignores gains (kept as the first guess and for a scenario that gives its degree days explicitly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

SHARE_AIR_PATH = 0.3
H_MS_KW_PER_M2K = 9.1e-3  # ISO 13790 h_ms, per m² of effective mass area
C_IN_KWH_PER_M2K = 0.0025


@dataclass(frozen=True)
class MassClass:
    """ISO 13790 Table 12: effective mass area per floor area and internal heat capacity."""

    area_factor: float
    c_m_kj_per_m2k: float

    @property
    def h_im_kw_per_m2k(self) -> float:
        """Air-mass coupling per m² of floor area (kW/K)."""
        return H_MS_KW_PER_M2K * self.area_factor

    @property
    def c_m_kwh_per_m2k(self) -> float:
        return self.c_m_kj_per_m2k / 3600.0


MASS_CLASSES: dict[str, MassClass] = {
    "light": MassClass(2.5, 80.0),
    "medium": MassClass(2.5, 165.0),
    "heavy": MassClass(3.0, 260.0),
    "very_heavy": MassClass(3.5, 370.0),
}
DEFAULT_MASS = "medium"
H_IM_KW_PER_M2K = MASS_CLASSES[DEFAULT_MASS].h_im_kw_per_m2k
C_M_KWH_PER_M2K = MASS_CLASSES[DEFAULT_MASS].c_m_kwh_per_m2k


def mass_arrays(classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-floor-area air-mass coupling (kW/m²K) and mass capacity (kWh/m²K) of each building's
    construction class."""
    found = [MASS_CLASSES[c] for c in classes]
    return (np.array([m.h_im_kw_per_m2k for m in found]), np.array([m.c_m_kwh_per_m2k for m in found]))


@dataclass(frozen=True)
class RcParams:
    """Continuous 2R2C parameters, one value per building (arrays of shape (n,))."""

    c_in_kwh_k: np.ndarray
    c_m_kwh_k: np.ndarray
    h_ie_kw_k: np.ndarray
    h_im_kw_k: np.ndarray
    h_me_kw_k: np.ndarray

    @property
    def h_total_kw_k(self) -> np.ndarray:
        """Steady-state heat-loss coefficient (air path plus mass path in series)."""
        result: np.ndarray = self.h_ie_kw_k + self.h_im_kw_k * self.h_me_kw_k / (
            self.h_im_kw_k + self.h_me_kw_k
        )
        return result


def calibrate(
    floor_area_m2: np.ndarray,
    space_heating_kwh_a: np.ndarray,
    heating_degree_days_kd: float,
    h_im_kw_per_m2k: np.ndarray | float = H_IM_KW_PER_M2K,
    c_m_kwh_per_m2k: np.ndarray | float = C_M_KWH_PER_M2K,
) -> RcParams:
    """2R2C parameters from the energy signature: H = demand / (degree days × 24 h), no gains."""
    h_total = np.asarray(space_heating_kwh_a, dtype=float) / (heating_degree_days_kd * 24.0)
    return rc_from_h(floor_area_m2, h_total, h_im_kw_per_m2k, c_m_kwh_per_m2k)


def rc_from_h(
    floor_area_m2: np.ndarray,
    h_total_kw_k: np.ndarray,
    h_im_kw_per_m2k: np.ndarray | float = H_IM_KW_PER_M2K,
    c_m_kwh_per_m2k: np.ndarray | float = C_M_KWH_PER_M2K,
) -> RcParams:
    """2R2C parameters of buildings with the total heat-loss coefficient `h_total_kw_k` (kW/K) and
    their construction class's mass coupling and capacity per floor area (default: "medium")."""
    area = np.asarray(floor_area_m2, dtype=float)
    h_total = np.asarray(h_total_kw_k, dtype=float)
    h_im = h_im_kw_per_m2k * area
    h_op = (1.0 - SHARE_AIR_PATH) * h_total
    if np.any(h_op >= h_im):
        raise ValueError(
            "space-heating demand too high for the floor area (opaque loss above the mass coupling)"
        )
    h_me = 1.0 / (1.0 / np.maximum(h_op, 1e-9) - 1.0 / h_im)
    c_m = c_m_kwh_per_m2k * area
    return RcParams(C_IN_KWH_PER_M2K * area, c_m, SHARE_AIR_PATH * h_total, h_im, h_me)


def continuous_matrices(p: RcParams) -> tuple[np.ndarray, np.ndarray]:
    """Stacked continuous-time matrices A_c (n, 2, 2) and B_c (n, 2, 3), per hour."""
    n = p.c_in_kwh_k.shape[0]
    a = np.zeros((n, 2, 2))
    a[:, 0, 0] = -(p.h_ie_kw_k + p.h_im_kw_k) / p.c_in_kwh_k
    a[:, 0, 1] = p.h_im_kw_k / p.c_in_kwh_k
    a[:, 1, 0] = p.h_im_kw_k / p.c_m_kwh_k
    a[:, 1, 1] = -(p.h_im_kw_k + p.h_me_kw_k) / p.c_m_kwh_k
    b = np.zeros((n, 2, 3))
    b[:, 0, 0] = p.h_ie_kw_k / p.c_in_kwh_k
    b[:, 0, 1] = 1.0 / p.c_in_kwh_k
    b[:, 1, 0] = p.h_me_kw_k / p.c_m_kwh_k
    b[:, 1, 2] = 1.0 / p.c_m_kwh_k
    return a, b


@dataclass(frozen=True)
class DiscreteRc:
    """Exact discretisation over `dt_h`: x⁺ = a @ x + b @ [t_out, q_air, q_mass] (stacked per building)."""

    a: np.ndarray  # (n, 2, 2)
    b: np.ndarray  # (n, 2, 3)
    dt_h: float


def discretise(p: RcParams, dt_s: float) -> DiscreteRc:
    """Zero-order-hold discretisation via the matrix exponential of [[A_c, B_c], [0, 0]]·Δt."""
    a_c, b_c = continuous_matrices(p)
    n = a_c.shape[0]
    dt_h = dt_s / 3600.0
    augmented = np.zeros((n, 5, 5))
    augmented[:, :2, :2] = a_c * dt_h
    augmented[:, :2, 2:] = b_c * dt_h
    # buildings of one group share parameters: one matrix exponential per distinct network
    distinct, inverse = np.unique(augmented.reshape(n, -1), axis=0, return_inverse=True)
    # on one BLAS thread: a threaded call wakes OpenBLAS's worker thread, which then busy-waits for
    # more work for ~0.1 s, taking a core from the run that has just started (the same numbers:
    # 5x5 products are not split across threads)
    with threadpool_limits(limits=1, user_api="blas"):
        phi = scipy.linalg.expm(distinct.reshape(-1, 5, 5))[inverse.ravel()]
    return DiscreteRc(phi[:, :2, :2].copy(), phi[:, :2, 2:].copy(), dt_h)


def advance(model: DiscreteRc, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One step for all buildings: x (n, 2), u (n, 3) -> x⁺ (n, 2)."""
    result: np.ndarray = np.einsum("nij,nj->ni", model.a, x) + np.einsum("nij,nj->ni", model.b, u)
    return result
