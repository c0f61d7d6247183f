"""mosaik adapter of the building model: one simulator holds many `Building` entities.

Init params (besides the required calendar `step_size`, `start`, `tz`, `n_steps`): `seed`, `site`
(dict: latitude_deg, longitude_deg, altitude_m, tz, climate), `heating_degree_days_kd` (None, the
default: the buildings are calibrated against the site's weather; a number: the energy signature
with these degree days), `name` (see below).
Create params: `spec` (dict of `BuildingSpec` fields, plus `space_heating_kwh_m2a`), `type` (a
building type of `presets.PRESETS`, default single_family: fills the demands `spec` leaves unset),
`index` (the building's number in the district; seeds its profile variation).

Profile variation (each building's time shift and noise of its appliance and hot-water demand)
comes from (`seed`, index). Give every building of a simulator an `index` (the platform numbers
the buildings of a scenario, so results do not depend on how they are split into simulators), or
none: then the simulator numbers its buildings 0, 1, … and draws from a stream of its own, derived
from `seed` and `name` (default: the simulator's mosaik id, e.g. `Building-0`), so two Building
simulators of one world never repeat each other's profiles.

Inputs: weather `t_out_c, ghi_w_m2, dni_w_m2, dhi_w_m2, wind_m_s` (required every step);
setpoints `hp_p_set_kw` (heat-pump electric power for space heating), `t_set_c` (thermostat
setpoint), `flex_shift_kw` (< 0 curtail, > 0 restore), `tank_p_th_kw` (from a hot-water tank);
a missing or None setpoint means "not given" (thermostat, no shift, no tank); `q_solar_kw` (heat
offered by the building's solar-thermal collectors, `simulators.solar_thermal`; missing: none).
Outputs: see `model.BuildingStep` (powers are step averages in kW, `p_kw` positive = import),
plus the static `hp_p_max_kw`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult, Meta, OutputData, OutputRequest

from simulators.base import TimeBasedSim, answer_from_columns
from simulators.building.model import (
    OUTPUT_ATTRS,
    BuildingFleet,
    BuildingSpec,
    BuildingStep,
    Controls,
    WeatherInputs,
)
from simulators.building.presets import DEFAULT_TYPE, with_preset
from simulators.sources.model import site_from
from simulators.sources.weather import Site
from simulators.vector import MISSING, VECTOR, InputView, Vectors, with_vector

WEATHER_INPUTS = ["t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s"]
SETPOINT_INPUTS = ["hp_p_set_kw", "t_set_c", "flex_shift_kw", "tank_p_th_kw"]
SOLAR_INPUT = "q_solar_kw"
STATIC_OUTPUTS = ["hp_p_max_kw"]

META: Meta = with_vector({
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Building": {
            "public": True,
            "params": ["spec", "type", "index"],
            "attrs": [*WEATHER_INPUTS, *SETPOINT_INPUTS, SOLAR_INPUT, *OUTPUT_ATTRS, *STATIC_OUTPUTS],
        },
    },
})  # a `Vector` entity stands for many buildings (`simulators.vector`)


class BuildingSim(TimeBasedSim):
    """Buildings stepped together as one vectorised fleet."""

    def __init__(self) -> None:
        super().__init__(META)
        self.eids: list[str] = []
        self.specs: list[BuildingSpec] = []
        self.indices: list[int] = []
        self.numbered: bool | None = None  # whether the buildings were created with an index
        self.seed = 0
        self.name = ""
        self.site = Site()
        self.hdd_kd: float | None = None
        self.fleet: BuildingFleet | None = None
        self.last: BuildingStep | None = None
        self.last_inputs: dict[str, np.ndarray] = {}
        self.position: dict[str, int] = {}
        self.columns: dict[str, list[Any]] = {}
        self.static_columns: dict[str, list[Any]] = {}
        self.vectors = Vectors()

    def configure_sim(  # type: ignore[override]  # explicit keywords
        self,
        seed: int = 0,
        site: dict[str, Any] | None = None,
        heating_degree_days_kd: float | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"{self.sid}: seed must be a whole number >= 0, got {seed!r}")
        self.seed, self.site = seed, site_from(site or {})
        self.hdd_kd = None if heating_degree_days_kd is None else float(heating_degree_days_kd)
        self.name = self.sid if name is None else str(name)

    def create(  # type: ignore[override]  # explicit keywords
        self,
        num: int,
        model: str,
        spec: dict[str, Any] | None = None,
        type: str = DEFAULT_TYPE,  # the name the scenarios use for it too
        index: int | None = None,
        members: list[str] | None = None,
    ) -> list[CreateResult]:
        if model == VECTOR:
            return self.vectors.create(num, members, self.position, self.sid)
        if model != "Building":
            raise ValueError(f"unknown model {model!r}; allowed: Building")
        if self.fleet is not None:
            raise RuntimeError(f"{self.sid}: all buildings must be created before the first step")
        numbered = index is not None
        if self.numbered is not None and numbered != self.numbered:
            raise ValueError(
                f"{self.sid}: give every Building of a simulator an index, or none (then the simulator "
                f"numbers them and derives their profiles from its seed and name)"
            )
        if numbered and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise ValueError(f"{self.sid}: index must be a whole number >= 0, got {index!r}")
        building = _spec(spec or {}, type, self.sid)
        self.numbered = numbered
        created: list[CreateResult] = []
        for k in range(num):
            eid = f"Building_{len(self.eids)}"
            self.position[eid] = len(self.eids)
            self.eids.append(eid)
            self.specs.append(building)
            self.indices.append(len(self.indices) if index is None else index + k)
            created.append({"eid": eid, "type": "Building"})
        return created

    def profile_seed(self) -> int:
        """The seed of the buildings' profile variation: `seed` for numbered buildings, else a
        stream of this simulator's own (`stream_seed(seed, name)`)."""
        return self.seed if self.numbered else stream_seed(self.seed, self.name)

    def _weather(self, view: InputView) -> WeatherInputs:
        columns: dict[str, np.ndarray] = {}
        for attr in WEATHER_INPUTS:
            column = view.column(attr, self.eids, self.position)
            if column is not None and MISSING not in column:
                columns[attr] = np.array(column, dtype=float)
                continue
            inputs = view.expanded()
            try:
                values = [next(iter(inputs[eid][attr].values())) for eid in self.eids]
            except (KeyError, StopIteration):
                missing = next(e for e in self.eids if not inputs.get(e, {}).get(attr))
                raise ValueError(
                    f"{self.sid}.{missing}: no {attr} input; connect a Weather entity to every building"
                ) from None
            columns[attr] = np.array(values, dtype=float)
        return WeatherInputs(**columns)

    def _controls(self, view: InputView) -> Controls:
        return Controls(**{attr: self._input(view, attr) for attr in SETPOINT_INPUTS})

    def _input(self, view: InputView, attr: str) -> np.ndarray:
        return view.input_column(attr, self.eids, self.position)

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        view = InputView(inputs, self.vectors, self.sid)
        if self.fleet is None:
            if not self.eids:
                raise RuntimeError(f"{self.sid}: no buildings were created")
            self.fleet = BuildingFleet(
                self.specs, self.indices, self.site, self.step_size_s, self.profile_seed(), self.hdd_kd
            )
            self.fleet.set_time_axis(self.times)
        weather, controls = self._weather(view), self._controls(view)
        solar = self._input(view, SOLAR_INPUT)
        self.last_inputs = {**vars(weather), **vars(controls), SOLAR_INPUT: solar}
        now = self.timestamp(self.step_index)
        self.last = self.fleet.step(now, time_s, self.step_index, weather, controls, solar)
        # Python lists once per step, answered by `answer_from_columns`; inputs are read back rarely
        # (tests, debugging), so their lists (NaN → None: not given) are built on request
        self.columns = _Columns(self.last_inputs)
        self.columns.update((attr, array.tolist()) for attr, array in self.last.as_dict().items())
        if not self.static_columns:  # the same every step
            self.static_columns = {"hp_p_max_kw": self.fleet.hp_p_max_kw.tolist()}
        self.columns.update(self.static_columns)

    def get_data(self, outputs: OutputRequest) -> OutputData:
        if self.last is None or self.fleet is None:
            raise RuntimeError(f"{self.sid}: get_data before the first step")
        try:
            plain, vectors = self.vectors.split(outputs)
            data = answer_from_columns(plain, self.position, self.columns)
            if vectors:
                data.update(self.vectors.answer(vectors, self.columns.__getitem__, self.position))
            return data
        except KeyError as exc:
            raise ValueError(f"{self.sid}: unknown entity or attribute {exc.args[0]!r}") from None

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        return self.get_data({eid: attrs})[eid]


def stream_seed(seed: int, name: str) -> int:
    """A seed of its own for the buildings of simulator `name` (63 bits of SHA-256 of both): the
    same for the same (seed, name) in every process, different for different names."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _spec(spec: dict[str, Any], building_type: str, sid: str) -> BuildingSpec:
    """A building's checked parameters: `spec` filled from `building_type`'s preset."""
    if not isinstance(spec, dict):
        raise ValueError(f"{sid}: spec must be a dict of building parameters, got {type(spec).__name__}")
    try:
        filled = with_preset(spec, building_type)
    except ValueError as exc:
        raise ValueError(f"{sid}: {exc}") from None
    filled.pop("space_heating_kwh_m2a", None)  # used by the preset, not a model parameter
    try:
        return BuildingSpec.from_dict(filled)
    except ValueError as exc:
        raise ValueError(f"{sid}: {exc}") from None


class _Columns(dict[str, list[Any]]):
    """Output columns; an input's column is made from the step's input arrays when first asked for."""

    def __init__(self, inputs: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.inputs = inputs

    def __missing__(self, attr: str) -> list[Any]:
        if attr not in self.inputs:
            raise KeyError(attr)
        column = self[attr] = [None if v != v else v for v in self.inputs[attr].tolist()]
        return column
