"""The one mosaik control adapter: one `Agent` entity per building, composed of the run's controller.

Whatever decides (controller plug-ins in process or as MQTT agents, ADMM in process or over MQTT,
the centralised MPC, an external controller), the co-simulation sees the same simulator: the same
entities, inputs, outputs and timing. What differs is the `DistrictController` the adapter holds
(`cosim.control.controllers.make_controller` picks it from the scenario's controller kind and
transport); the MQTT ones hold an `MqttExchange` (`cosim.control.exchange`), the transport.

Inputs (from the building, same step): p_kw, p_base_kw, pv_kw, t_in_c, flex_available_kw,
flex_backlog_kwh, and with a hot-water tank dhw_th_kw and cop; for the model-predictive kinds also
t_mass_c, heat_th_kw, cop, q_kvar; (from the building's battery, time-shifted) soc, capacity_kwh,
p_charge_max_kw, p_discharge_max_kw and battery_p_kw (its power over the step before); (from its
tank, same step: the state when the next setpoint applies) tank_soc, tank_capacity_kwh,
tank_p_charge_max_kw, tank_p_discharge_max_kw and the applied tank_p_th_kw. Outputs:
battery_p_set_kw (applies within the step), hp_p_set_kw, t_set_c, flex_shift_kw, tank_p_th_set_kw
(apply from the next step, through time-shifted connections). None = no setpoint. See
`controllers.measurements` for the timing contract.

An Agent created with `role="storage"` is a standalone storage unit's: it has only its battery's
inputs, and the adapter gives its controller the district's net load before storage (the sum of the
building agents' `p_kw` of the step) as its `p_kw` and `p_base_kw`, their PV as `pv_kw`, their mean
indoor temperature as `t_in_c`; it answers `battery_p_set_kw`.

The adapter runs in process; the run's `RunContext` (results writer, scenario, bridges) is its init
parameter `context`. Without one (a plain mosaik scenario) it runs controller plug-ins in process.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from mosaik_api_v3.types import CreateResult, Meta, OutputData, OutputRequest

from controllers.measurements import BuildingSetpoints
from cosim.attacks import Attack, run_attacks
from cosim.control.sensors import bus_measurements, noisy
from cosim.scenario.attacks import SensorNoise, sensor_noise
from cosim.world.context import RunContext
from simulators.base import TimeBasedSim
from simulators.vector import MISSING, VECTOR, InputView, Vectors, with_vector

__all__ = [
    "BATTERY_INPUTS",
    "MEASUREMENT_INPUTS",
    "META",
    "PREDICTIVE_INPUTS",
    "SETPOINT_OUTPUTS",
    "TANK_INPUTS",
    "ControlAdapter",
    "ControlStep",
    "DistrictController",
    "Values",
]

MEASUREMENT_INPUTS = ["p_kw", "p_base_kw", "pv_kw", "t_in_c", "flex_available_kw", "flex_backlog_kwh"]
BATTERY_INPUTS = ["soc", "capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw"]
PREDICTIVE_INPUTS = ["t_mass_c", "heat_th_kw", "cop", "q_kvar"]  # the building's state for MPC and ADMM
TANK_INPUTS = [
    "tank_soc", "tank_capacity_kwh", "tank_p_charge_max_kw", "tank_p_discharge_max_kw", "tank_p_th_kw",
]
HOT_WATER_INPUTS = ["dhw_th_kw", "cop"]  # from the building, for a tank's controller
SETPOINT_OUTPUTS = ["battery_p_set_kw", "hp_p_set_kw", "t_set_c", "flex_shift_kw", "tank_p_th_set_kw"]
ROLES = ("building", "storage")
NAN = float("nan")
_MEASURED = frozenset(MEASUREMENT_INPUTS)
_SETPOINTS = frozenset(SETPOINT_OUTPUTS)

Values = dict[str, float | None]

META: Meta = with_vector({
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Agent": {
            "public": True,
            "params": ["kind", "params", "agent_id", "role"],
            "attrs": [
                *MEASUREMENT_INPUTS, *BATTERY_INPUTS, "battery_p_kw", *PREDICTIVE_INPUTS, "dhw_th_kw",
                *TANK_INPUTS,
                *SETPOINT_OUTPUTS,
            ],
        },
    },
})  # a `Vector` entity stands for many agents (`simulators.vector`)


@dataclass(frozen=True)
class ControlStep:
    """One control step as the controllers see it."""

    index: int
    time_s: int
    step_s: int
    timestamp: Any  # pandas Timestamp, local time
    hour_local: float
    final: bool  # the run's last step
    # the grid side's measurement of each building's power at its bus (kW), where the run's
    # anomaly checks have one (cosim.control.sensors.bus_measurements)
    bus_kw: Mapping[str, float] | None = None

    @property
    def clock(self) -> dict[str, float]:
        """What a measurement carries beyond the building's values (as over MQTT)."""
        return {"step_s": float(self.step_s), "hour_local": self.hour_local}

    def wire(self, received: dict[str, Values]) -> dict[str, Values]:
        """Each agent's measurement as it travels over MQTT: its values and the clock, with a value
        that is not a finite number (a gas boiler's heat-pump COP is NaN) sent as None, the
        messages' "no value"."""
        clock: Values = dict(self.clock)
        return {
            agent: {k: v if v is None or math.isfinite(v) else None for k, v in values.items()} | clock
            for agent, values in received.items()
        }


