"""Plant sizing for a heat-network district with the aggregated network model (the study's
multi-scale approach: the detailed model calibrates the aggregated one, the planner sizes with the
aggregated one).

1. `network_heat_kw`: the heat the plant must put into the network each hour, from the
   substations' demands, the ground and supply temperatures, through a calibrated
   `simulators.heat_network.aggregate.AggregatedModel` (demand + cluster losses + change of the
   fictive storage).
2. `size_plant`: one linear programme over the whole series (perfect foresight, HiGHS) choosing
   the capacity of every source not fixed and of the heat store (if free), and the hourly dispatch:

       min  Σ_s C_s (a·I_s + F_s) + S a·I_S + Σ_t Δt (Σ_s c_s q_st + M u_t)
       s.t. Σ_s q_st + dis_t − ch_t + u_t − w_t = D_t,   0 ≤ q_st ≤ C_s,
            e_t = e_t−1 (1 − λΔt) + η ch_t Δt − dis_t Δt / η,   0 ≤ e_t ≤ S,   ch_t, dis_t ≤ r S,
            e_T = e_0 (the store ends the year as it started)

   with I investment per kW (kWh for the store), F fixed O&M per kW and year, a the annuity, c the
   fuel price per kWh of heat, M the penalty on unserved heat and r the store's power per kWh of
   capacity. Fixed capacities enter as bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, eye, hstack, vstack

from simulators.heat_network.aggregate import AggregatedModel


@dataclass(frozen=True)
class SourceOption:
    """A heat source the planner may size: fuel price per kWh of heat, investment and fixed O&M
    per kW; `fixed_kw` set: its capacity is given."""

    name: str
    price_per_kwh: float
    invest_per_kw: float
    om_per_kw_a: float
    fixed_kw: float | None = None


@dataclass(frozen=True)
class StoreOption:
    invest_per_kwh: float
    p_per_kwh: float = 0.35
    eta: float = 0.98
    loss_per_h: float = 0.002
    fixed_kwh: float | None = None


@dataclass(frozen=True)
class Sizing:
    capacity_kw: dict[str, float]
    store_kwh: float
    heat_kwh: dict[str, float]
    unserved_kwh: float
    annual_cost: float


def network_heat_kw(
    model: AggregatedModel,
    demand_kw: np.ndarray,
    t_ground_c: np.ndarray,
    t_supply_c: np.ndarray,
    dt_h: float = 1.0,
) -> np.ndarray:
    """Heat into the network per step from the substations' demands (steps × substations, kW)."""
    x = np.column_stack([demand_kw[:, c.substations].sum(axis=1) / c.design_kw for c in model.clusters])
    return model.q_network_kw(demand_kw.sum(axis=1), x, t_ground_c, t_supply_c, dt_h)


def size_plant(
    demand_kw: np.ndarray,
    dt_h: float,
    sources: list[SourceOption],
    store: StoreOption,
    annuity: float,
    unserved_penalty_per_kwh: float = 10.0,
) -> Sizing:
    """The least-cost capacities and dispatch for the network heat `demand_kw` (one value per step)."""
    d = np.asarray(demand_kw, dtype=float)
    t, n = len(d), len(sources)
    # variables: q (n blocks of t), ch, dis, u, w, e (t each), C (n), S (1)
    i_ch, i_dis, i_u = (n * t + k * t for k in range(3))
    i_cap, i_s = n * t + 5 * t, n * t + 5 * t + n
    n_var = i_s + 1
    cost = np.zeros(n_var)
    for j, s in enumerate(sources):
        cost[j * t : (j + 1) * t] = s.price_per_kwh * dt_h
        cost[i_cap + j] = annuity * s.invest_per_kw + s.om_per_kw_a
    cost[i_u : i_u + t] = unserved_penalty_per_kwh * dt_h
    cost[i_ch : i_ch + t] = cost[i_dis : i_dis + t] = 1e-5 * dt_h
    cost[i_s] = annuity * store.invest_per_kwh
    ident = eye(t, format="coo")
    zeros = coo_matrix((t, t))
    balance = hstack([hstack([ident] * n), -ident, ident, ident, -ident, zeros, coo_matrix((t, n + 1))])
    decay = 1.0 - store.loss_per_h * dt_h
    shift = (eye(t) - decay * eye(t, k=-1)).tocoo().tolil()
    shift[0, t - 1] = -decay  # cyclic: the year's end feeds its start
    dynamics = hstack(
        [
            coo_matrix((t, n * t)),
            -store.eta * dt_h * ident,
            dt_h / store.eta * ident,
            zeros,
            zeros,
            shift.tocoo(),
            coo_matrix((t, n + 1)),
        ]
    )
    a_eq = vstack([balance, dynamics]).tocsr()
    b_eq = np.concatenate([d, np.zeros(t)])
    rows = []
    for j in range(n):  # q_jt − C_j ≤ 0
        cap_col = coo_matrix((np.full(t, -1.0), (np.arange(t), np.full(t, j))), shape=(t, n + 1))
        rows.append(
            hstack([coo_matrix((t, j * t)), ident, coo_matrix((t, (n - 1 - j) * t + 5 * t)), cap_col])
        )
    s_col = coo_matrix((np.full(t, -1.0), (np.arange(t), np.full(t, n))), shape=(t, n + 1))
    rows.append(hstack([coo_matrix((t, n * t + 5 * t - t)), ident, s_col]))  # e_t − S ≤ 0
    for block in (i_ch, i_dis):  # ch_t, dis_t − r S ≤ 0
        s_rate = coo_matrix((np.full(t, -store.p_per_kwh), (np.arange(t), np.full(t, n))), shape=(t, n + 1))
        rows.append(hstack([coo_matrix((t, block)), ident, coo_matrix((t, i_cap - block - t)), s_rate]))
    a_ub = vstack(rows).tocsr()
    bounds: list[tuple[float, float | None]] = [(0.0, None)] * (i_cap)
    bounds += [(s.fixed_kw, s.fixed_kw) if s.fixed_kw is not None else (0.0, None) for s in sources]
    bounds += [(store.fixed_kwh, store.fixed_kwh) if store.fixed_kwh is not None else (0.0, None)]
    result = linprog(
        cost, A_ub=a_ub, b_ub=np.zeros(a_ub.shape[0]), A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs"
    )
    if result.status != 0:
        raise RuntimeError(f"plant sizing: HiGHS failed ({result.message})")
    x = result.x
    return Sizing(
        capacity_kw={s.name: float(x[i_cap + j]) for j, s in enumerate(sources)},
        store_kwh=float(x[i_s]),
        heat_kwh={s.name: float(x[j * t : (j + 1) * t].sum() * dt_h) for j, s in enumerate(sources)},
        unserved_kwh=float(x[i_u : i_u + t].sum() * dt_h),
        annual_cost=float(result.fun - x[i_u : i_u + t].sum() * dt_h * unserved_penalty_per_kwh),
    )
