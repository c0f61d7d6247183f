"""Baseline controllers: `none` and `rule_based`. Pure Python, no mosaik, no MQTT.

Timing contract (the same for the in-process adapter and the MQTT bridge): at control time t a
controller receives the building's step [t, t+Δ) as simulated under the previous setpoints (its
net power, base load, PV, indoor temperature at t+Δ, flexible-load state) and its battery's state
of charge at t. It answers with the battery power for [t, t+Δ) (batteries react within the step,
like a real inverter reading the meter) and the heat-pump, thermostat and load-shift setpoints
for the next step [t+Δ, t+2Δ). None means "no setpoint" (thermostat, battery idle, no shift).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import NonNegativeFloat

from controllers.measurements import (
    MEASURED,
    SETPOINT_NAMES,
    BuildingMeasurement,
    BuildingSetpoints,
    measurement_from_values,
)
from controllers.plugin import BuildingController, ControllerContext, ControllerParams

__all__ = [
    "MEASURED", "SETPOINT_NAMES", "BuildingMeasurement", "BuildingSetpoints", "DsmWindow", "NoControl",
    "RuleBased", "measurement_from_values",
]

class NoControl(BuildingController):
    """Heat pumps follow their thermostats, batteries stay idle, no load is shifted."""

    kind = "none"

    def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
        return BuildingSetpoints()


@dataclass(frozen=True)
class DsmWindow:
    """Curtail flexible load in [start_h, end_h) local time, restore within `restore_within_h` after."""

    start_h: int = 17
    end_h: int = 20
    restore_within_h: float = 4.0


class DsmParams(ControllerParams):
    """The demand-side-management window of `RuleBased` (local hours; see `DsmWindow`)."""

    start_h: int = 17
    end_h: int = 20
    restore_within_h: NonNegativeFloat = 4.0


class RuleBasedParams(ControllerParams):
    """`dsm`: the window, or None for no demand-side management."""

    dsm: DsmParams | None = None


class RuleBased(BuildingController):
    """Battery self-consumption (charge on PV surplus, discharge on import: p_bat = −p_building,
    limited to what the battery can take over the step) and, with a DSM window, the study's
    demand-side management: curtail the flexible load inside the window, restore the backlog evenly
    until the deadline."""

    kind = "rule_based"
    Params = RuleBasedParams

    def __init__(self, dsm: DsmWindow | None = None) -> None:
        super().__init__()
        self.dsm = dsm

    @classmethod
    def build(cls, params: ControllerParams, context: ControllerContext) -> RuleBased:
        if not isinstance(params, RuleBasedParams):
            raise TypeError(f"RuleBased takes RuleBasedParams, got {type(params).__name__}")
        dsm = params.dsm
        controller = cls(None if dsm is None else DsmWindow(dsm.start_h, dsm.end_h, dsm.restore_within_h))
        controller.params, controller.context = params, context
        return controller

    def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
        battery = None
        if m.battery_capacity_kwh:
            battery = -m.p_kw
            # ask only for what the battery can take (C-rate, full or empty), not more to be clipped
            if m.battery_p_charge_max_kw is not None and battery > m.battery_p_charge_max_kw:
                battery = m.battery_p_charge_max_kw
            if m.battery_p_discharge_max_kw is not None and battery < -m.battery_p_discharge_max_kw:
                battery = -m.battery_p_discharge_max_kw
        return BuildingSetpoints(battery_p_kw=battery, flex_shift_kw=self._flex(m))

    def _flex(self, m: BuildingMeasurement) -> float | None:
        if self.dsm is None:
            return None
        step_h = m.step_s / 3600.0
        next_hour = (m.hour_local + step_h) % 24.0
        if self.dsm.start_h <= next_hour < self.dsm.end_h:
            return -m.flex_available_kw
        if m.flex_backlog_kwh > 0:
            hours_after_window = (next_hour - self.dsm.end_h) % 24.0
            hours_left = max(self.dsm.restore_within_h - hours_after_window, step_h)
            return m.flex_backlog_kwh / hours_left
        return None
