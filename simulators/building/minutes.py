"""The minute loop of a building step in NumPy: thermostat hysteresis, window ventilation and the
2R2C update, minute by minute, for the whole fleet at once. `kernel` does the same per building in
compiled code (what runs when numba is installed); this is the reference it is tested against and
the fallback. Per minute and building

    on   = t_in < low  or  (on  and not t_in > high)
    cool = cooling and not on and (t_in > c_high or (cool and not t_in < c_low))
    g    = h_night  if t_in > t_night and t_out < t_in               (night ventilation)
           h_win    if venting and t_in > t_vent and t_out < t_in     (windows opened by day)
           0        otherwise
    x'   = ((a_0 · t_in + a_1 · t_mass) + (b_on if on else b_cool if cool else b_off))
           + (b_1 · (g · (t_out − t_in)) if g opened else 0)          (each row of the 2R2C state)

(window ventilation is a heat flow into the air node set by the minute's starting temperature;
`t_night` is +inf in a step without night ventilation) and,
summed from zero minute after minute and divided by the number of minutes at the end, the heating
heat (q_on or q_off), the cooling heat (q_cool or 0), the mid-minute indoor temperature and the
comfort violations below (max(t_min − t_mid, 0)) and above (max(t_mid − t_max, 0)) the band.

The loop costs ~11 array operations per minute whatever the fleet's size (~0.1 ms for a 15-minute
step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ventilation:
    """Window ventilation of a fleet in one step (arrays of shape (n,); `b_air` (2, n) the discrete
    model's column for heat into the air node). By day above `t_open_c`; in a step with night
    ventilation above `t_night_c` (+inf: none in this step) with the conductance `h_night_kw_k`."""

    enabled: np.ndarray
    t_open_c: np.ndarray
    h_win_kw_k: np.ndarray
    t_out_c: np.ndarray
    b_air: np.ndarray
    t_night_c: np.ndarray
    h_night_kw_k: np.ndarray


@dataclass(frozen=True)
class Cooling:
    """The reversible heat pump's cooling thermostat in one step (arrays of shape (n,); `bu_cool`
    (2, n) the model's inputs while cooling; `q_cool` the heat it removes, ≥ 0)."""

    enabled: np.ndarray
    low: np.ndarray
    high: np.ndarray
    bu_cool: np.ndarray
    q_cool: np.ndarray


@dataclass(frozen=True)
class MinuteResult:
    """New states (x (n, 2), heater and cooler on/off) and the step means."""

    x: np.ndarray
    hp_on: np.ndarray
    cool_on: np.ndarray
    heat: np.ndarray
    cool: np.ndarray
    t_in_mean: np.ndarray
    cold: np.ndarray
    hot: np.ndarray


def simulate_minutes_numpy(
    x: np.ndarray,
    hp_on: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    a_0: np.ndarray,
    a_1: np.ndarray,
    bu_on: np.ndarray,
    bu_off: np.ndarray,
    q_on: np.ndarray,
    q_off: np.ndarray,
    t_min: np.ndarray,
    t_max: np.ndarray,
    n_sub: int,
    vent: Ventilation,
    cooling: Cooling,
    cool_on: np.ndarray,
) -> MinuteResult:
    """`n_sub` minutes for every building. `x` (n, 2) indoor and mass temperature, `hp_on` (n,)
    heater state, `a_0`, `a_1`, `bu_on`, `bu_off` (2, n) the columns of the discrete model and its
    inputs with the heater on / off. Returns the new state and heater state and the step means of
    heat, mid-minute indoor temperature and comfort violation below and above the band."""
    n = x.shape[0]
    t_in_path = np.empty((n_sub + 1, n))  # indoor temperature at every minute boundary
    on_path = np.empty((n_sub, n), dtype=bool)  # heater state in every minute
    cool_path = np.empty((n_sub, n), dtype=bool)
    t_in, t_mass = x[:, 0], x[:, 1]
    t_in_path[0] = t_in
    x_next = x.T
    for k in range(n_sub):
        # on below `low`, off above `high`, else as before; `hp_on > above` is `hp_on & ~above`
        # in one call (True > False is the only true case)
        hp_on = (t_in < low) | (hp_on > (t_in > high))
        on_path[k] = hp_on
        cool_on = cooling.enabled & ~hp_on & ((t_in > cooling.high) | (cool_on > (t_in < cooling.low)))
        cool_path[k] = cool_on
        cooler = vent.t_out_c < t_in
        by_night = cooler & (t_in > vent.t_night_c)
        opened = (vent.enabled & (t_in > vent.t_open_c) & cooler) | by_night
        h_open = np.where(by_night, vent.h_night_kw_k, vent.h_win_kw_k)
        inputs = np.where(hp_on, bu_on, np.where(cool_on, cooling.bu_cool, bu_off))
        x_next = ((a_0 * t_in + a_1 * t_mass) + inputs) + np.where(
            opened, vent.b_air * (h_open * (vent.t_out_c - t_in)), 0.0
        )
        t_in, t_mass = x_next[0], x_next[1]
        t_in_path[k + 1] = t_in
    t_mid = 0.5 * (t_in_path[:-1] + t_in_path[1:])
    cold, hot = np.maximum(t_min - t_mid, 0.0), np.maximum(t_mid - t_max, 0.0)
    heat = np.where(on_path, q_on, q_off)
    cool = np.where(cool_path, cooling.q_cool, 0.0)
    heat_sum, cool_sum, t_mid_sum, cold_sum, hot_sum = _sum_rows(heat, cool, t_mid, cold, hot)
    return MinuteResult(np.ascontiguousarray(x_next.T), hp_on, cool_on, heat_sum / n_sub, cool_sum / n_sub,
                        t_mid_sum / n_sub, cold_sum / n_sub, hot_sum / n_sub)  # fmt: skip


def _sum_rows(*arrays: np.ndarray) -> np.ndarray:
    """Σ of the rows of each 2-D array (all of one shape), added one after the other starting from
    zero: the order of a running sum `total += row` (`np.sum` may pair them differently and change
    the last bit). One accumulation for all of them: it runs along the first axis, element by
    element, so each array's sums are those it would get alone."""
    rows, n = arrays[0].shape
    padded = np.empty((rows + 1, len(arrays), n))
    padded[0] = 0.0
    for i, a in enumerate(arrays):
        padded[1:, i] = a
    total: np.ndarray = np.add.accumulate(padded, axis=0)[-1]
    return total
