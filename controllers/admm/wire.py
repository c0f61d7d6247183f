"""ADMM data on the wire: an agent's data and the coupling map as flat series (name → list of
floats, the `forecast` messages' payload), and the typed bodies of the round messages (`admm/x`,
`admm/z`: `controllers.messages.AdmmUpdateBody`, `AdmmBroadcastBody`, `AdmmDecisionBody`).

Every structure round-trips exactly: `agent_data_from_series(agent_data_to_series(d)) == d` up to
float representation. Names use dots for nesting (`th.a`, `bat.params`); matrices are flattened row
by row with their shape where needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from controllers.admm.coupling import Coupling
from controllers.admm.data import AgentData, Battery, Tank, ThermalModel
from controllers.admm.messages import (
    CoordinatorBroadcast,
    Fallback,
    IterationRecord,
    LocalUpdate,
    StepDecision,
)
from controllers.messages import AdmmBroadcastBody, AdmmDecisionBody, AdmmRound, AdmmUpdateBody

Series = dict[str, list[float]]
SeriesIn = Mapping[str, Sequence[float] | np.ndarray]  # lists, or float arrays (a packed batch's)

THERMAL_SERIES = ("t_out_c", "q_air_gain_kw", "q_mass_gain_kw", "cop", "t_min_c", "t_max_c")
BATTERY_FIELDS = (
    "capacity_kwh",
    "e0_kwh",
    "eta_charge",
    "eta_discharge",
    "loss_per_h",
    "c_rate_per_h",
    "soc_min",
    "soc_max",
    "throughput_cost_per_kwh",
)

TANK_FIELDS = (
    "capacity_kwh", "e1_kwh", "q0_kw", "eta_charge", "eta_discharge", "loss_per_h", "c_rate_per_h",
    "soc_min", "soc_max",
)


def _list(values: object) -> list[float]:
    floats: list[float] = np.asarray(values, dtype=float).ravel().tolist()  # exact, 7× faster than a loop
    return floats


def agent_data_to_series(d: AgentData) -> Series:
    """An agent's data for one control step as flat series."""
    out: Series = {
        "dt_h": [d.dt_h],
        "price_per_kwh": _list(d.price_per_kwh),
        "p_base_kw": _list(d.p_base_kw),
        "pv_kw": _list(d.pv_kw),
        "weights": [d.plan_weight_per_kw2, d.reg_weight_per_kw2],
    }
    if d.export_price_per_kwh is not None:
        out["export_price_per_kwh"] = _list(d.export_price_per_kwh)
    if d.p_plan_kw is not None:
        out["p_plan_kw"] = _list(d.p_plan_kw)
    if d.thermal is not None:
        th = d.thermal
        out |= {
            "th.a": _list(th.a),
            "th.b": _list(th.b),
            "th.x0_c": _list(th.x0_c),
            "th.hp": [th.hp_p_max_kw] + ([] if th.hp_p_prev_kw is None else [th.hp_p_prev_kw]),
            "th.comfort": [th.comfort_linear_per_kh, th.comfort_quad_per_k2h],
        }
        out |= {f"th.{name}": _list(getattr(th, name)) for name in THERMAL_SERIES}
    if d.battery is not None:
        b = d.battery
        out["bat.params"] = [float(getattr(b, f)) for f in BATTERY_FIELDS]
        if b.e_final_min_kwh is not None:
            out["bat.e_final_min_kwh"] = [b.e_final_min_kwh]
    if d.tank is not None:
        tk = d.tank
        out["tank.params"] = [float(getattr(tk, f)) for f in TANK_FIELDS]
        out["tank.q_dhw_kw"] = _list(tk.q_dhw_kw)
        out["tank.cop_dhw"] = _list(tk.cop_dhw)
    return out


