"""Model-predictive control of the plant's heat store (a linear programme per step, HiGHS).

At every step the plant knows the heat the network takes now, `q_network_kw`, and forecasts it
over the next `horizon_steps` steps. It then solves, over the horizon k = 0 … K−1 (all kW, Δt h):

    min  Σ_k Δt (Σ_s c_s q_sk + M u_k + ε (ch_k + dis_k))  −  v e_K

    s.t. Σ_s q_sk + dis_k − ch_k + u_k − w_k = D_k                  (header balance; w: dumped heat)
         e_k+1 = e_k (1 − λ Δt) + η_c ch_k Δt − dis_k Δt / η_d     (store energy)
         e_min ≤ e_k ≤ e_max,  0 ≤ ch_k, dis_k ≤ P,  0 ≤ q_sk ≤ Q_s,  u_k, w_k ≥ 0

with c_s the sources' price per kWh of heat, M a penalty on unserved heat far above any fuel
price (`unserved_penalty_per_kwh`), ε a small penalty on cycling the store, and v the value of
the heat left in the store at the horizon's end (the mean of the cheapest and the dearest source's
price, so the plan neither empties the store at the horizon for nothing nor fills it at any
price). Only the store power of the first step is applied; the sources then cover the network and
the store in merit order (`plant.Plant.dispatch`), which is what the programme chooses too for
constant prices. Reserving the store for the peaks and filling it from the cheap source ahead of
them is what the merit-order rule cannot do.

Forecast (`PersistenceForecast`): the same step one day earlier, shifted by today's difference
at the current step, which fades out over `fade_steps` (a level-adjusted daily persistence; the
first day falls back to the current value). It sees only data up to the current step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, csr_matrix, hstack, vstack

from simulators.heat_network.plant import Plant


@dataclass(frozen=True)
class MpcSettings:
    horizon_steps: int = 24
    unserved_penalty_per_kwh: float = 10.0
    cycle_penalty_per_kwh: float = 1e-4
    fade_steps: float = 6.0


class PersistenceForecast:
    """Level-adjusted daily persistence of one series (see the module docstring)."""

    def __init__(self, steps_per_day: int, fade_steps: float) -> None:
        self.steps_per_day = max(int(steps_per_day), 1)
        self.fade_steps = fade_steps
        self.history: list[float] = []

    def forecast(self, now: float, horizon: int) -> np.ndarray:
        """The series over the next `horizon` steps, the first being `now` (known), then records it."""
        day, hist = self.steps_per_day, self.history
        out = np.full(horizon, now, dtype=float)
        if len(hist) >= day:
            t = len(hist)  # index of the current step
            k = np.arange(horizon)
            past = np.asarray(hist[t - day : t])[k % day]  # the same steps one day earlier
            out = past + (now - hist[t - day]) * np.exp(-k / self.fade_steps)
            out[0] = now
        hist.append(now)
        return np.asarray(np.maximum(out, 0.0))


@lru_cache(maxsize=8)
def _programme(
    k_steps: int,
    prices: tuple[float, ...],
    q_max_kw: tuple[float, ...],
    p_max: float,
    e_min: float,
    e_max: float,
    eta_c: float,
    eta_d: float,
    lam: float,
    dt_h: float,
    settings: MpcSettings,
) -> tuple[np.ndarray, csr_matrix, np.ndarray]:
    """The programme's costs, equality matrix and bounds (the parts that do not change from step
    to step: built once per plant and horizon; read-only)."""
    n_src = len(prices)
    price = np.array(prices)
    # variable blocks: q (K × n_src, time-major), ch (K), dis (K), u (K), w (K), e (K, end of step)
    n_q = k_steps * n_src
    n_var = n_q + 5 * k_steps
    i_ch, i_dis, i_u, _i_w, i_e = (n_q + j * k_steps for j in range(5))
    cost = np.zeros(n_var)
    cost[:n_q] = np.tile(price, k_steps) * dt_h
    cost[i_ch : i_ch + k_steps] = settings.cycle_penalty_per_kwh * dt_h
    cost[i_dis : i_dis + k_steps] = settings.cycle_penalty_per_kwh * dt_h
    cost[i_u : i_u + k_steps] = settings.unserved_penalty_per_kwh * dt_h
    cost[i_e + k_steps - 1] = -0.5 * (price.min() + price.max())
    eye = np.eye(k_steps)
    balance = hstack(
        [
            coo_matrix(np.kron(eye, np.ones((1, n_src)))),
            coo_matrix(-eye),
            coo_matrix(eye),
            coo_matrix(eye),
            coo_matrix(-eye),
            coo_matrix((k_steps, k_steps)),
        ]
    )
    decay = 1.0 - lam * dt_h
    shift = np.eye(k_steps) - decay * np.eye(k_steps, k=-1)
    dynamics = hstack(
        [
            coo_matrix((k_steps, n_q)),
            coo_matrix(-eta_c * dt_h * eye),
            coo_matrix(dt_h / eta_d * eye),
            coo_matrix((k_steps, 2 * k_steps)),
            coo_matrix(shift),
        ]
    )
    a_eq = vstack([balance, dynamics]).tocsr()
    bounds = np.array(
        [(0.0, q) for q in q_max_kw] * k_steps
        + [(0.0, p_max)] * (2 * k_steps)
        + [(0.0, np.inf)] * (2 * k_steps)
        + [(e_min, e_max)] * k_steps
    )
    for array in (cost, bounds):
        array.setflags(write=False)
    return cost, a_eq, bounds


def plan_store_kw(plant: Plant, demand_kw: np.ndarray, dt_h: float, settings: MpcSettings) -> np.ndarray:
    """The store's power over the horizon (positive = charging) for the forecast network heat
    `demand_kw` (the first entry the current step). Raises RuntimeError if HiGHS fails."""
    store = plant.store
    if store is None:
        return np.zeros(len(demand_kw))
    k_steps, n_src = len(demand_kw), len(plant.sources)
    prices = tuple(float(s.price_per_kwh_heat) for s in plant.sources)
    p_max = float(store.p_max[0])
    e_min, e_max = float(store.e_min[0]), float(store.e_max[0])
    eta_c, eta_d, lam = float(store.eta_ch[0]), float(store.eta_dis[0]), float(store.loss[0])
    e0 = float(store.e_kwh[0])
    cost, a_eq, bounds = _programme(k_steps, prices, tuple(float(q) for q in plant.q_max_kw), p_max, e_min,
                                    e_max, eta_c, eta_d, lam, dt_h, settings)  # fmt: skip
    i_ch, i_dis = k_steps * n_src, k_steps * (n_src + 1)
    rhs_dyn = np.zeros(k_steps)
    rhs_dyn[0] = (1.0 - lam * dt_h) * e0
    b_eq = np.concatenate([np.asarray(demand_kw, dtype=float), rhs_dyn])
    result = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"store MPC: HiGHS failed ({result.message})")
    x = result.x
    return np.asarray(x[i_ch : i_ch + k_steps] - x[i_dis : i_dis + k_steps])


class StoreMpc:
    """The receding-horizon controller: forecast, plan, apply the first step's store power."""

    def __init__(self, plant: Plant, dt_h: float, settings: MpcSettings) -> None:
        self.plant, self.dt_h, self.settings = plant, dt_h, settings
        self.forecast = PersistenceForecast(round(24.0 / dt_h), settings.fade_steps)

    def store_power_kw(self, q_network_kw: float) -> float:
        demand = self.forecast.forecast(q_network_kw, self.settings.horizon_steps)
        demand[0] = q_network_kw  # the current step as it is (may be negative: heat given back)
        return float(plan_store_kw(self.plant, demand, self.dt_h, self.settings)[0])
