"""Centralised MPC baseline: the whole district's problem in cvxpy, same data as the ADMM agents.

    minimise Σ_i f_i(x_i) + g(Σ_i x_i)   (local costs, peak cost; transformer and voltage bands)

Used for the optimality gap of ADMM and as a controller in its own right.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from controllers.admm.data import AgentData, FloatArray, SharedLimits
from controllers.mpc.formulation import build_agents_model, define_shared

DEFAULT_SOLVER = "CLARABEL"


@dataclass(frozen=True)
class CentralisedResult:
    """Optimum of the district problem (timings in seconds; `solve_time_s` is the solver's own)."""

    status: str
    objective: float
    p_net_kw: FloatArray
    p_hp_kw: FloatArray | None
    p_bat_kw: FloatArray | None
    build_time_s: float
    solve_time_s: float
    wall_time_s: float
    q_tank_kw: FloatArray | None = None  # hot-water tanks' heat, + = charging


def solve_centralised(
    agents: Sequence[AgentData], limits: SharedLimits, solver: str = DEFAULT_SOLVER, **solver_options: object
) -> CentralisedResult:
    """Build and solve the district problem; raises RuntimeError if the solver finds no optimum."""
    if limits.horizon != agents[0].horizon:
        raise ValueError("shared limits and agents must have the same horizon")
    start = time.perf_counter()
    model = build_agents_model(agents)
    shared_cost, shared_cons = define_shared(model.p_net, limits)
    problem = cp.Problem(cp.Minimize(model.cost + shared_cost), model.constraints + shared_cons)
    built = time.perf_counter()
    solve: Any = problem.solve  # untyped in cvxpy
    solve(solver=solver, **solver_options)
    wall = time.perf_counter() - start
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"centralised MPC: solver status {problem.status}")
    v = model.variables
    p_hp = None
    if "p_hp" in v and v["p_hp"].value is not None:
        p_hp = np.zeros(model.p_net.shape)
        p_hp[model.groups["thermal"]] = v["p_hp"].value
    p_bat = None
    if "p_ch" in v and v["p_ch"].value is not None and v["p_dis"].value is not None:
        p_bat = np.zeros(model.p_net.shape)
        p_bat[model.groups["battery"]] = v["p_ch"].value - v["p_dis"].value
    q_tank = None
    if "q_tch" in v and v["q_tch"].value is not None and v["q_tdis"].value is not None:
        q_tank = np.zeros(model.p_net.shape)
        q_tank[model.groups["tank"]] = v["q_tch"].value - v["q_tdis"].value
    stats = problem.solver_stats
    solve_time = float(stats.solve_time) if stats is not None and stats.solve_time is not None else wall
    return CentralisedResult(
        str(problem.status),
        float(problem.value),
        np.asarray(model.p_net.value, dtype=float),
        p_hp,
        p_bat,
        built - start,
        solve_time,
        wall,
        q_tank,
    )