def agent_data_from_series(name: str, s: SeriesIn) -> AgentData:
    """The inverse of `agent_data_to_series` (the series as lists or float arrays); a ValueError
    names what is missing or malformed."""
    try:
        thermal = None
        if "th.a" in s:
            hp = [float(v) for v in s["th.hp"]]
            comfort = s["th.comfort"]
            thermal = ThermalModel(
                a=np.reshape(s["th.a"], (2, 2)),
                b=np.reshape(s["th.b"], (2, 3)),
                x0_c=np.asarray(s["th.x0_c"], dtype=float),
                hp_p_max_kw=hp[0],
                hp_p_prev_kw=hp[1] if len(hp) > 1 else None,
                comfort_linear_per_kh=float(comfort[0]),
                comfort_quad_per_k2h=float(comfort[1]),
                **{n: np.asarray(s[f"th.{n}"], dtype=float) for n in THERMAL_SERIES},
            )
        battery = None
        if "bat.params" in s:
            params = {f: float(v) for f, v in zip(BATTERY_FIELDS, s["bat.params"], strict=True)}
            final = s.get("bat.e_final_min_kwh")
            e_final = None if final is None or len(final) == 0 else float(final[0])
            battery = Battery(**params, e_final_min_kwh=e_final)
        tank = None
        if "tank.params" in s:
            tank = Tank(
                **{f: float(v) for f, v in zip(TANK_FIELDS, s["tank.params"], strict=True)},
                q_dhw_kw=np.asarray(s["tank.q_dhw_kw"], dtype=float),
                cop_dhw=np.asarray(s["tank.cop_dhw"], dtype=float),
            )
        weights = [float(v) for v in s.get("weights", [0.0, 1e-4])]
        return AgentData(
            name=name,
            dt_h=float(s["dt_h"][0]),
            price_per_kwh=np.asarray(s["price_per_kwh"], dtype=float),
            p_base_kw=np.asarray(s["p_base_kw"], dtype=float),
            pv_kw=np.asarray(s["pv_kw"], dtype=float),
            thermal=thermal,
            battery=battery,
            tank=tank,
            export_price_per_kwh=None
            if "export_price_per_kwh" not in s
            else np.asarray(s["export_price_per_kwh"], dtype=float),
            p_plan_kw=None if "p_plan_kw" not in s else np.asarray(s["p_plan_kw"], dtype=float),
            plan_weight_per_kw2=weights[0],
            reg_weight_per_kw2=weights[1],
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"agent {name}: malformed ADMM data ({type(exc).__name__}: {exc})") from exc


def broadcast_to_body(b: CoordinatorBroadcast) -> AdmmBroadcastBody:
    m, t = b.x_mean.shape
    return AdmmBroadcastBody(rho=b.rho, rows=m, steps=t, x_mean=_list(b.x_mean), z_mean=_list(b.z_mean),
                             u_scaled=_list(b.u_scaled))


def broadcast_from_body(tick: int, iteration: int, body: AdmmBroadcastBody) -> CoordinatorBroadcast:
    shape = (body.rows, body.steps)
    return CoordinatorBroadcast(
        tick, iteration, body.rho, *(np.reshape(v, shape) for v in (body.x_mean, body.z_mean, body.u_scaled))
    )


def update_to_body(u: LocalUpdate) -> AdmmUpdateBody:
    return AdmmUpdateBody(p_net_kw=_list(u.p_net_kw), local_cost=float(u.local_cost),
                          solve_time_s=float(u.solve_time_s), solver_iterations=int(u.solver_iterations),
                          solver_status=str(u.solver_status))


def update_from_body(agent: str, tick: int, iteration: int, body: AdmmUpdateBody) -> LocalUpdate:
    return LocalUpdate(agent, tick, iteration, np.asarray(body.p_net_kw, dtype=float), body.local_cost,
                       body.solve_time_s, body.solver_iterations, body.solver_status)


def decision_to_body(d: StepDecision, history: Sequence[IterationRecord] = ()) -> AdmmDecisionBody:
    return AdmmDecisionBody(iterations=d.iterations, converged=d.converged,
                            fallback=None if d.fallback is None else d.fallback.value, reason=d.reason[:1000],
                            rounds=rounds_of(history))


def decision_from_body(tick: int, body: AdmmDecisionBody) -> StepDecision:
    fallback = None if body.fallback is None else Fallback(body.fallback)
    return StepDecision(tick, body.iterations, body.converged, fallback, body.reason)


