"""The mosaik simulator that hands measurements to MQTT agents and takes their setpoints back.

Same entities and attributes as the in-process `ControlSim` (one `Agent` per controlled building),
and the same measurement values, but each control step is one lockstep exchange through the run's
`SyncBridge`: publish every agent's measurement and the clock tick, wait until every agent has
answered or the step timeout expires, use the last setpoint of a late agent (recorded in the
`control_events` table). Every MQTT message of the run goes to the `mqtt_messages` table.

In real-time mode (`controller.mode: realtime`) the bridge paces the run on the wall clock: step t
starts at run start + t / `realtime_factor` and must be answered by the next step's start (the
deadline); late agents fall back as in lockstep, and the start lag and deadline misses of every
step go to `control_steps`.
Runs in process only: the bridge and the results writer come with its `RunContext` (init parameter
`context`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mosaik_api_v3.types import CreateResult, Meta

from controllers.baseline import BuildingSetpoints
from cosim.bridge_core import ExchangeResult
from cosim.bridge_sync import SyncBridge
from cosim.context import RunContext, require_context
from cosim.control_sim import META as CONTROL_META
from cosim.control_sim import ControlSim

META: Meta = copy.deepcopy(CONTROL_META)


@dataclass(frozen=True)
class Pacing:
    """Wall-clock schedule of one real-time step (Unix seconds) and how late it started."""

    start_unix_s: float
    deadline_unix_s: float
    start_lag_s: float


class BridgeSim(ControlSim):
    """Control over MQTT in lockstep. The last step's clock is `final` (agents, external
    controllers included, end after answering it) unless `final_clock` is False."""

    final_clock = True

    def __init__(self) -> None:
        super().__init__()
        self.meta = copy.deepcopy(META)
        self.agent_ids: dict[str, str] = {}
        self.hooks: RunContext | None = None
        self.bridge: SyncBridge | None = None
        self.wall_start: float | None = None

    def configure_sim(self, context: RunContext | None = None) -> None:  # type: ignore[override]
        hooks = require_context(context, "bridge")
        if hooks.bridge is None:
            raise RuntimeError("bridge: the run context has no MQTT bridge (start the control plane first)")
        self.hooks, self.bridge = hooks, hooks.bridge

    def create(  # type: ignore[override]  # explicit keywords
        self,
        num: int,
        model: str,
        kind: str = "none",
        params: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> list[CreateResult]:
        if agent_id is None or num != 1:
            raise ValueError("bridge: create one Agent at a time, with its agent_id")
        created = super().create(1, model, kind, params, agent_id)
        self.agent_ids[created[0]["eid"]] = agent_id
        return created

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        if self.hooks is None or self.bridge is None:
            raise RuntimeError("bridge: not configured")
        by_agent = {self.agent_ids[eid]: values for eid, values in self.measurements(inputs).items()}
        forecasts = self.forecasts(by_agent)
        pacing = self._pace(time_s)
        result = self.bridge.exchange(
            self.step_index,
            by_agent,
            time_s=time_s,
            step_s=self.step_size_s,
            deadline_unix_s=None if pacing is None else pacing.deadline_unix_s,
            forecasts=forecasts,
            final=self.final_clock and self.step_index == self.n_steps - 1,
        )
        for eid, agent in self.agent_ids.items():
            self.setpoints[eid] = BuildingSetpoints.from_values(result.setpoints.get(agent) or {})
        writer = self.hooks.writer
        timestamp = self.times[self.step_index]
        if result.late_agents:
            writer.add_rows(
                "control_events",
                [
                    {
                        "time_s": time_s,
                        "timestamp": timestamp,
                        "entity": agent,
                        "kind": "late",
                        "fallback": result.fallback_sources.get(agent, "none"),
                    }
                    for agent in result.late_agents
                ],
            )
        self.after_exchange(time_s, result)
        records = self.bridge.drain_rows()
        if records:
            writer.add_rows("mqtt_messages", [{"time_s": time_s, **r} for r in records])
        writer.add_rows(
            "control_steps",
            [
                {
                    "time_s": time_s,
                    "timestamp": timestamp,
                    "entity": "bridge",
                    "late_agents": len(result.late_agents),
                    "publish_ms": result.timings.publish_s * 1e3,
                    "wait_ms": result.timings.wait_s * 1e3,
                    "step_ms": result.timings.total_s * 1e3,
                    "start_lag_ms": None if pacing is None else pacing.start_lag_s * 1e3,
                    "deadline_missed": None if pacing is None else result.deadline_missed,
                    "deadline_lag_ms": None if pacing is None else result.lag_s * 1e3,
                }
            ],
        )

    def forecasts(
        self, measurements: dict[str, dict[str, float | None]]
    ) -> Mapping[str, Mapping[str, Sequence[float]]] | None:
        """Series to send each agent before the step (model-predictive agents); none here."""
        return None

    def after_exchange(self, time_s: int, result: ExchangeResult) -> None:
        """Record what the step's answers carry beyond setpoints; nothing here."""

    def _pace(self, time_s: int) -> Pacing | None:
        """Real time: wait until this step's wall-clock start (run start + time / factor), then
        give the exchange the step's deadline (the next step's start). None in lockstep."""
        if self.hooks is None or self.hooks.scenario is None:
            return None
        controller = self.hooks.scenario.controller
        if controller.mode != "realtime":
            return None
        factor = controller.realtime_factor
        if self.wall_start is None:
            self.wall_start = time.time() - time_s / factor
        start = self.wall_start + time_s / factor
        now = time.time()
        if now < start:
            time.sleep(start - now)  # pacing the co-simulation itself: nothing else runs meanwhile
        return Pacing(start, start + self.step_size_s / factor, max(0.0, time.time() - start))
