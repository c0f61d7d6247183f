"""Building controller plug-ins (`controllers.plugin`) as MQTT agents.

The agent turns each `meas` message into a `BuildingMeasurement`, asks the same controller class the
in-process adapter uses, and answers with its setpoints: over MQTT or in process, the decisions are
identical. Parameters: `controller` (the kind: `none`, `rule_based` or any plug-in) and `params`
(a mapping validated against the kind's `Params`, e.g. `{"dsm": {"start_h": 17, "end_h": 20,
"restore_within_h": 4}}` for `rule_based`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from controllers.measurements import measurement_from_values
from controllers.messages import MeasMessage
from controllers.plugin import ControllerContext, build_controller
from controllers.runtime.agent import Agent, Setpoints


class BaselineAgent(Agent):
    """One building's controller plug-in on MQTT."""

    kind: ClassVar[str] = "baseline"

    def __init__(self, agent_id: str, controller: str = "none", params: Mapping[str, Any] | None = None,
                 step_s: float = 0, role: str = "building") -> None:
        super().__init__(agent_id, controller=controller, params=params)
        if role not in ("building", "storage"):
            raise ValueError(f"agent {agent_id}: role must be 'building' or 'storage', got {role!r}")
        if params is not None and not isinstance(params, Mapping):
            raise TypeError(f"agent {agent_id}: params must be a mapping, got {type(params).__name__}")
        context = ControllerContext(agent_id, int(step_s), "storage" if role == "storage" else "building")
        self.controller = build_controller(str(controller), params or {}, context)

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        if measurement is None:
            return None
        m = measurement_from_values(measurement.body.time_s or 0, measurement.body.values)
        return self.controller.step(m).to_values()