def rounds_of(history: Sequence[IterationRecord]) -> list[AdmmRound]:
    """The coordinator's rounds of one step as the decision message carries them."""
    return [
        AdmmRound(rho=h.rho, r_primal=h.residuals.primal, r_dual=h.residuals.dual,
                  eps_primal=h.residuals.eps_primal, eps_dual=h.residuals.eps_dual, n_fresh=h.n_fresh,
                  n_stale=h.n_stale, coordinate_time_s=h.coordinate_time_s,
                  max_solve_time_s=h.max_solve_time_s, sum_solve_time_s=h.sum_solve_time_s)
        for h in history
    ]


def round_rows(rounds: Sequence[AdmmRound]) -> list[dict[str, float]]:
    """The rounds of a decision message as rows (iteration numbers from 1), like `history_rows`."""
    return [
        {"iteration": float(k + 1), **{f: float(getattr(r, f)) for f in HISTORY_FIELDS}}
        for k, r in enumerate(rounds)
    ]


HISTORY_FIELDS = (
    "rho",
    "r_primal",
    "r_dual",
    "eps_primal",
    "eps_dual",
    "n_fresh",
    "n_stale",
    "coordinate_time_s",
    "max_solve_time_s",
    "sum_solve_time_s",
)


def history_to_series(history: Sequence[IterationRecord]) -> Series:
    """The coordinator's rounds of one step, one series per field (`history.<field>`)."""
    columns: dict[str, list[float]] = {f: [] for f in HISTORY_FIELDS}
    for h in history:
        r = h.residuals
        row = (
            *(h.rho, r.primal, r.dual, r.eps_primal, r.eps_dual, h.n_fresh, h.n_stale),
            *(h.coordinate_time_s, h.max_solve_time_s, h.sum_solve_time_s),
        )
        for f, v in zip(HISTORY_FIELDS, row, strict=True):
            columns[f].append(float(v))
    return {f"history.{f}": v for f, v in columns.items()}


def history_rows(s: SeriesIn) -> list[dict[str, float]]:
    """`history_to_series` back to one row per round (iteration numbers from 1)."""
    n = len(s.get("history.rho", ()))
    return [
        {"iteration": float(k + 1), **{f: float(s[f"history.{f}"][k]) for f in HISTORY_FIELDS}}
        for k in range(n)
    ]


def coupling_to_series(c: Coupling) -> Series:
    """The coupling map for the coordinator: shape (rows m, agents N, horizon T), then the
    row-major matrix, bounds and row scales."""
    m, n = c.matrix.shape
    return {
        "coupling.shape": [float(m), float(n), float(c.lo.shape[1])],
        "coupling.matrix": _list(c.matrix.ravel()),
        "coupling.lo": _list(c.lo.ravel()),
        "coupling.hi": _list(c.hi.ravel()),
        "coupling.row_scale": _list(c.row_scale),
        "coupling.peak_price_per_kw": [c.peak_price_per_kw],
    } | ({} if c.soft_price is None else {"coupling.soft_price": _list(_hard_as_zero(c.soft_price))})


def coupling_from_series(agents: tuple[str, ...], s: SeriesIn) -> Coupling:
    m, n, t = (int(v) for v in s["coupling.shape"])
    if n != len(agents):
        raise ValueError(f"coupling for {n} agents, the coordinator has {len(agents)}")
    return Coupling(
        agents,
        np.asarray(s["coupling.matrix"], dtype=float).reshape(m, n),
        np.asarray(s["coupling.lo"], dtype=float).reshape(m, t),
        np.asarray(s["coupling.hi"], dtype=float).reshape(m, t),
        np.asarray(s["coupling.row_scale"], dtype=float),
        float(s["coupling.peak_price_per_kw"][0]),
        _zero_as_hard(s["coupling.soft_price"]) if "coupling.soft_price" in s else None,
    )


def _hard_as_zero(price: np.ndarray) -> np.ndarray:
    """Soft-row prices for the wire, where JSON has no infinity: 0 marks a hard row."""
    return np.where(np.isfinite(price), price, 0.0)


def _zero_as_hard(values: Sequence[float] | np.ndarray) -> np.ndarray:
    price = np.asarray(values, dtype=float)
    return np.where(price > 0, price, np.inf)
