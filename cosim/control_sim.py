"""mosaik adapter running the baseline controllers in process (one `Agent` entity per building).

Inputs (from the building, same step): p_kw, p_base_kw, pv_kw, t_in_c, flex_available_kw,
flex_backlog_kwh; (from the building's battery, time-shifted) soc, capacity_kwh.
Outputs: battery_p_set_kw (applies within the step), hp_p_set_kw, t_set_c, flex_shift_kw (apply
from the next step, through time-shifted connections). None = no setpoint.
See `controllers.baseline` for the timing contract.
"""

from __future__ import annotations

from typing import Any

from mosaik_api_v3.types import CreateResult, Meta

from controllers.baseline import (
    BaselineController,
    BuildingSetpoints,
    DsmWindow,
    make_controller,
    measurement_from_values,
)
from simulators.base import TimeBasedSim

MEASUREMENT_INPUTS = ["p_kw", "p_base_kw", "pv_kw", "t_in_c", "flex_available_kw", "flex_backlog_kwh"]
BATTERY_INPUTS = ["soc", "capacity_kwh"]
SETPOINT_OUTPUTS = ["battery_p_set_kw", "hp_p_set_kw", "t_set_c", "flex_shift_kw"]

META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Agent": {
            "public": True,
            "params": ["kind", "dsm"],
            "attrs": MEASUREMENT_INPUTS + BATTERY_INPUTS + SETPOINT_OUTPUTS,
        },
    },
}


def _first(sources: dict[str, Any]) -> float | None:
    """The value of the (single) source connected to an input; None when there is none."""
    value = next(iter(sources.values()), None)
    return None if value is None else float(value)


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


class ControlSim(TimeBasedSim):
    """Baseline controllers stepped every control step."""

    def __init__(self) -> None:
        super().__init__(META)
        self.controllers: dict[str, BaselineController] = {}
        self.setpoints: dict[str, BuildingSetpoints] = {}
        self.received: dict[str, dict[str, float | None]] = {}

    def create(  # type: ignore[override]  # explicit keywords
        self, num: int, model: str, kind: str = "none", dsm: dict[str, Any] | None = None
    ) -> list[CreateResult]:
        if model != "Agent":
            raise ValueError(f"unknown model {model!r}; allowed: Agent")
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"Agent_{len(self.controllers)}"
            self.controllers[eid] = make_controller(kind, DsmWindow(**dsm) if dsm else None)
            self.setpoints[eid] = BuildingSetpoints()
            created.append({"eid": eid, "type": "Agent"})
        return created

    def measurements(self, inputs: dict[str, Any]) -> dict[str, dict[str, float | None]]:
        """Each agent's measurement as a flat name → value mapping (inputs, step_s, hour_local):
        what an MQTT agent receives, so both transports decide on identical data."""
        now = self.times[self.step_index]
        clock = {"step_s": float(self.step_size_s), "hour_local": now.hour + now.minute / 60.0}
        values: dict[str, dict[str, float | None]] = {}
        for eid in self.controllers:
            received = {attr: _first(sources) for attr, sources in inputs.get(eid, {}).items()}
            self.received[eid] = received
            missing = [a for a in MEASUREMENT_INPUTS if received.get(a) is None]
            if missing:
                raise ValueError(f"{self.sid}.{eid}: no input for {missing}; connect the agent's building")
            values[eid] = {**received, **clock}
        return values

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        for eid, values in self.measurements(inputs).items():
            self.setpoints[eid] = self.controllers[eid].step(measurement_from_values(time_s, values))

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        sp = self.setpoints[eid]
        names = {
            "battery_p_set_kw": sp.battery_p_kw,
            "hp_p_set_kw": sp.hp_p_kw,
            "t_set_c": sp.t_set_c,
            "flex_shift_kw": sp.flex_shift_kw,
        }
        received = self.received.get(eid, {})
        # mosaik reads None as "no output": an unset setpoint goes out as NaN, which simulators read as unset
        return {a: _nan_if_none(names[a]) if a in names else received.get(a) for a in attrs}
