"""The MQTT transport of the control adapter: one lockstep exchange per control step.

`MqttExchange.exchange` publishes every agent's measurement (and forecast, for model-predictive
agents) and the clock tick through the run's `SyncBridge`, waits until every agent has answered or
the step timeout expires (a late agent's last setpoint is used; recorded in `control_events`), and
records every MQTT message (`mqtt_messages`) and the step's exchange timings (`control_steps`).

In real-time mode (`controller.mode: realtime`) it paces the run on the wall clock: step t starts
at run start + t / `realtime_factor` and must be answered by the next step's start (the deadline);
late agents fall back as in lockstep, and the start lag and deadline misses of every step go to
`control_steps`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cosim.control.adapter import ControlStep, Values
from cosim.mqtt.bridge_core import ExchangeResult
from cosim.mqtt.bridge_sync import SyncBridge
from cosim.world.context import RunContext

__all__ = ["MqttExchange", "Pacing"]


@dataclass(frozen=True)
class Pacing:
    """Wall-clock schedule of one real-time step (Unix seconds) and how late it started."""

    start_unix_s: float
    deadline_unix_s: float
    start_lag_s: float


class MqttExchange:
    """Lockstep (or real-time) exchanges with the run's MQTT agents; `final_clock`: the last step's
    clock says `final` (agents end after answering it)."""

    def __init__(self, context: RunContext, *, final_clock: bool = True) -> None:
        if context.bridge is None:
            raise RuntimeError(
                "control over MQTT: the run context has no bridge (start the control plane first)"
            )
        self.context = context
        self.bridge: SyncBridge = context.bridge
        self.final_clock = final_clock
        self.wall_start: float | None = None

    def exchange(
        self,
        step: ControlStep,
        measurements: dict[str, Values],
        forecasts: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    ) -> ExchangeResult:
        """Send the step's measurements (agent → values, clock included) and forecasts, collect the
        answers, and record the step."""
        pacing = self._pace(step)
        result = self.bridge.exchange(
            step.index,
            measurements,
            time_s=step.time_s,
            step_s=step.step_s,
            deadline_unix_s=None if pacing is None else pacing.deadline_unix_s,
            forecasts=forecasts,
            final=self.final_clock and step.final,
        )
        self._record(step, result, pacing)
        return result

    def _record(self, step: ControlStep, result: ExchangeResult, pacing: Pacing | None) -> None:
        writer = self.context.writer
        if result.late_agents:
            writer.add_rows(
                "control_events",
                [
                    {
                        "time_s": step.time_s,
                        "timestamp": step.timestamp,
                        "entity": agent,
                        "kind": "late",
                        "fallback": result.fallback_sources.get(agent, "none"),
                    }
                    for agent in result.late_agents
                ],
            )
        records = self.bridge.drain_rows()
        if records:
            writer.add_rows("mqtt_messages", [{"time_s": step.time_s, **r} for r in records])
        writer.add_rows(
            "control_steps",
            [
                {
                    "time_s": step.time_s,
                    "timestamp": step.timestamp,
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

    def _pace(self, step: ControlStep) -> Pacing | None:
        """Real time: wait until this step's wall-clock start (run start + time / factor), then
        give the exchange the step's deadline (the next step's start). None in lockstep."""
        controller = self.context.scenario.controller
        if controller.mode != "realtime":
            return None
        factor = controller.realtime_factor
        if self.wall_start is None:
            self.wall_start = time.time() - step.time_s / factor
        start = self.wall_start + step.time_s / factor
        now = time.time()
        if now < start:
            time.sleep(start - now)  # pacing the co-simulation itself: nothing else runs meanwhile
        return Pacing(start, start + step.step_s / factor, max(0.0, time.time() - start))
