"""Synthetic districts for tests and benchmarks: winter days, heat-pump buildings, PV, batteries.

The thermal matrices follow the same 2R2C network and calibration as
`simulators/building/thermal.py` (energy signature, ISO 13790 coupling, exact ZOH); a test checks
that both give the same (A, B). Everything is drawn from one seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.linalg

from controllers.admm.data import AgentData, Battery, FloatArray, ThermalModel
from controllers.admm.messages import AgentPlan

HEATING_DEGREE_DAYS_KD = 3000.0


def rc_matrices(
    floor_area_m2: float, space_heating_kwh_a: float, dt_h: float
) -> tuple[FloatArray, FloatArray]:
    """Discrete (A, B) of the calibrated 2R2C model (inputs t_out, q_air, q_mass)."""
    h_total = space_heating_kwh_a / (HEATING_DEGREE_DAYS_KD * 24.0)
    h_im = 9.1e-3 * 2.5 * floor_area_m2
    h_op = 0.7 * h_total
    h_me = 1.0 / (1.0 / h_op - 1.0 / h_im)
    h_ie = 0.3 * h_total
    c_in, c_m = 0.0025 * floor_area_m2, 165.0 / 3600.0 * floor_area_m2
    a_c = np.array([[-(h_ie + h_im) / c_in, h_im / c_in], [h_im / c_m, -(h_im + h_me) / c_m]])
    b_c = np.array([[h_ie / c_in, 1.0 / c_in, 0.0], [h_me / c_m, 0.0, 1.0 / c_m]])
    aug = np.zeros((5, 5))
    aug[:2, :2] = a_c * dt_h
    aug[:2, 2:] = b_c * dt_h
    phi = scipy.linalg.expm(aug)
    return phi[:2, :2].copy(), phi[:2, 2:].copy()


@dataclass(frozen=True)
class DistrictSpec:
    """Shape of a synthetic district."""

    n_buildings: int = 5
    n_storage: int = 1
    horizon: int = 24
    dt_h: float = 1.0
    battery_share: float = 0.3
    pv_share: float = 0.5
    seed: int = 0


def _daily(hours: FloatArray, peak_h: float, width_h: float) -> FloatArray:
    d = (hours - peak_h + 12.0) % 24.0 - 12.0
    return np.asarray(np.exp(-0.5 * (d / width_h) ** 2))


def synthetic_district(spec: DistrictSpec) -> list[AgentData]:
    """Buildings (heat pump, base load, some PV and batteries) followed by standalone batteries."""
    rng = np.random.default_rng(spec.seed)
    t, dt = spec.horizon, spec.dt_h
    hours: FloatArray = np.asarray((np.arange(t) * dt) % 24.0, dtype=float)
    t_out = 1.0 + 4.0 * _daily(hours, 14.0, 4.0) + rng.normal(0, 0.3, t)
    sun = np.clip(np.sin(np.pi * (hours - 8.0) / 8.0), 0.0, None)
    price = 0.22 + 0.10 * _daily(hours, 18.5, 2.0) + 0.05 * _daily(hours, 8.0, 1.5) - 0.04 * sun
    agents: list[AgentData] = []
    for i in range(spec.n_buildings):
        area = float(rng.uniform(90, 250))
        sh = area * float(rng.uniform(50, 110))
        a, b = rc_matrices(area, sh, dt)
        h_total = sh / (HEATING_DEGREE_DAYS_KD * 24.0)
        cop = 2.8 + 0.06 * (t_out - 2.0)
        solar_kw = 0.04 * area * 0.4 * sun * float(rng.uniform(0.6, 1.0))
        base = 0.25 + 0.6 * _daily(hours, 19.0, 2.0) + 0.3 * _daily(hours, 7.5, 1.0)
        base = base * float(rng.uniform(0.6, 1.5)) + rng.uniform(0, 0.1, t)
        pv = sun * float(rng.uniform(3, 8)) * 0.35 if rng.random() < spec.pv_share else np.zeros(t)
        thermal = ThermalModel(
            a=a,
            b=b,
            x0_c=np.array([21.0 + rng.uniform(-0.3, 0.3), 20.5]),
            t_out_c=t_out,
            q_air_gain_kw=0.8 * base + 0.3 * solar_kw,
            q_mass_gain_kw=0.7 * solar_kw,
            cop=cop,
            hp_p_max_kw=float(np.ceil(2.0 * h_total * 22.0 / 2.8)),
            t_min_c=np.where((hours >= 6) & (hours < 22), 20.0, 18.0),
            t_max_c=np.full(t, 24.0),
        )
        battery = None
        if rng.random() < spec.battery_share:
            cap = float(rng.choice([5.0, 10.0]))
            battery = Battery(capacity_kwh=cap, e0_kwh=0.5 * cap, e_final_min_kwh=0.5 * cap)
        agents.append(AgentData(f"b{i:04d}", dt, price, base, pv, thermal, battery))
    for j in range(spec.n_storage):
        cap = float(rng.choice([20.0, 50.0]))
        battery = Battery(capacity_kwh=cap, e0_kwh=0.5 * cap, e_final_min_kwh=0.5 * cap)
        agents.append(AgentData(f"s{j:04d}", dt, price, np.zeros(t), np.zeros(t), None, battery))
    return agents


def _roll(values: FloatArray | None) -> FloatArray | None:
    return None if values is None else np.roll(values, -1)


def next_step_data(agent: AgentData, plan: AgentPlan) -> AgentData:
    """The agent's data one control step later, assuming the forecasts came true.

    The synthetic day is periodic, so forecasts are rolled by one step; the initial state is the
    plan's prediction for the end of step 0 and the heat pump's step 0 is the setpoint sent for
    step 1 of the plan (one-step actuation delay).
    """
    thermal = agent.thermal
    if thermal is not None:
        if plan.t_in_c is None or plan.p_hp_kw is None or plan.t_mass_c is None:
            raise ValueError("plan lacks the thermal trajectories")
        rolled = {f: np.roll(getattr(thermal, f), -1) for f in ROLLED_THERMAL}
        thermal = replace(
            thermal,
            x0_c=np.array([plan.t_in_c[0], plan.t_mass_c[0]]),
            hp_p_prev_kw=float(np.clip(plan.p_hp_kw[1], 0.0, thermal.hp_p_max_kw)),
            **rolled,
        )
    battery = agent.battery
    if battery is not None:
        if plan.e_kwh is None:
            raise ValueError("plan lacks the battery energy")
        e1 = float(np.clip(plan.e_kwh[0], battery.e_min_kwh, battery.e_max_kwh))
        battery = replace(battery, e0_kwh=e1)
    return replace(
        agent,
        price_per_kwh=np.roll(agent.price_per_kwh, -1),
        p_base_kw=np.roll(agent.p_base_kw, -1),
        pv_kw=np.roll(agent.pv_kw, -1),
        export_price_per_kwh=_roll(agent.export_price_per_kwh),
        p_plan_kw=_roll(agent.p_plan_kw),
        thermal=thermal,
        battery=battery,
    )


ROLLED_THERMAL = ("t_out_c", "q_air_gain_kw", "q_mass_gain_kw", "cop", "t_min_c", "t_max_c")
