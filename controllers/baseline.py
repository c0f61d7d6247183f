"""Baseline controllers: `none` and `rule_based`. Pure Python, no mosaik, no MQTT.

Timing contract (the same for the in-process adapter and the MQTT bridge): at control time t a
controller receives the building's step [t, t+Δ) as simulated under the previous setpoints (its
net power, base load, PV, indoor temperature at t+Δ, flexible-load state) and its battery's state
of charge at t. It answers with the battery power for [t, t+Δ) (batteries react within the step,
like a real inverter reading the meter) and the heat-pump, thermostat and load-shift setpoints
for the next step [t+Δ, t+2Δ). None means "no setpoint" (thermostat, battery idle, no shift).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, NonNegativeFloat

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
    """`dsm`: the window, or None for no demand-side management. `tank_cop_ratio`: the hot-water
    COP as a share of the space-heating COP the building reports (hot water is heated to ~55 °C
    instead of ~35 °C: 0.6–0.7 by Carnot at 0–10 °C outdoors), used to turn a PV surplus into the
    tank's charging heat without importing. A standalone storage unit's thresholds come from the
    district load of the last `storage_window_h` hours, sized for `storage_energy_share` of its
    capacity (a margin for losses and the SoC limits)."""

    dsm: DsmParams | None = None
    tank_cop_ratio: Annotated[float, Field(gt=0, le=1)] = 0.6
    storage_window_h: Annotated[float, Field(gt=0)] = 24.0
    storage_energy_share: Annotated[float, Field(gt=0, le=1)] = 0.8


class RuleBased(BuildingController):
    """Rules a building (or a standalone storage unit) can follow without a model or prices.

    - Battery self-consumption: charge on PV surplus, discharge on import (p_bat = −p_building),
      limited to what the battery can take over the step (C-rate, full or empty).
    - Hot-water tank (heat-pump buildings): a PV surplus left after the battery charges the tank
      for the next step (as heat the surplus can run the heat pump for, `tank_cop_ratio`); without a
      surplus the tank serves the hot-water demand, so the heat pump's hot-water load moves to
      PV-rich hours.
    - Demand-side management with a DSM window (the urban-planning study's): curtail the flexible
      load inside the window, restore the backlog evenly until the deadline.
    - A standalone storage unit (role "storage") shaves the district's peaks and fills its valleys
      with thresholds from the last day (persistence): it discharges above the level that the past
      window's load exceeds by as much energy as the battery holds now, and charges below the level
      the load falls short of by as much as it has room for (never above the discharge level). With
      less history than the window, both energies are scaled down in proportion, so the first
      hours act cautiously.
    """

    kind = "rule_based"
    Params = RuleBasedParams

    def __init__(self, dsm: DsmWindow | None = None) -> None:
        super().__init__()
        self.dsm = dsm
        self.history_kw: deque[float] = deque()  # a storage unit's window of the district load

    @classmethod
    def build(cls, params: ControllerParams, context: ControllerContext) -> RuleBased:
        if not isinstance(params, RuleBasedParams):
            raise TypeError(f"RuleBased takes RuleBasedParams, got {type(params).__name__}")
        dsm = params.dsm
        controller = cls(None if dsm is None else DsmWindow(dsm.start_h, dsm.end_h, dsm.restore_within_h))
        controller.params, controller.context = params, context
        return controller

    def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
        if self.context.role == "storage":
            return BuildingSetpoints(battery_p_kw=self._level(m))
        battery = None
        if m.battery_capacity_kwh:
            battery = _within(-m.p_kw, m.battery_p_charge_max_kw, m.battery_p_discharge_max_kw)
        return BuildingSetpoints(
            battery_p_kw=battery, flex_shift_kw=self._flex(m), tank_p_th_kw=self._tank(m, battery or 0.0)
        )

    def _tank(self, m: BuildingMeasurement, battery_kw: float) -> float | None:
        if not m.tank_capacity_kwh or not m.cop or m.cop <= 0:  # no tank, or no heat pump to shift
            return None
        surplus_kw = -(m.p_kw + battery_kw)
        if surplus_kw > 0:
            ratio = self.params.tank_cop_ratio if isinstance(self.params, RuleBasedParams) else 0.6
            return _within(surplus_kw * m.cop * ratio, m.tank_p_charge_max_kw, 0.0)
        if m.dhw_th_kw and m.dhw_th_kw > 0:
            return _within(-m.dhw_th_kw, 0.0, m.tank_p_discharge_max_kw)
        return None

    def _level(self, m: BuildingMeasurement) -> float | None:
        if not m.battery_capacity_kwh or m.step_s <= 0:
            return None
        params = self.params if isinstance(self.params, RuleBasedParams) else RuleBasedParams()
        step_h = m.step_s / 3600.0
        window = max(round(params.storage_window_h / step_h), 1)
        self.history_kw.append(m.p_kw)
        while len(self.history_kw) > window:
            self.history_kw.popleft()
        # the energy it holds and the room it has, for peaks and valleys like those of the window
        soc = min(max(m.battery_soc if m.battery_soc is not None else 0.5, 0.0), 1.0)
        share = params.storage_energy_share * len(self.history_kw) / window
        capacity_kwh = share * m.battery_capacity_kwh
        stored_kwh, room_kwh = soc * capacity_kwh, (1 - soc) * capacity_kwh
        high = _level_exceeded_by(list(self.history_kw), stored_kwh, step_h)
        low = min(-_level_exceeded_by([-p for p in self.history_kw], room_kwh, step_h), high)
        if m.p_kw > high:
            return _within(high - m.p_kw, m.battery_p_charge_max_kw, m.battery_p_discharge_max_kw)
        if m.p_kw < low:
            return _within(low - m.p_kw, m.battery_p_charge_max_kw, m.battery_p_discharge_max_kw)
        return 0.0

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


def _level_exceeded_by(load_kw: list[float], energy_kwh: float, step_h: float) -> float:
    """The level L at which the load's energy above it, Σ max(p − L, 0)·Δt, is `energy_kwh` (the
    load's maximum when the energy is 0)."""
    ordered = sorted(load_kw, reverse=True)
    above = 0.0  # Σ of the k largest values
    for k, p_kw in enumerate(ordered):
        above += p_kw
        following = ordered[k + 1] if k + 1 < len(ordered) else float("-inf")
        # with the k+1 largest above it: L = (Σ − E/Δt) / (k+1), valid while L ≥ the next value
        level = (above - energy_kwh / step_h) / (k + 1)
        if level >= following:
            return min(level, ordered[0])
    return ordered[-1]


def _within(p_kw: float, charge_max_kw: float | None, discharge_max_kw: float | None) -> float:
    """`p_kw` (+ = charge) limited to what a storage unit can take or give over the step (a limit
    of None is no limit)."""
    if charge_max_kw is not None and p_kw > charge_max_kw:
        return charge_max_kw
    if discharge_max_kw is not None and p_kw < -discharge_max_kw:
        return -discharge_max_kw
    return p_kw
