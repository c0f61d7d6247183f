"""The baseline controllers (`none`, `rule_based`) as MQTT agents.

The agent turns each `meas` message into a `BuildingMeasurement`, asks the same controller class the
in-process adapter uses, and answers with its setpoints: over MQTT or in process, the decisions are
identical. Parameters: `controller` ("none" | "rule_based") and, for demand-side management,
`dsm_start_h`, `dsm_end_h`, `restore_within_h` (all three, or none for no DSM).
"""

from __future__ import annotations

from typing import Any, ClassVar

from controllers.baseline import DsmWindow, make_controller, measurement_from_values
from controllers.messages import MeasMessage
from controllers.runtime.agent import Agent, Setpoints


class BaselineAgent(Agent):
    """One building's baseline controller on MQTT."""

    kind: ClassVar[str] = "baseline"

    def __init__(self, agent_id: str, **params: Any) -> None:
        super().__init__(agent_id, **params)
        dsm_keys = ("dsm_start_h", "dsm_end_h", "restore_within_h")
        dsm = None
        if all(params.get(k) is not None for k in dsm_keys):
            dsm = DsmWindow(
                int(params["dsm_start_h"]), int(params["dsm_end_h"]), float(params["restore_within_h"])
            )
        self.controller = make_controller(str(params.get("controller", "none")), dsm)

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        if measurement is None:
            return None
        m = measurement_from_values(measurement.body.time_s or 0, measurement.body.values)
        return self.controller.step(m).to_values()
