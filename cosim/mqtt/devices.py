"""The mosaik simulator that stands in for external (hardware-in-the-loop) buildings.

A building marked `external: true` is not simulated: its `Device` entity sends the building's
setpoints (`hp_p_set_kw`, `t_set_c`, `flex_shift_kw`, `tank_p_th_kw`) to the device over the run's
device plane and outputs the measurements the device answers with: the same attributes as a
simulated `Building`, so grid, controller and results do not know the difference. Lockstep as for
the controllers (the step waits for the device up to the step timeout; a late device's last
measurement is used and recorded in `control_events`); in real-time mode the step has a deadline.
See `cosim.mqtt.emulator` for the protocol and the emulator.
"""

from __future__ import annotations

import math
from typing import Any

from mosaik_api_v3.types import CreateResult, Meta

from cosim.mqtt.bridge_sync import SyncBridge
from cosim.world.context import RunContext, require_context
from simulators.base import TimeBasedSim
from simulators.building.model import OUTPUT_ATTRS
from simulators.building.sim import SETPOINT_INPUTS

DEVICE_OUTPUTS = [*OUTPUT_ATTRS, "hp_p_max_kw"]
META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Device": {"public": True, "params": ["device_id"], "attrs": SETPOINT_INPUTS + DEVICE_OUTPUTS}
    },
}


def _value(sources: dict[str, Any] | None) -> float | None:
    value = next(iter(sources.values()), None) if sources else None
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


class DeviceSim(TimeBasedSim):
    """External buildings reached over MQTT."""

    def __init__(self) -> None:
        super().__init__(META)
        self.devices: dict[str, str] = {}
        self.outputs_by_eid: dict[str, dict[str, Any]] = {}
        self.inputs_by_eid: dict[str, dict[str, float | None]] = {}
        self.hooks: RunContext | None = None
        self.bridge: SyncBridge | None = None

    def configure_sim(self, context: RunContext | None = None) -> None:  # type: ignore[override]
        hooks = require_context(context, "devices")
        if hooks.device_bridge is None:
            raise RuntimeError("devices: the run context has no device plane (start the control plane first)")
        self.hooks, self.bridge = hooks, hooks.device_bridge

    def create(  # type: ignore[override]  # explicit keywords
        self, num: int, model: str, device_id: str | None = None
    ) -> list[CreateResult]:
        if model != "Device" or num != 1 or device_id is None:
            raise ValueError("devices: create one Device at a time, with its device_id")
        eid = f"Device_{len(self.devices)}"
        self.devices[eid] = device_id
        return [{"eid": eid, "type": "Device"}]

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        if self.hooks is None or self.bridge is None:
            raise RuntimeError("devices: not configured")
        sent = {eid: {a: _value(inputs.get(eid, {}).get(a)) for a in SETPOINT_INPUTS} for eid in self.devices}
        self.inputs_by_eid = sent
        last_step = self.step_index == self.n_steps - 1
        result = self.bridge.exchange(
            self.step_index,
            {self.devices[eid]: values for eid, values in sent.items()},
            time_s=time_s,
            step_s=self.step_size_s,
            final=last_step,
        )
        for eid, device in self.devices.items():
            answer = result.setpoints.get(device) or {}
            if not answer and eid not in self.outputs_by_eid:
                raise TimeoutError(f"device {device} never answered; is it running (cosim emulate-device)?")
            if answer:
                self.outputs_by_eid[eid] = dict(answer)
        if result.late_agents:
            self.hooks.writer.add_rows(
                "control_events",
                [
                    {
                        "time_s": time_s,
                        "timestamp": self.times[self.step_index],
                        "entity": device,
                        "kind": "device_late",
                        "fallback": result.fallback_sources.get(device, "none"),
                    }
                    for device in result.late_agents
                ],
            )

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        measured = self.outputs_by_eid.get(eid, {})
        received = self.inputs_by_eid.get(eid, {})
        return {
            a: measured.get(a, received.get(a)) if a in DEVICE_OUTPUTS else received.get(a) for a in attrs
        }
