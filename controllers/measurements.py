"""What a building controller sees and what it answers: `BuildingMeasurement` and `BuildingSetpoints`.

Timing contract (the same in process and over MQTT): at control time t a controller receives the
building's step [t, t+Δ) as simulated under the previous setpoints (its net power, base load, PV,
indoor temperature at t+Δ, flexible-load state, hot-water heat demand and heat-pump COP), its
battery's state of charge at t and its hot-water tank's state at t+Δ. It answers with the battery
power for [t, t+Δ) (batteries react within the step, like a real inverter reading the meter) and
the heat-pump, thermostat, load-shift and tank setpoints for the next step [t+Δ, t+2Δ). None means
"no setpoint" (thermostat, battery idle, no shift, tank idle).

A standalone storage unit's agent (`ControllerContext.role` "storage") gets the same measurement
with the district's net load before storage in `p_kw`/`p_base_kw` (the sum over the buildings'
`p_kw` of the step), its PV in `pv_kw`, and its own battery's state; it answers `battery_p_kw`.

Over MQTT a measurement travels as the flat mapping `MEASURED` + `step_s`, `hour_local` and, when
present, `dhw_th_kw`, `cop`, a battery's `soc`, `capacity_kwh`, `p_charge_max_kw` and
`p_discharge_max_kw`, and a tank's `tank_soc`, `tank_capacity_kwh`, `tank_p_charge_max_kw` and
`tank_p_discharge_max_kw`; setpoints as `SETPOINT_NAMES` (docs/controllers.md lists units).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class BuildingMeasurement(NamedTuple):
    """What a building agent sees at control time `time_s` (powers in kW, + = import).

    Immutable named fields like a frozen dataclass; a NamedTuple because one is made per agent and
    step, and it is built four times faster (0.35 µs instead of 1.5 µs with eleven fields)."""

    time_s: int
    step_s: int
    hour_local: float
    p_kw: float
    p_base_kw: float
    pv_kw: float
    t_in_c: float
    flex_available_kw: float
    flex_backlog_kwh: float
    battery_soc: float | None = None
    battery_capacity_kwh: float | None = None
    battery_p_charge_max_kw: float | None = None  # what the battery can take over the step (C-rate, SoC)
    battery_p_discharge_max_kw: float | None = None
    dhw_th_kw: float | None = None  # the hot-water heat demand of the step
    cop: float | None = None  # the heat pump's COP for space heating in the step (None: no heat pump)
    tank_soc: float | None = None  # the hot-water tank's state at t+Δ, when its new setpoint applies
    tank_capacity_kwh: float | None = None
    tank_p_charge_max_kw: float | None = None  # thermal power the tank can take over a step (≥ 0)
    tank_p_discharge_max_kw: float | None = None


MEASURED = ("p_kw", "p_base_kw", "pv_kw", "t_in_c", "flex_available_kw", "flex_backlog_kwh")
SETPOINT_NAMES = ("battery_p_set_kw", "hp_p_set_kw", "t_set_c", "flex_shift_kw", "tank_p_th_set_kw")
OPTIONAL_MEASURED = (
    "soc", "capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "dhw_th_kw", "cop",
    "tank_soc", "tank_capacity_kwh", "tank_p_charge_max_kw", "tank_p_discharge_max_kw",
)  # in `BuildingMeasurement`'s field order after `flex_backlog_kwh`
_REQUIRED = (*MEASURED, "step_s", "hour_local")


def measurement_from_values(time_s: int, values: Mapping[str, float | None]) -> BuildingMeasurement:
    """A measurement from a flat name → value mapping (what travels in an MQTT `meas` message):
    the `MEASURED` values, `step_s`, `hour_local`, and optionally the `OPTIONAL_MEASURED` ones (a
    value that is not a finite number reads as None)."""
    # one pass over the names and positional arguments: this runs once per agent and step
    got = [values.get(n) for n in _REQUIRED]
    if None in got:
        missing = [n for n, v in zip(_REQUIRED, got, strict=True) if v is None]
        raise ValueError(f"measurement at {time_s} s lacks {missing}")
    p_kw, p_base_kw, pv_kw, t_in_c, flex_available_kw, flex_backlog_kwh, step_s, hour_local = got
    return BuildingMeasurement(
        time_s,
        int(step_s or 0),
        float(hour_local or 0.0),
        float(p_kw or 0.0),
        float(p_base_kw or 0.0),
        float(pv_kw or 0.0),
        float(t_in_c or 0.0),
        float(flex_available_kw or 0.0),
        float(flex_backlog_kwh or 0.0),
        *(_finite(values.get(n)) for n in OPTIONAL_MEASURED),
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or value != value or value in (_INF, -_INF) else float(value)


_INF = float("inf")


class BuildingSetpoints(NamedTuple):
    """A controller's answer; None = not set (see the module docstring for timing). A NamedTuple
    for the same reason as `BuildingMeasurement`."""

    battery_p_kw: float | None = None
    hp_p_kw: float | None = None
    t_set_c: float | None = None
    flex_shift_kw: float | None = None
    tank_p_th_kw: float | None = None  # thermal: > 0 charges the tank (the heater supplies it)

    def to_values(self) -> dict[str, float | None]:
        """Flat name → value mapping (what travels in an MQTT `setpoint` message)."""
        return dict(
            zip(
                SETPOINT_NAMES,
                (self.battery_p_kw, self.hp_p_kw, self.t_set_c, self.flex_shift_kw, self.tank_p_th_kw),
                strict=True,
            )
        )

    @classmethod
    def from_values(cls, values: Mapping[str, float | None]) -> BuildingSetpoints:
        """The inverse of `to_values`; missing names are None."""
        return cls(*(values.get(n) for n in SETPOINT_NAMES))
