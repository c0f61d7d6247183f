"""The control path of a run: one mosaik control adapter (`adapter.ControlAdapter`) composed of the
run's controller (`controllers`: plug-ins in process, MQTT agents, ADMM, MPC) and, over MQTT, the
lockstep exchange (`exchange.MqttExchange`)."""

from cosim.control.adapter import (
    BATTERY_INPUTS,
    MEASUREMENT_INPUTS,
    PREDICTIVE_INPUTS,
    SETPOINT_OUTPUTS,
    TANK_INPUTS,
    ControlAdapter,
    ControlStep,
    DistrictController,
)

__all__ = [
    "BATTERY_INPUTS",
    "MEASUREMENT_INPUTS",
    "PREDICTIVE_INPUTS",
    "SETPOINT_OUTPUTS",
    "TANK_INPUTS",
    "ControlAdapter",
    "ControlStep",
    "DistrictController",
]