class DistrictController(ABC):
    """What decides in a run: every building's setpoints for a control step.

    `setup(agents, step_s, storage)` is called once, before the first step, with the agents' names
    in creation order and the names of those that are standalone storage units (the others are
    buildings). `step` gets each agent's received inputs (floats; None where an input has no
    value) and the previous setpoints, and returns the new setpoints per agent (an agent left out
    gets no setpoint)."""

    def setup(  # noqa: B027  # an optional hook
        self, agents: list[str], step_s: int, storage: frozenset[str] = frozenset()
    ) -> None:
        """Prepare for `agents` (nothing by default)."""

    @abstractmethod
    def step(
        self, step: ControlStep, received: dict[str, Values], previous: dict[str, BuildingSetpoints]
    ) -> dict[str, BuildingSetpoints]:
        """Setpoints per agent for `step`."""


class ControlAdapter(TimeBasedSim):
    """Controllers stepped every control step (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(META)
        self.context: RunContext | None = None
        self.kind = "none"
        self.params: dict[str, Any] = {}
        self.agents: dict[str, str] = {}  # eid -> agent (building or storage unit) name
        self.storage: dict[str, str] = {}  # eid -> name, the standalone storage units' agents
        self.controller: DistrictController | None = None
        self.setpoints: dict[str, BuildingSetpoints] = {}  # by agent
        self.received: dict[str, Values] = {}  # by eid, for get_data
        self.attacks: list[Attack] = []  # the run's attacks (their measurement hooks act here)
        self.noise: SensorNoise | None = None  # the sensors' noise (cosim.scenario.attacks.Sensors)
        self.vectors = Vectors()
        self.position: dict[str, int] = {}  # eid -> position among the agents
        self.eids: list[str] = []  # the agents' entity ids, in creation order

    def configure_sim(self, context: RunContext | None = None) -> None:  # type: ignore[override]
        self.context = context

    def create(  # type: ignore[override]  # explicit keywords
        self,
        num: int,
        model: str,
        kind: str = "none",
        params: dict[str, Any] | None = None,
        agent_id: str | None = None,
        role: str = "building",
        members: list[str] | None = None,
    ) -> list[CreateResult]:
        if model == VECTOR:
            return self.vectors.create(num, members, self.agents, self.sid)
        if model != "Agent":
            raise ValueError(f"unknown model {model!r}; allowed: Agent")
        if role not in ROLES:
            raise ValueError(f"unknown agent role {role!r}; allowed: {', '.join(ROLES)}")
        if agent_id is not None and num != 1:
            raise ValueError("create one Agent at a time when naming it (agent_id)")
        if self.agents and (kind, params or {}) != (self.kind, self.params):
            raise ValueError("every Agent of one control adapter has the same controller kind and params")
        self.kind, self.params = kind, dict(params or {})
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"Agent_{len(self.agents)}"
            name = agent_id or eid
            if name in self.agents.values():
                raise ValueError(f"agent {name!r} exists already")
            self.position[eid] = len(self.agents)
            self.eids.append(eid)
            self.agents[eid] = name
            if role == "storage":
                self.storage[eid] = name
            self.setpoints[name] = BuildingSetpoints()
            created.append({"eid": eid, "type": "Agent"})
        return created

    def _controller(self) -> DistrictController:
        from cosim.control.controllers import make_controller

        controller = make_controller(self.kind, self.params, self.context)
        controller.setup(list(self.agents.values()), self.step_size_s, frozenset(self.storage.values()))
        if self.context is not None:
            self.attacks = run_attacks(self.context.scenario, self.context)
            self.noise = sensor_noise(self.context.scenario)
        return controller

    def _received(self, view: InputView) -> dict[str, Values]:
        """Every agent's inputs (the single source's value of each, as float; None when there is
        none), checked and kept for `get_data`; by agent name."""
        inputs, columns = self._vector_columns(view)
        rows = _rows(columns, len(self.eids))
        checked = not inputs and _measured(columns)  # every agent has all its measurements
        empty: dict[str, Any] = {}
        out: dict[str, Values] = {}
        for received, (eid, name) in zip(rows, self.agents.items(), strict=True):
            entity = inputs.get(eid, empty)
            if entity:
                try:  # every input has a value: the usual case
                    received.update(
                        {attr: float(next(iter(sources.values()))) for attr, sources in entity.items()}
                    )
                except (TypeError, StopIteration):  # a None value, or an input without a source
                    received.update({
                        attr: None if (value := next(iter(sources.values()), None)) is None else float(value)
                        for attr, sources in entity.items()
                    })
            self.received[eid] = received
            if not checked:
                self._check(eid, received)
            out[name] = received
        if self.storage:
            _district_view(out, set(self.storage.values()))
        return out

    def _vector_columns(self, view: InputView) -> tuple[dict[str, Any], list[tuple[str, list[Any]]]]:
        """The step's inputs over per-entity connections, and those over vector entities as one
        column per attribute (all inputs per entity where a column cannot be read that way)."""
        columns = []
        for attr in view.by_attr:
            column = view.column(attr, self.eids, self.position)
            if column is None:
                return view.expanded(), []
            columns.append((attr, column))
        return view.plain, columns

    def _check(self, eid: str, received: Values) -> None:
        """Refuse a building agent's inputs without its measurements."""
        if eid not in self.storage and (None in received.values() or not received.keys() >= _MEASURED):
            missing = [a for a in MEASUREMENT_INPUTS if received.get(a) is None]
            if missing:
                raise ValueError(f"{self.sid}.{eid}: no input for {missing}; connect the agent's building")

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        view = InputView(inputs, self.vectors, self.sid)
        if self.controller is None:
            self.controller = self._controller()
        now = self.timestamp(self.step_index)
        step = ControlStep(
            self.step_index,
            time_s,
            self.step_size_s,
            now,
            now.hour + now.minute / 60.0,
            self.step_index == self.n_steps - 1,
        )
        received = self._received(view)
        if self.noise is not None and self.context is not None:
            key = (self.context.scenario.seed, self.step_index)
            if self.context.scenario.detection is not None:
                step = dataclasses.replace(step, bus_kw=bus_measurements(received, self.noise, key))
            received = noisy(received, self.noise, key)
        if self.attacks:
            received = self._attacked(step, received)
        decided = self.controller.step(step, received, self.setpoints)
        self.setpoints = {name: decided.get(name, _UNSET) for name in self.agents.values()}
        for attack in self.attacks:  # actuator attacks: between the agents and their devices
            self.setpoints = {n: attack.setpoints(step.time_s, n, sp) for n, sp in self.setpoints.items()}

    def _attacked(self, step: ControlStep, received: dict[str, Values]) -> dict[str, Values]:
        """The measurements as the attacks let them through (`cosim.attacks`), each active attack
        recorded in the `attacks` table."""
        rows = []
        for attack in self.attacks:
            if attack.active(step.time_s):
                rows.append({"time_s": step.time_s, "timestamp": step.timestamp, "entity": attack.target,
                             "kind": attack.kind, "magnitude": attack.magnitude})
            received = {agent: attack.measurement(step.time_s, agent, v) for agent, v in received.items()}
        if rows and self.context is not None:
            self.context.writer.add_rows("attacks", rows)
        return received

    def get_data(self, outputs: OutputRequest) -> OutputData:
        outputs, vectors = self.vectors.split(outputs)
        data = self._entity_data(outputs)
        if vectors:
            data.update(self.vectors.answer(vectors, self._column, self.position))
        return data

    def _column(self, attr: str) -> list[Any]:
        """One output of every agent, in creation order (what a vector entity's lists pick from)."""
        field = _SETPOINT_FIELDS.get(attr)
        if field is not None:
            values = [getattr(self.setpoints[name], field) for name in self.agents.values()]
            return [NAN if v is None else v for v in values]
        return [self.received.get(eid, {}).get(attr) for eid in self.agents]

    def _entity_data(self, outputs: OutputRequest) -> OutputData:
        data: OutputData = {}
        exact: dict[tuple[str, ...], bool] = {}  # per attribute list: just the four setpoints?
        for eid, attrs in outputs.items():
            sp = self.setpoints[self.agents[eid]]
            # mosaik reads None as "no output": an unset setpoint goes out as NaN, read as unset
            row: dict[str, Any] = {
                "battery_p_set_kw": NAN if sp.battery_p_kw is None else sp.battery_p_kw,
                "hp_p_set_kw": NAN if sp.hp_p_kw is None else sp.hp_p_kw,
                "t_set_c": NAN if sp.t_set_c is None else sp.t_set_c,
                "flex_shift_kw": NAN if sp.flex_shift_kw is None else sp.flex_shift_kw,
                "tank_p_th_set_kw": NAN if sp.tank_p_th_kw is None else sp.tank_p_th_kw,
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


_SETPOINT_FIELDS = {  # output attribute -> BuildingSetpoints field
    "battery_p_set_kw": "battery_p_kw", "hp_p_set_kw": "hp_p_kw", "t_set_c": "t_set_c",
    "flex_shift_kw": "flex_shift_kw", "tank_p_th_set_kw": "tank_p_th_kw",
}
_UNSET = BuildingSetpoints()  # an agent the controller left out: no setpoint at all


def _rows(columns: list[tuple[str, list[Any]]], n: int) -> list[Values]:
    """Each agent's inputs from the vector entities' columns (floats, None where a source sent
    none; an attribute left out where no source sends it to that agent)."""
    full: list[tuple[str, list[Any]]] = []
    partial: list[tuple[str, list[Any]]] = []
    for attr, column in columns:
        if not all(type(v) is float for v in column):  # exactly float: nothing to convert
            column = [v if v is None or v is MISSING else float(v) for v in column]
        (partial if MISSING in column else full).append((attr, column))
    names = [attr for attr, _ in full]
    rows: list[Values] = (
        list(map(dict, map(zip, repeat(names), zip(*[c for _, c in full], strict=True))))
        if full
        else [{} for _ in range(n)]
    )
    for attr, column in partial:
        for row, value in zip(rows, column, strict=True):
            if value is not MISSING:
                row[attr] = value
    return rows


def _measured(columns: list[tuple[str, list[Any]]]) -> bool:
    """Whether the columns give every agent all of its measurements (none None or missing)."""
    given = dict(columns)
    return all(
        attr in given and None not in given[attr] and MISSING not in given[attr]
        for attr in MEASUREMENT_INPUTS
    )


def _district_view(received: dict[str, Values], storage: set[str]) -> None:
    """Fill the storage units' measurements in `received` with the district's net load before
    storage: the sum of the buildings' `p_kw` (and PV) of the step, their mean indoor temperature,
    and no flexible load (see the module docstring)."""
    buildings = [v for name, v in received.items() if name not in storage]
    p_kw = sum(v.get("p_kw") or 0.0 for v in buildings)
    pv_kw = sum(v.get("pv_kw") or 0.0 for v in buildings)
    temperatures = [t for v in buildings if (t := v.get("t_in_c")) is not None]
    t_in_c = sum(temperatures) / len(temperatures) if temperatures else 20.0
    district: Values = {
        "p_kw": p_kw, "p_base_kw": p_kw, "pv_kw": pv_kw, "t_in_c": t_in_c,
        "flex_available_kw": 0.0, "flex_backlog_kwh": 0.0,
    }
    for name in storage:
        received[name] = {**received[name], **district}
