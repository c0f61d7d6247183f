"""Heat pump and boiler performance.

Air-source heat pump, COP from a fixed fraction η of the Carnot COP between the outdoor air and
the supply temperature, less a defrost penalty:

    COP = η · (T_sup + 273.15) / (T_sup − T_out) · (1 − d(T_out)),   limited to [1, `COP_MAX`]

- Space heating: the supply temperature follows a heating curve (weather compensation), linear
  from `T_ROOM_C` at an outdoor `T_ROOM_C` to the design supply temperature (`t_supply_space_c`,
  35 °C for floor heating, 55 °C for radiators) at the climate's design temperature, and at least
  `T_SUPPLY_MIN_C`.
- Hot water: its own fixed supply temperature (`t_supply_dhw_c`, 55 °C).
- Defrost: the evaporator ices up in humid air around freezing; d peaks at `DEFROST_PEAK` (12 %)
  at +2 °C and falls linearly to 0 at −4 °C and +8 °C (the dip of EN 14511 A2/W35 test results
  between the A7 and A−7 points).

With the default η = 0.40 (`BuildingSpec.hp_carnot_eff`) the model gives COP 4.3 at A7/W35, 3.3
at A2/W35 (with defrost), 2.9 at A−7/W35 and 2.7 at A7/W55: within the range of current EN 14511
datasheets of air-to-water heat pumps (A7/W35 4.2–5.0, A2/W35 3.3–4.0, A−7/W35 2.6–3.2, A7/W55
2.6–3.2), at their lower end, as field measurements of seasonal performance suggest. `COP_MAX`
(6) bounds the COP at small lifts (mild days, where the Carnot fraction overstates real units).

Part load: the heat pump's electric rating is fixed, so its heat capacity grows with the outdoor
temperature (Q_max = COP · P_max). It modulates continuously between 0 and P_max (a setpoint
holds any power in that range; the thermostat runs it on/off at full power) at the same COP;
cycling losses and the better COP of inverter units at part load are not modelled.
"""

from __future__ import annotations

import numpy as np

from simulators.arrays import clip

COP_MAX = 6.0
T_DESIGN_C = -12.0
SIZING_MARGIN = 1.2
T_ROOM_C = 20.0
T_SUPPLY_MIN_C = 30.0
DEFROST_PEAK = 0.12
DEFROST_T_PEAK_C = 2.0
DEFROST_HALF_WIDTH_K = 6.0
T_SUPPLY_COOL_C = 18.0  # cooling supply temperature (floor or fan-coil cooling)
EER_CARNOT_EFF = 0.3
EER_MAX = 6.0


def cop(
    t_out_c: np.ndarray | float, t_supply_c: np.ndarray | float, carnot_eff: np.ndarray | float
) -> np.ndarray:
    """Coefficient of performance at outdoor temperature `t_out_c` (°C) and supply `t_supply_c` (°C),
    defrost included."""
    t_out = np.asarray(t_out_c, dtype=float)
    lift_k = np.maximum(np.asarray(t_supply_c, dtype=float) - t_out, 1.0)
    carnot = np.asarray(carnot_eff) * (np.asarray(t_supply_c) + 273.15) / lift_k
    result: np.ndarray = clip(carnot * (1.0 - defrost_penalty(t_out)), 1.0, COP_MAX)
    return result


def eer(t_out_c: np.ndarray | float) -> np.ndarray:
    """Energy efficiency ratio of the reversible heat pump cooling the building (heat removed per
    electricity): `EER_CARNOT_EFF` of the Carnot EER between `T_SUPPLY_COOL_C` and the outdoor
    air, within [1, `EER_MAX`] (EN 14511 A35/W18: ≈ 5)."""
    lift_k = np.maximum(np.asarray(t_out_c, dtype=float) - T_SUPPLY_COOL_C, 1.0)
    result: np.ndarray = clip(EER_CARNOT_EFF * (T_SUPPLY_COOL_C + 273.15) / lift_k, 1.0, EER_MAX)
    return result


def defrost_penalty(t_out_c: np.ndarray | float) -> np.ndarray:
    """Share of the heat lost to defrosting (0 to `DEFROST_PEAK`)."""
    distance = np.abs(np.asarray(t_out_c, dtype=float) - DEFROST_T_PEAK_C) / DEFROST_HALF_WIDTH_K
    result: np.ndarray = DEFROST_PEAK * np.maximum(1.0 - distance, 0.0)
    return result


def heating_curve_c(
    t_out_c: np.ndarray | float, t_supply_design_c: np.ndarray | float, t_design_c: float
) -> np.ndarray:
    """Space-heating supply temperature (°C) at the outdoor temperature: linear from `T_ROOM_C`
    (outdoor `T_ROOM_C`) to `t_supply_design_c` (outdoor `t_design_c`), within
    [`T_SUPPLY_MIN_C`, `t_supply_design_c`]."""
    design = np.asarray(t_supply_design_c, dtype=float)
    slope = (design - T_ROOM_C) / (T_ROOM_C - t_design_c)
    curve = T_ROOM_C + slope * (T_ROOM_C - np.asarray(t_out_c, dtype=float))
    result: np.ndarray = np.minimum(np.maximum(curve, np.minimum(T_SUPPLY_MIN_C, design)), design)
    return result


def auto_size_hp_kw(
    h_total_kw_k: np.ndarray,
    t_set_c: np.ndarray,
    dhw_mean_kw: np.ndarray,
    t_supply_c: np.ndarray,
    carnot_eff: np.ndarray,
    t_design_c: float = T_DESIGN_C,
) -> np.ndarray:
    """Electric rating covering the design heat load (at `t_design_c`) plus mean hot-water demand,
    with margin."""
    design_heat_kw = h_total_kw_k * (t_set_c - t_design_c) + dhw_mean_kw
    result: np.ndarray = SIZING_MARGIN * design_heat_kw / cop(t_design_c, t_supply_c, carnot_eff)
    return result


def heater_capacity_kw(
    h_total_kw_k: np.ndarray, t_set_c: np.ndarray, dhw_mean_kw: np.ndarray, t_design_c: float = T_DESIGN_C
) -> np.ndarray:
    """Heat capacity of a boiler or a district-heating substation: the design heat load (at
    `t_design_c`) plus mean hot-water demand, with margin."""
    result: np.ndarray = SIZING_MARGIN * (h_total_kw_k * (t_set_c - t_design_c) + dhw_mean_kw)
    return result
