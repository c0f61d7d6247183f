"""Plan tracking: the part of a handed-down plan that falls into an agent's horizon, and the plan
as the fallback when coordination fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from controllers.admm.agent import AdmmAgent, SolverFailure
from controllers.admm.data import AgentData
from controllers.admm.messages import AgentPlan, StepDecision


def plan_window(
    values: Sequence[float], start_s: int, step_s: int, time_s: int, dt_s: int, horizon: int
) -> tuple[np.ndarray, int]:
    """The plan's value for each of the `horizon` steps of `dt_s` from `time_s`, and how many of
    them the plan covers. A step takes the plan value in force at its start (plans hold each value
    for [start_s + i·step_s, start_s + (i+1)·step_s)); steps before or after the plan take the
    nearest planned value and are not counted as covered."""
    if step_s <= 0 or dt_s <= 0 or horizon <= 0 or not values:
        raise ValueError("plan_window needs positive steps, a positive horizon and plan values")
    t = time_s + dt_s * np.arange(horizon)
    index = np.floor_divide(t - start_s, step_s)
    covered = int(np.count_nonzero((index >= 0) & (index < len(values))))
    return np.asarray(values, dtype=float)[np.clip(index, 0, len(values) - 1)], covered


def with_plan(
    data: AgentData,
    values: Sequence[float],
    start_s: int,
    step_s: int,
    time_s: int,
    weight_per_kw2: float,
) -> AgentData:
    """`data` with the plan-tracking term; unchanged when the plan does not reach the horizon."""
    dt_s = round(data.dt_h * 3600.0)
    window, covered = plan_window(values, start_s, step_s, time_s, dt_s, data.horizon)
    if covered == 0 or weight_per_kw2 <= 0:
        return data
    return replace(data, p_plan_kw=window, plan_weight_per_kw2=weight_per_kw2)


def tracks_plan(agent: AdmmAgent) -> bool:
    return agent.data.p_plan_kw is not None and agent.data.plan_weight_per_kw2 > 0


def plan_fallback(agent: AdmmAgent, decision: StepDecision, plan: AgentPlan) -> AgentPlan:
    """What the agent applies after `finalize_step` gave `plan`: when coordination failed and the
    agent tracks a handed-down plan, its own optimum with the plan term and no coordination
    (source `plan`); otherwise, or when that solve fails too (OSQP at its iteration limit), `plan`
    unchanged (the coordinator's fallback, e.g. the previous plan shifted)."""
    if decision.fallback is None or not tracks_plan(agent):
        return plan
    try:
        return dataclasses.replace(agent.solve_alone(), source="plan")
    except SolverFailure:
        return plan
