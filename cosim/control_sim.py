"""mosaik adapter running building controller plug-ins in process (one `Agent` entity per building).

Each `Agent` is created with its controller `kind` and `params` (`controllers.plugin`): the
built-in `none` and `rule_based` or any plug-in, resolved and validated like a scenario's.

Inputs (from the building, same step): p_kw, p_base_kw, pv_kw, t_in_c, flex_available_kw,
flex_backlog_kwh; (from the building's battery, time-shifted) soc, capacity_kwh.
Outputs: battery_p_set_kw (applies within the step), hp_p_set_kw, t_set_c, flex_shift_kw (apply
from the next step, through time-shifted connections). None = no setpoint.
See `controllers.baseline` for the timing contract.
"""

from __future__ import annotations

from typing import Any

from mosaik_api_v3.types import CreateResult, Meta, OutputData, OutputRequest

from controllers.measurements import BuildingMeasurement, BuildingSetpoints
from controllers.plugin import BuildingController, ControllerContext, build_controller
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
            "params": ["kind", "params", "agent_id"],
            "attrs": MEASUREMENT_INPUTS + BATTERY_INPUTS + SETPOINT_OUTPUTS,
        },
    },
}


class ControlSim(TimeBasedSim):
    """Baseline controllers stepped every control step."""

    def __init__(self) -> None:
        super().__init__(META)
        self.controllers: dict[str, BuildingController] = {}
        self.setpoints: dict[str, BuildingSetpoints] = {}
        self.received: dict[str, dict[str, float | None]] = {}

    def create(  # type: ignore[override]  # explicit keywords
        self,
        num: int,
        model: str,
        kind: str = "none",
        params: dict[str, Any] | None = None,
        agent_id: str | None = None,
    ) -> list[CreateResult]:
        if model != "Agent":
            raise ValueError(f"unknown model {model!r}; allowed: Agent")
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"Agent_{len(self.controllers)}"
            context = ControllerContext(agent_id or eid, self.step_size_s)
            self.controllers[eid] = build_controller(kind, params or {}, context)
            self.setpoints[eid] = BuildingSetpoints()
            created.append({"eid": eid, "type": "Agent"})
        return created

    def measurements(self, inputs: dict[str, Any]) -> dict[str, dict[str, float | None]]:
        """Each agent's measurement as a flat name → value mapping (inputs, step_s, hour_local):
        what an MQTT agent receives, so both transports decide on identical data."""
        step_s, hour_local = self._clock()
        clock = {"step_s": step_s, "hour_local": hour_local}
        return {eid: {**received, **clock} for eid, received in self._received(inputs)}

    def _clock(self) -> tuple[float, float]:
        now = self.timestamp(self.step_index)
        return float(self.step_size_s), now.hour + now.minute / 60.0

    def _received(self, inputs: dict[str, Any]) -> list[tuple[str, dict[str, float | None]]]:
        """Every agent's inputs (the single source's value of each, as float; None when there is
        none), checked and kept for `get_data`."""
        out = []
        empty: dict[str, Any] = {}
        for eid in self.controllers:
            entity = inputs.get(eid, empty)
            try:  # every input has a value: the usual case
                received: dict[str, float | None] = {
                    attr: float(next(iter(sources.values()))) for attr, sources in entity.items()
                }
            except (TypeError, StopIteration):  # a None value, or an input without a source
                received = {
                    attr: None if (value := next(iter(sources.values()), None)) is None else float(value)
                    for attr, sources in entity.items()
                }
            self.received[eid] = received
            if None in received.values() or not received.keys() >= _MEASURED:
                missing = [a for a in MEASUREMENT_INPUTS if received.get(a) is None]
                if missing:
                    raise ValueError(
                        f"{self.sid}.{eid}: no input for {missing}; connect the agent's building"
                    )
            out.append((eid, received))
        return out

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        # `measurement_from_values(time_s, {**r, "step_s": ..., "hour_local": ...})` without the merged
        # dict: the same values (`or 0.0` included, which turns -0.0 into 0.0)
        step_s, hour_local = self._clock()
        step_s_int, hour = int(step_s or 0), float(hour_local or 0.0)
        for eid, r in self._received(inputs):
            m = BuildingMeasurement(
                time_s,
                step_s_int,
                hour,
                r["p_kw"] or 0.0,
                r["p_base_kw"] or 0.0,
                r["pv_kw"] or 0.0,
                r["t_in_c"] or 0.0,
                r["flex_available_kw"] or 0.0,
                r["flex_backlog_kwh"] or 0.0,
                r.get("soc"),
                r.get("capacity_kwh"),
            )
            self.setpoints[eid] = self.controllers[eid].step(m)

    def get_data(self, outputs: OutputRequest) -> OutputData:
        data: OutputData = {}
        exact: dict[tuple[str, ...], bool] = {}  # per attribute list: just the four setpoints?
        for eid, attrs in outputs.items():
            sp = self.setpoints[eid]
            # mosaik reads None as "no output": an unset setpoint goes out as NaN, read as unset
            row: dict[str, Any] = {
                "battery_p_set_kw": NAN if sp.battery_p_kw is None else sp.battery_p_kw,
                "hp_p_set_kw": NAN if sp.hp_p_kw is None else sp.hp_p_kw,
                "t_set_c": NAN if sp.t_set_c is None else sp.t_set_c,
                "flex_shift_kw": NAN if sp.flex_shift_kw is None else sp.flex_shift_kw,
            }
            key = tuple(attrs)
            only_setpoints = exact.get(key)
            if only_setpoints is None:
                only_setpoints = exact[key] = set(key) == _SETPOINTS
            if only_setpoints:
                data[eid] = row
                continue
            received = self.received.get(eid, {})
            data[eid] = {a: row[a] if a in row else received.get(a) for a in attrs}
        return data

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        return self.get_data({eid: attrs})[eid]


NAN = float("nan")
_MEASURED = frozenset(MEASUREMENT_INPUTS)
_SETPOINTS = frozenset(SETPOINT_OUTPUTS)
