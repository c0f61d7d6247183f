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

The COP above is the steady-state COP of a lab test (EN 14511). A seasonal performance factor
measured in the field (SEPEMO's SPF_H4 boundary: heat out of the heat pump for space heating and
hot water over the electricity of compressor, fan, defrost, controls and the heating circuit's
pump, a year long) is lower; the simulator adds what that boundary holds beyond the steady state:

- **Cycling below the minimum modulation.** The heat pump modulates continuously between
  `hp_min_modulation` (0.3) and 1 of its electric rating P_max at the steady-state COP. Below the
  minimum it runs on/off, and EN 14825's part-load correction for cycling applies
  (`cycling_factor`, degradation coefficient `hp_cycling_cd` = Cd = 0.9, EN 14825's default when
  it is not measured):

      COP_cycling = COP · f,   f = x / (Cd · x + 1 − Cd),   x = P / (hp_min_modulation · P_max) < 1

  with P the step's steady-state electric power (heat / COP): under the thermostat the step's
  heat costs heat / (COP · f). A controller's power setpoint is followed at the steady-state COP
  (heat = COP · P, the controllers' linear model stays exact): a controller that asks for less
  than the minimum modulation is not charged the cycling loss, which flatters it against the
  thermostat by at most that loss (2–5 % of the heating electricity in the benchmark's SCOP
  table). Inverter air-to-water units modulate down to 25–40 % of their rated output.
- **Auxiliary electricity** (`auxiliary_kw`, all of it in `hp_p_kw` and `p_base_kw`, so a
  forecast of the base load includes it): the controls' standby (`hp_standby_kw`, 10 W, all year:
  EN 14825's P_SB / P_TO, of the order of 10 W in the Ecodesign datasheets of current units) and
  the heating circuit's circulation pump while it is colder outside than the heating limit
  (`T_HEATING_LIMIT_C`, 15 °C). The pump's electric power follows its hydraulic duty at the design
  point (`pump_kw`): the design flow carries the design heat load at the emitters' temperature
  spread (5 K for floor heating at 35 °C, rising to 10 K for radiators at 55 °C) against
  `PUMP_HEAD_KPA` (25 kPa) at a wire-to-water efficiency of `PUMP_EFFICIENCY` (0.25, small
  electronically commutated circulators): ~30 W for a 150 m² house, ~150 W for an 800 m² block.
  A crankcase heater is not modelled (0 W in the datasheets of inverter units).

Defaults that are left out: the better COP of inverter units at moderate part load (EN 14825
tests it; it roughly offsets the larger heat exchangers' pressure drops), storage losses of a hot-
water cylinder and its weekly anti-legionella heating by the electric heater (tens of kWh a year
for a house), and the back-up heater at the coldest hours (the heat pump is sized for the design
temperature). Field campaigns find seasonal factors of 2.5–3.8 for air-to-water units with hot
water (Fraunhofer ISE "WP Effizienz" / "WPsmart im Bestand", mean ≈ 2.9–3.1; the UK RHPP and
"Electrification of Heat" trials ≈ 2.6–2.9 in a mild climate); with the defaults the simulated
seasonal COP is 3.2–3.8 in Munich, Paris and Madrid (`benchmarks/bench_calibration.py`).

Part load and capacity: the heat pump's electric rating is fixed, so its heat capacity grows with
the outdoor temperature (Q_max = COP · P_max). A setpoint holds any power between 0 and P_max; the
thermostat runs it on/off at full power within the minute loop, which stands for a modulating
unit's mean output over the step.
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
T_HEATING_LIMIT_C = 15.0  # the heating circuit's pump runs below this outdoor temperature
PUMP_HEAD_KPA = 25.0
PUMP_EFFICIENCY = 0.25
WATER_HEAT_KWH_M3K = 1.163  # volumetric heat capacity of water (kWh/m³K)
SPREAD_FLOOR_K = 5.0  # emitters' design temperature spread at 35 °C supply
SPREAD_PER_K = 0.25  # ... plus this per kelvin of design supply above 35 °C
SPREAD_MAX_K = 10.0


def cycling_factor(
    share: np.ndarray | float, min_modulation: np.ndarray | float, cd: np.ndarray | float
) -> np.ndarray:
    """EN 14825's part-load factor f of a heat pump cycling below its minimum modulation: 1 at an
    electric-power share (of the rating) ≥ `min_modulation`, else x / (cd · x + 1 − cd) with x the
    share over the minimum (0 at no load)."""
    share_a = np.asarray(share, dtype=float)
    m = np.asarray(min_modulation, dtype=float)
    x = share_a / np.where(m > 0, m, 1.0)
    cd_a = np.asarray(cd, dtype=float)
    result: np.ndarray = np.where(share_a >= m, 1.0, x / (cd_a * x + (1.0 - cd_a)))
    return result


def pump_kw(design_heat_kw: np.ndarray, t_supply_design_c: np.ndarray) -> np.ndarray:
    """Electric power (kW) of the heating circuit's circulation pump: design flow (the design heat
    load at the emitters' temperature spread) × `PUMP_HEAD_KPA` / `PUMP_EFFICIENCY`."""
    spread_k = np.clip(SPREAD_FLOOR_K + SPREAD_PER_K * (np.asarray(t_supply_design_c) - 35.0), SPREAD_FLOOR_K,
                       SPREAD_MAX_K)  # fmt: skip
    flow_m3_s = np.asarray(design_heat_kw) / (WATER_HEAT_KWH_M3K * 3600.0 * spread_k)
    result: np.ndarray = flow_m3_s * PUMP_HEAD_KPA / PUMP_EFFICIENCY  # m³/s · kPa = kW
    return result


def auxiliary_kw(t_out_c: np.ndarray, standby_kw: np.ndarray, circulation_pump_kw: np.ndarray) -> np.ndarray:
    """Auxiliary electricity (kW) of a heat-pump system: standby all the time, the circulation pump
    below the heating limit."""
    running = np.asarray(t_out_c) < T_HEATING_LIMIT_C
    result: np.ndarray = standby_kw + np.where(running, circulation_pump_kw, 0.0)
    return result


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
