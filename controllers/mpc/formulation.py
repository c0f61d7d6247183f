"""The district problem in cvxpy, vectorised over agents and steps (no Python loop per step).

This is the readable reference of the local problems (`controllers.admm.local_qp` must agree with
it) and the model of the centralised MPC. Variables are (agents in the group) × (horizon) matrices;
the equations are those of `controllers.admm.data` (one function per constraint family).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from controllers.admm.data import AgentData, Battery, FloatArray, SharedLimits, Tank, ThermalModel

# cvxpy's atoms are not visible to mypy through the package namespace; they are used untyped here.
atoms: Any = cp
Expr = Any


@dataclass(frozen=True)
class DistrictModel:
    """Variables, local cost and local constraints of a group of agents (rows in `agents` order)."""

    agents: tuple[str, ...]
    p_net: cp.Variable
    variables: dict[str, cp.Variable]
    groups: dict[str, FloatArray]
    cost: Expr
    constraints: list[cp.Constraint]


def _selector(n: int, idx: np.ndarray) -> sp.csr_matrix:
    """(n × len(idx)) matrix placing group rows at agent rows."""
    return sp.csr_matrix((np.ones(idx.shape[0]), (idx, np.arange(idx.shape[0]))), shape=(n, idx.shape[0]))


def _col(values: Sequence[float] | FloatArray, t: int) -> FloatArray:
    return np.repeat(np.asarray(values, dtype=float)[:, None], t, axis=1)


def _lagged(x0: FloatArray, x: cp.Variable) -> Expr:
    """[x0, x_0, …, x_{T−2}] along the horizon (the state at the start of each step)."""
    return atoms.hstack([cp.Constant(x0[:, None]), x[:, :-1]])


def define_thermal(th: list[ThermalModel], t: int) -> tuple[dict[str, cp.Variable], list[cp.Constraint]]:
    """Dynamics t_in/t_mass,k+1 = A x_k + B [t_out_k, q_air_k + COP_k P_hp,k, q_mass_k], heat-pump
    bounds 0 ≤ P_hp ≤ P_max (the applied value at step 0 when given), comfort band with slacks ≥ 0."""
    n = len(th)
    v = {name: cp.Variable((n, t), name=name) for name in ("p_hp", "t_in", "t_mass", "s_lo", "s_hi")}
    a = np.stack([m.a for m in th])
    b = np.stack([m.b for m in th])
    x0 = np.stack([m.x0_c for m in th])
    t_out, q_air, q_mass, cop = (
        np.stack([getattr(m, f) for m in th]) for f in ("t_out_c", "q_air_gain_kw", "q_mass_gain_kw", "cop")
    )
    prev_in, prev_m = _lagged(x0[:, 0], v["t_in"]), _lagged(x0[:, 1], v["t_mass"])
    cons: list[cp.Constraint] = []
    for row, var in ((0, v["t_in"]), (1, v["t_mass"])):
        disturbance = (
            _col(b[:, row, 0], t) * t_out + _col(b[:, row, 1], t) * q_air + _col(b[:, row, 2], t) * q_mass
        )
        cons.append(
            var
            == atoms.multiply(_col(a[:, row, 0], t), prev_in)
            + atoms.multiply(_col(a[:, row, 1], t), prev_m)
            + atoms.multiply(_col(b[:, row, 1], t) * cop, v["p_hp"])
            + disturbance
        )
    hp_lo, hp_hi = np.zeros((n, t)), _col([m.hp_p_max_kw for m in th], t)
    applied = np.array([np.nan if m.hp_p_prev_kw is None else m.hp_p_prev_kw for m in th])
    fixed = ~np.isnan(applied)
    hp_lo[fixed, 0] = hp_hi[fixed, 0] = applied[fixed]
    cons += [v["p_hp"] >= hp_lo, v["p_hp"] <= hp_hi]
    t_min, t_max = np.stack([m.t_min_c for m in th]), np.stack([m.t_max_c for m in th])
    cons += [v["t_in"] + v["s_lo"] >= t_min, v["t_in"] - v["s_hi"] <= t_max, v["s_lo"] >= 0, v["s_hi"] >= 0]
    return v, cons


def define_battery(
    bats: list[Battery], dt_h: float, t: int
) -> tuple[dict[str, cp.Variable], list[cp.Constraint]]:
    """e_{k+1} = (1 − loss Δt) e_k + Δt(η_c p_ch − p_dis/η_d); 0 ≤ p_ch, p_dis; p_ch + p_dis ≤ P_max;
    e_min ≤ e ≤ e_max; e_T ≥ e_final_min."""
    n = len(bats)
    v = {name: cp.Variable((n, t), name=name) for name in ("p_ch", "p_dis", "e")}
    keep = _col([1.0 - b.loss_per_h * dt_h for b in bats], t)
    e0 = np.array([b.e0_kwh for b in bats])
    p_max = _col([b.p_max_kw for b in bats], t)
    e_lo = _col([b.e_min_kwh for b in bats], t)
    e_lo[:, -1] = [max(b.e_min_kwh, b.e_final_min_kwh or b.e_min_kwh) for b in bats]
    cons: list[cp.Constraint] = [
        v["e"]
        == atoms.multiply(keep, _lagged(e0, v["e"]))
        + atoms.multiply(_col([dt_h * b.eta_charge for b in bats], t), v["p_ch"])
        - atoms.multiply(_col([dt_h / b.eta_discharge for b in bats], t), v["p_dis"]),
        v["p_ch"] >= 0,
        v["p_dis"] >= 0,
        v["p_ch"] <= p_max,
        v["p_dis"] <= p_max,
        v["p_ch"] + v["p_dis"] <= p_max,
        v["e"] >= e_lo,
        v["e"] <= _col([b.e_max_kwh for b in bats], t),
    ]
    return v, cons


def define_tank(tanks: list[Tank], dt_h: float, t: int) -> tuple[dict[str, cp.Variable], list[cp.Constraint]]:
    """Hot-water tanks: e_k = (1 − loss Δt) e_{k−1} + Δt(η_c q_tch,k − q_tdis,k/η_d) for k ≥ 1, with
    step 0 as applied (q_tch,0, q_tdis,0 and e_0 fixed); 0 ≤ q_tdis ≤ the hot-water demand;
    q_tch + q_tdis ≤ c_rate · capacity; e_min ≤ e ≤ e_max."""
    n = len(tanks)
    v = {name: cp.Variable((n, t), name=name) for name in ("q_tch", "q_tdis", "e_tank")}
    keep = _col([1.0 - k.loss_per_h * dt_h for k in tanks], t - 1)
    q_max = _col([k.q_max_kw for k in tanks], t)
    e = v["e_tank"]
    cons: list[cp.Constraint] = [
        e[:, 1:]
        == atoms.multiply(keep, e[:, :-1])
        + atoms.multiply(_col([dt_h * k.eta_charge for k in tanks], t - 1), v["q_tch"][:, 1:])
        - atoms.multiply(_col([dt_h / k.eta_discharge for k in tanks], t - 1), v["q_tdis"][:, 1:]),
        e[:, 0] == np.array([k.e1_kwh for k in tanks]),
        v["q_tch"][:, 0] == np.array([max(k.q0_kw, 0.0) for k in tanks]),
        v["q_tdis"][:, 0] == np.array([max(-k.q0_kw, 0.0) for k in tanks]),
        v["q_tch"] >= 0,
        v["q_tdis"] >= 0,
        v["q_tdis"][:, 1:] <= np.minimum(q_max, np.stack([k.q_dhw_kw for k in tanks]))[:, 1:],
        v["q_tch"] + v["q_tdis"] <= q_max,
        e >= _col([k.e_min_kwh for k in tanks], t),
        e <= _col([k.e_max_kwh for k in tanks], t),
    ]
    return v, cons


def define_cost(
    agents: Sequence[AgentData], m: dict[str, cp.Variable], g: dict[str, FloatArray], p_net: cp.Variable
) -> Expr:
    """Σ energy cost + comfort + plan tracking + throughput + regularisation (see `AgentData`)."""
    t = agents[0].horizon
    dt = agents[0].dt_h
    split = np.array([a.export_price_per_kwh is not None for a in agents])
    price = np.stack([a.price_per_kwh for a in agents]) * dt * (~split)[:, None]
    cost: Expr = atoms.sum(atoms.multiply(price, p_net))
    plan_w = np.array([a.plan_weight_per_kw2 if a.p_plan_kw is not None else 0.0 for a in agents])
    if np.any(plan_w > 0):
        plan = np.stack([a.p_plan_kw if a.p_plan_kw is not None else np.zeros(t) for a in agents])
        cost += atoms.sum_squares(atoms.multiply(_col(np.sqrt(plan_w), t), p_net - plan))

    def reg(group: str, name: str) -> Expr:
        w = np.sqrt([agents[i].reg_weight_per_kw2 for i in g[group]])
        return atoms.sum_squares(atoms.multiply(_col(w, t), m[name]))

    if "p_imp" in m:
        ex = [agents[i] for i in g["export"]]
        cost += atoms.sum(atoms.multiply(np.stack([a.price_per_kwh for a in ex]) * dt, m["p_imp"]))
        cost -= atoms.sum(atoms.multiply(np.stack([a.export_price_per_kwh for a in ex]) * dt, m["p_exp"]))
        cost += reg("export", "p_imp") + reg("export", "p_exp")
    if "p_hp" in m:
        th = [agents[i].thermal for i in g["thermal"]]
        lin = _col([dt * x.comfort_linear_per_kh for x in th if x is not None], t)
        quad = _col([np.sqrt(dt * x.comfort_quad_per_k2h) for x in th if x is not None], t)
        cost += atoms.sum(atoms.multiply(lin, m["s_lo"] + m["s_hi"]))
        for slack in ("s_lo", "s_hi"):
            cost += atoms.sum_squares(atoms.multiply(quad, m[slack]))
        cost += reg("thermal", "p_hp")
    if "p_ch" in m:
        tp = _col([dt * agents[i].battery.throughput_cost_per_kwh for i in g["battery"]], t)
        cost += atoms.sum(atoms.multiply(tp, m["p_ch"] + m["p_dis"]))
        cost += reg("battery", "p_ch") + reg("battery", "p_dis")
    if "q_tch" in m:
        cost += reg("tank", "q_tch") + reg("tank", "q_tdis")
    return cost


def build_agents_model(agents: Sequence[AgentData]) -> DistrictModel:
    """Local variables, costs and constraints of all agents (no shared constraints)."""
    if not agents:
        raise ValueError("need at least one agent")
    t, dt = agents[0].horizon, agents[0].dt_h
    if any(a.horizon != t or a.dt_h != dt for a in agents):
        raise ValueError("all agents must share the horizon and the step")
    n = len(agents)
    p_net = cp.Variable((n, t), name="p_net")
    groups = {
        "thermal": np.array([i for i, a in enumerate(agents) if a.thermal is not None], dtype=int),
        "battery": np.array([i for i, a in enumerate(agents) if a.battery is not None], dtype=int),
        "tank": np.array([i for i, a in enumerate(agents) if a.tank is not None], dtype=int),
        "export": np.array(
            [i for i, a in enumerate(agents) if a.export_price_per_kwh is not None], dtype=int
        ),
    }
    variables: dict[str, cp.Variable] = {}
    cons: list[cp.Constraint] = []
    meter: Expr = cp.Constant(np.stack([a.p_base_kw - a.pv_kw for a in agents]))
    if groups["export"].size:
        k = groups["export"].size
        variables["p_imp"] = cp.Variable((k, t), name="p_imp")
        variables["p_exp"] = cp.Variable((k, t), name="p_exp")
        sel = _selector(n, groups["export"])
        cons += [
            sel.T @ p_net == variables["p_imp"] - variables["p_exp"],
            variables["p_imp"] >= 0,
            variables["p_exp"] >= 0,
        ]
    if groups["thermal"].size:
        v, c = define_thermal([agents[i].thermal for i in groups["thermal"]], t)
        variables |= v
        cons += c
        meter = meter + _selector(n, groups["thermal"]) @ v["p_hp"]
    if groups["battery"].size:
        v, c = define_battery([agents[i].battery for i in groups["battery"]], dt, t)
        variables |= v
        cons += c
        meter = meter + _selector(n, groups["battery"]) @ (v["p_ch"] - v["p_dis"])
    if groups["tank"].size:
        tanks = [a.tank for a in agents if a.tank is not None]
        v, c = define_tank(tanks, dt, t)
        variables |= v
        cons += c
        per_heat = np.stack([1.0 / k.cop_dhw for k in tanks])
        meter = meter + _selector(n, groups["tank"]) @ atoms.multiply(per_heat, v["q_tch"] - v["q_tdis"])
    cons.append(p_net == meter)
    cost = define_cost(agents, variables, groups, p_net)
    return DistrictModel(tuple(a.name for a in agents), p_net, variables, groups, cost, cons)


def define_shared(p_net: cp.Variable, limits: SharedLimits) -> tuple[Expr, list[cp.Constraint]]:
    """Transformer band p_min ≤ Σ_i p_i ≤ p_max, peak cost, linearised voltage band
    v_min ≤ v0 + S (p_k − p0) ≤ v_max for every step k (hard, or priced when
    `violation_price_per_pu` is set)."""
    total = atoms.sum(p_net, axis=0)
    cons: list[cp.Constraint] = [total <= limits.p_max_kw, total >= limits.p_min_kw]
    cost: Expr = cp.Constant(0.0)
    if limits.peak_price_per_kw > 0:
        cost = limits.peak_price_per_kw * atoms.pos(atoms.max(total))
    volt = limits.voltage
    if volt is not None:
        v = volt.v0_pu[:, None] + volt.s_pu_per_kw @ (p_net - volt.p0_kw[:, None])
        if volt.violation_price_per_pu is None:
            cons += [v <= volt.v_max_pu, v >= volt.v_min_pu]
        else:  # a soft band: the same exact penalty as the coordinator's soft rows
            outside = atoms.sum(atoms.pos(v - volt.v_max_pu) + atoms.pos(volt.v_min_pu - v))
            cost = cost + volt.violation_price_per_pu * outside
    return cost, cons


def local_reference_problem(
    agent: AgentData, prox_weight: float = 0.0, prox_center: FloatArray | None = None
) -> tuple[cp.Problem, DistrictModel]:
    """One agent's local problem (optionally with (w/2)‖p_net − c‖²) as the readable reference."""
    model = build_agents_model([agent])
    cost = model.cost
    if prox_weight > 0:
        center = np.zeros(agent.horizon) if prox_center is None else prox_center
        cost = cost + 0.5 * prox_weight * atoms.sum_squares(model.p_net[0] - center)
    return cp.Problem(cp.Minimize(cost), model.constraints), model
