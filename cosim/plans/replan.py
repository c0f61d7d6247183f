"""Rolling day-ahead re-planning in the run loop (scenario `plan.planner.replan_hour`).

The first plans are made before the run (step 0, the initial states). Then, at the first control
step at or after `replan_hour` (local time) of every later day, the model-predictive controller
(ADMM or centralised MPC) calls `replan_if_due` with the states it has just measured, before it
builds the step's data: the energy-hub planner (`cosim.plans.source.DayAheadPlanner`) plans every
building over `horizon_h` hours from that step on the forecasts issued at that step (the scenario's
`forecast:` section: forecasters that see only the data before the step; without it the twin's exact
values) and the measured indoor, mass and battery states. The new schedules replace the run's
(`RunContext.schedules`, which the in-process controllers read) and, over MQTT, are republished as
retained `plan` messages before the step's forecasts go out: the broker has them queued for each
agent when it acknowledges them, so every agent tracks its new plan from that very step, as in
process.

A re-plan the planner cannot make (infeasible, unbounded, solver failure: `PlannerError`) is
logged as a warning and the controllers keep tracking the plans they have (the `plans` table then
has no plan issued at that step); the first plans, made before the run, stop it with the planner's
message as before.

Every plan, the first included, goes to the `plans` table: one row per building and plan step
(`time_s` the step's start on the run's clock, `issued_s` the plan's issue time, the planned
series `p_kw`, `hp_p_kw`, `battery_e_kwh`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pandas as pd

from controllers.plans import PlanSet
from cosim.plans.handdown import Schedule, load_plans
from cosim.plans.source import DayAheadPlanner, horizon_steps
from cosim.scenario.model import Scenario
from planner.hub.errors import PlannerError

if TYPE_CHECKING:
    from cosim.control.forecast import MeasuredState
    from cosim.results.writer import ResultsWriter
    from cosim.world.context import RunContext

__all__ = ["PLANS_TABLE", "Replanner", "plan_rows", "replan_if_due"]

PLANS_TABLE = "plans"
log = logging.getLogger(__name__)
PLAN_SERIES = ("p_kw", "hp_p_kw", "battery_e_kwh")


def plan_rows(plans: PlanSet, schedules: dict[str, Schedule], issued_s: int,
              start: pd.Timestamp) -> list[dict[str, Any]]:
    """The `plans` table's rows of one plan set: every building's planned series per plan step."""
    rows: list[dict[str, Any]] = []
    for building, schedule in schedules.items():
        plan = plans.plans[schedule.asset]
        for j in range(plan.n_steps):
            time_s = schedule.start_s + j * schedule.step_s
            row: dict[str, Any] = {
                "time_s": time_s,
                "timestamp": start + pd.Timedelta(seconds=time_s),
                "entity": building,
                "issued_s": issued_s,
            }
            for name in PLAN_SERIES:
                values = plan.series.get(name)
                row[name] = None if values is None else float(values[j])
            rows.append(row)
    return rows


class Replanner:
    """The run's day-ahead planner and when it re-plans (see the module docstring)."""

    def __init__(self, scenario: Scenario, writer: ResultsWriter | None = None) -> None:
        source = None if scenario.plan is None else scenario.plan.planner
        if source is None or source.replan_hour is None:
            raise ValueError("re-planning needs plan.planner.replan_hour")
        self.scenario = scenario
        self.hour = source.replan_hour
        self.planner = DayAheadPlanner(scenario, source.policy, source.margin_k, horizon_steps(scenario))
        self.writer = writer
        self.times = self.planner.forecaster.times
        self.issued: list[int] = []  # control steps at which plans were made

    @classmethod
    def of(cls, scenario: Scenario, writer: ResultsWriter | None = None) -> Replanner | None:
        """The scenario's re-planner, None unless it re-plans."""
        source = None if scenario.plan is None else scenario.plan.planner
        return None if source is None or source.replan_hour is None else cls(scenario, writer)

    def due(self, step: int) -> bool:
        """Whether `replan_hour` of some day falls in (start of step − 1, start of step]."""
        if step <= 0:
            return False
        before, now = self.times[step - 1], self.times[step]
        at = now.normalize() + pd.Timedelta(hours=self.hour)
        return bool(before < at <= now)

    def plans_at(self, step: int, states: Sequence[MeasuredState] | None = None) -> PlanSet:
        """The plans issued at `step` (recorded in the `plans` table when a writer is given)."""
        plans = self.planner.plans_at(step, states)
        self.issued.append(step)
        if self.writer is not None:
            schedules = load_plans(self.scenario, plans)
            start = self.times[0]
            self.writer.add_rows(PLANS_TABLE, plan_rows(plans, schedules, step * self.scenario.step, start))
        return plans

    def replan(self, context: RunContext, step: int, states: Sequence[MeasuredState]) -> None:
        """Plan from `step`, hand the plans to the in-process controllers and publish them (or keep
        the current ones when the planner cannot plan)."""
        try:
            plans = self.plans_at(step, states)
        except PlannerError as exc:
            log.warning("re-plan at step %d (%s) failed, the current plans stay: %s", step,
                        self.times[step], exc)
            return
        schedules = load_plans(self.scenario, plans)
        context.schedules = schedules
        publish = context.publish_plans
        if publish is not None:
            _off_the_loop(publish, schedules)


def _off_the_loop(publish: Callable[[dict[str, Schedule]], object], schedules: dict[str, Schedule]) -> None:
    """Run `publish` (it runs its own event loop) in a worker thread: the controller steps inside
    mosaik's running loop. Waits for it: the plans are on the broker before the step goes on."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replan") as pool:
        pool.submit(publish, schedules).result()


def replan_if_due(context: RunContext, step: int, states: Sequence[MeasuredState]) -> None:
    """The run loop's hook: re-plan at control step `step` when the scenario's hour has come."""
    replanner = context.replanner
    if replanner is not None and replanner.due(step):
        replanner.replan(context, step, states)
