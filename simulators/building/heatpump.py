"""Heat pump and boiler performance.

The heat pump's COP is a fixed fraction of the Carnot COP between the outdoor air and the supply
temperature, COP = η · (T_sup + 273.15) / (T_sup − T_out), limited to [1, `COP_MAX`]. Its electric
rating is fixed, so its heat capacity grows with the outdoor temperature: Q_max = COP · P_max.
"""

from __future__ import annotations

import numpy as np

from simulators.arrays import clip

COP_MAX = 7.0
T_DESIGN_C = -12.0
SIZING_MARGIN = 1.2


def cop(
    t_out_c: np.ndarray | float, t_supply_c: np.ndarray | float, carnot_eff: np.ndarray | float
) -> np.ndarray:
    """Coefficient of performance at outdoor temperature `t_out_c` (°C) and supply `t_supply_c` (°C)."""
    lift_k = np.maximum(np.asarray(t_supply_c, dtype=float) - np.asarray(t_out_c, dtype=float), 1.0)
    result: np.ndarray = clip(
        np.asarray(carnot_eff) * (np.asarray(t_supply_c) + 273.15) / lift_k, 1.0, COP_MAX
    )
    return result


def auto_size_hp_kw(
    h_total_kw_k: np.ndarray,
    t_set_c: np.ndarray,
    dhw_mean_kw: np.ndarray,
    t_supply_c: np.ndarray,
    carnot_eff: np.ndarray,
) -> np.ndarray:
    """Electric rating covering the design heat load (at −12 °C) plus mean hot-water demand, with margin."""
    design_heat_kw = h_total_kw_k * (t_set_c - T_DESIGN_C) + dhw_mean_kw
    result: np.ndarray = SIZING_MARGIN * design_heat_kw / cop(T_DESIGN_C, t_supply_c, carnot_eff)
    return result


def heater_capacity_kw(h_total_kw_k: np.ndarray, t_set_c: np.ndarray, dhw_mean_kw: np.ndarray) -> np.ndarray:
    """Heat capacity of a boiler or a district-heating substation: the design heat load (at −12 °C)
    plus mean hot-water demand, with margin."""
    result: np.ndarray = SIZING_MARGIN * (h_total_kw_k * (t_set_c - T_DESIGN_C) + dhw_mean_kw)
    return result
