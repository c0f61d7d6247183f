"""A building step after its exogenous inputs, one building at a time, compiled with numba.

`BuildingFleet.step` computes, for every building, the flexible-load step (`flex.step_flex`), the
heat balance of hot water and tank, the heater's inputs, the minute loop (`minutes`) and the step's
outputs, as NumPy array operations (~60 of them, ~1 µs each whatever the fleet's size). This module
does the same operations, in the same order and with NumPy's semantics for maximum, minimum, NaN
and infinities, per building in compiled code; `BuildingFleet.step` uses it when numba is installed
and the NumPy code otherwise. Both give the same numbers bit for bit
(`tests/simulators/test_building_model.py`). The exogenous inputs (demands, PV from pvlib's
arithmetic, COPs) stay in NumPy: their transcendental functions are NumPy's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

numba: Any
try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; without it the NumPy code runs
    numba = None

MAX_FLOAT = float(np.finfo(float).max)


def _jit(function: Any) -> Any:
    """numba.njit(cache=True) when numba is there; no fastmath: IEEE operations in the written
    order (no fused multiply-adds, no reassociation)."""
    return function if numba is None else numba.njit(cache=True)(function)


OUTPUTS = (
    "p_kw",
    "q_kvar",
    "hp_p_kw",
    "heat_th_kw",
    "cool_th_kw",
    "gas_kw",
    "q_district_kw",
    "p_appliances_kw",
    "p_base_kw",
    "flex_p_kw",
    "flex_available_kw",
    "flex_backlog_kwh",
    "cop",
    "t_in_mean_c",
    "comfort_violation_k",
    "comfort_cold_k",
    "comfort_hot_k",
    "deadline_s",
)
N_OUT = len(OUTPUTS)  # output rows of `_step_scalar`, in this order


@_jit
def _maximum(a: float, b: float) -> float:
    """np.maximum for two floats: NaN if either is NaN, and b when they are equal (±0)."""
    return a if (a > b or a != a) else b


@_jit
def _minimum(a: float, b: float) -> float:
    """np.minimum for two floats: NaN if either is NaN, and b when they are equal (±0)."""
    return a if (a < b or a != a) else b


@_jit
def _nan_to_zero(a: float) -> float:
    """`simulators.arrays.nan_to_zero` for one float (NaN → 0, ±inf → ± the largest float)."""
    if a != a:
        return 0.0
    if a == np.inf:
        return MAX_FLOAT
    if a == -np.inf:
        return -MAX_FLOAT
    return a


@_jit
def _cycling_factor(share: float, min_modulation: float, cd: float) -> float:
    """`heatpump.cycling_factor` for one float (the same operations)."""
    if share >= min_modulation:
        return 1.0
    x = share / min_modulation
    return x / (cd * x + (1.0 - cd))


@_jit
def _step_scalar(
    app_kw: np.ndarray,
    dhw_th_kw: np.ndarray,
    pv_kw: np.ndarray,
    q_air_gain_kw: np.ndarray,
    q_mass_gain_kw: np.ndarray,
    cop_space: np.ndarray,
    cop_dhw: np.ndarray,
    eer: np.ndarray,
    p_aux_kw: np.ndarray,
    t_night_c: np.ndarray,
    t_out_c: np.ndarray,
    hp_p_set_kw: np.ndarray,
    t_set_in_c: np.ndarray,
    flex_shift_kw: np.ndarray,
    tank_p_th_kw: np.ndarray,
    x: np.ndarray,
    hp_on: np.ndarray,
    cool_on: np.ndarray,
    backlog_kwh: np.ndarray,
    deadline_s: np.ndarray,
    params: np.ndarray,
    is_hp: np.ndarray,
    is_district: np.ndarray,
    a_0: np.ndarray,
    a_1: np.ndarray,
    b_0: np.ndarray,
    b_1: np.ndarray,
    b_2: np.ndarray,
    now_s: float,
    dt_s: float,
    n_sub: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of every building. `params` rows: flex_share, restore_within_s, hp_p_max_kw,
    boiler_q_max_kw, t_set_c, hysteresis_k, t_min_c, t_max_c, boiler_eff, tan_phi, venting (1 or
    0), t_window_open_c, h_window_kw_k, cooling (1 or 0), t_cool_set_c, h_night_kw_k,
    hp_min_modulation, hp_cycling_cd. `t_night_c`: the step's night-ventilation temperature (+inf:
    no night ventilation in this step). Returns the new (x, hp_on, cool_on) and the `OUTPUTS` rows
    (new backlog and deadline among them)."""
    n = x.shape[0]
    out = np.empty((N_OUT, n))
    x_out = np.empty((n, 2))
    on_out = np.empty(n, dtype=np.bool_)
    cool_out = np.empty(n, dtype=np.bool_)
    dt_h = dt_s / 3600.0
    for i in range(n):
        flex_share, restore_within_s = params[0, i], params[1, i]
        hp_max, boiler_q_max = params[2, i], params[3, i]
        t_set_default, hysteresis, t_min, t_max = params[4, i], params[5, i], params[6, i], params[7, i]
        boiler_eff, tan_phi = params[8, i], params[9, i]
        venting, t_open, h_win = params[10, i] > 0, params[11, i], params[12, i]
        cooling, t_cool = params[13, i] > 0, params[14, i]
        t_night, h_night = t_night_c[i], params[15, i]
        min_mod, cd = params[16, i], params[17, i]
        t_out = t_out_c[i]
        hp = is_hp[i]
        district = is_district[i]
        # flexible load (flex.step_flex)
        flexible = flex_share * app_kw[i]
        request = _nan_to_zero(flex_shift_kw[i])
        backlog, deadline = backlog_kwh[i], deadline_s[i]
        forced = backlog > 0 and now_s + dt_s >= deadline
        if forced:
            curtail = 0.0
            restore = backlog / dt_h
        else:
            curtail = _minimum(_maximum(-request, 0.0), flexible)
            restore = _minimum(_maximum(request, 0.0), backlog / dt_h)
        new_backlog = _maximum(backlog + (curtail - restore) * dt_h, 0.0)
        new_deadline = now_s + dt_s + restore_within_s if curtail > 0 else deadline  # after the last cut
        if new_backlog <= 1e-12:
            new_deadline = np.inf
            new_backlog = 0.0
        flex_p = restore - curtail
        # hot water and tank
        app_eff = app_kw[i] + flex_p
        tank = _nan_to_zero(tank_p_th_kw[i])
        dhw_from_heater = _maximum(dhw_th_kw[i] + tank, 0.0)
        surplus_to_air = _maximum(-(dhw_th_kw[i] + tank), 0.0)
        q_air_base = q_air_gain_kw[i] + flex_p + surplus_to_air
        # the heater's inputs (BuildingFleet._thermal_substeps)
        cop = cop_space[i]
        q_max = hp_max * cop if hp else boiler_q_max
        set_kw = hp_p_set_kw[i]
        held = hp and set_kw == set_kw  # a setpoint is given (not NaN)
        q_forced = _minimum(_maximum(_nan_to_zero(set_kw), 0.0), hp_max) * cop
        q_on = q_forced if held else q_max
        q_off = q_forced if held else 0.0
        t_set = t_set_default if t_set_in_c[i] != t_set_in_c[i] else t_set_in_c[i]
        low, high = t_set - hysteresis, t_set + hysteresis
        bc_in = b_0[0, i] * t_out + b_2[0, i] * q_mass_gain_kw[i]
        bc_mass = b_0[1, i] * t_out + b_2[1, i] * q_mass_gain_kw[i]
        on_in = bc_in + b_1[0, i] * (q_air_base + q_on)
        on_mass = bc_mass + b_1[1, i] * (q_air_base + q_on)
        off_in = bc_in + b_1[0, i] * (q_air_base + q_off)
        off_mass = bc_mass + b_1[1, i] * (q_air_base + q_off)
        can_cool = hp and cooling and not held
        q_cool = hp_max * eer[i]
        cool_in = bc_in + b_1[0, i] * (q_air_base - q_cool)
        cool_mass = bc_mass + b_1[1, i] * (q_air_base - q_cool)
        c_low, c_high = t_cool - hysteresis, t_cool + hysteresis
        # the minute loop (minutes.simulate_minutes)
        t_in, t_mass, on, cool = x[i, 0], x[i, 1], hp_on[i], cool_on[i]
        heat_sum, cool_sum, t_mid_sum, cold_sum, hot_sum = 0.0, 0.0, 0.0, 0.0, 0.0
        for _k in range(n_sub):
            on = t_in < low or (on and not t_in > high)
            cool = can_cool and not on and (t_in > c_high or (cool and not t_in < c_low))
            qc = 0.0
            if on:
                u_in, u_mass, q = on_in, on_mass, q_on
            elif cool:
                u_in, u_mass, q, qc = cool_in, cool_mass, q_off, q_cool
            else:
                u_in, u_mass, q = off_in, off_mass, q_off
            cooler = t_out < t_in
            by_night = cooler and t_in > t_night
            opened = (venting and t_in > t_open and cooler) or by_night
            q_vent = (h_night if by_night else h_win) * (t_out - t_in)
            v_in = b_1[0, i] * q_vent if opened else 0.0
            v_mass = b_1[1, i] * q_vent if opened else 0.0
            new_in = ((a_0[0, i] * t_in + a_1[0, i] * t_mass) + u_in) + v_in
            new_mass = ((a_0[1, i] * t_in + a_1[1, i] * t_mass) + u_mass) + v_mass
            t_mid = 0.5 * (t_in + new_in)
            heat_sum += q
            cool_sum += qc
            t_mid_sum += t_mid
            cold_sum += _maximum(t_min - t_mid, 0.0)
            hot_sum += _maximum(t_mid - t_max, 0.0)
            t_in, t_mass = new_in, new_mass
        x_out[i, 0], x_out[i, 1], on_out[i], cool_out[i] = t_in, t_mass, on, cool
        heat = heat_sum / n_sub
        cooled = cool_sum / n_sub
        # the step's outputs (BuildingFleet.step)
        # the thermostat's heat below the minimum modulation costs more electricity
        # (heatpump.cycling_factor); a held setpoint is followed at the steady-state COP
        f_cyc = _cycling_factor(heat / cop / hp_max, min_mod, cd) if (hp_max > 0 and not held) else 1.0
        hp_space = (heat / cop / f_cyc if heat > 0 else 0.0) if hp else 0.0
        dhw_el = dhw_from_heater / cop_dhw[i] if hp else 0.0
        gas = 0.0 if (hp or district) else (heat + dhw_from_heater) / boiler_eff
        q_district = heat + dhw_from_heater if district else 0.0
        cool_el = cooled / eer[i] if hp else 0.0
        aux = p_aux_kw[i] if hp else 0.0
        hp_p = hp_space + dhw_el + cool_el + aux
        consumption = app_eff + hp_p
        out[0, i] = consumption - pv_kw[i]
        out[1, i] = consumption * tan_phi
        out[2, i] = hp_p
        out[3, i] = heat
        out[4, i] = cooled
        out[5, i] = gas
        out[6, i] = q_district
        out[7, i] = app_eff
        out[8, i] = app_kw[i] + dhw_el + aux
        out[9, i] = flex_p
        out[10, i] = flexible
        out[11, i] = new_backlog
        out[12, i] = cop if hp else np.nan
        out[13, i] = t_mid_sum / n_sub
        out[14, i] = cold_sum / n_sub + hot_sum / n_sub
        out[15, i] = cold_sum / n_sub
        out[16, i] = hot_sum / n_sub
        out[17, i] = new_deadline
    return x_out, on_out, cool_out, out


Step = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
STEP: Step | None = None if numba is None else _step_scalar  # None: `BuildingFleet.step` runs its NumPy code
