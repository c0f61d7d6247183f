"""mosaik adapter of the storage model: many `Battery` and `Tank` entities in one simulator.

Create params: `spec` (dict of `StorageSpec` fields except `kind`, which the model name gives).
Inputs: Battery `p_set_kw`, Tank `p_th_set_kw` (positive = charge; missing or None = idle;
several sources are summed). Outputs: Battery `p_kw` / Tank `p_th_kw` (applied power, positive
= charging), `p_set_kw` / `p_th_set_kw` (the setpoint received), `clipped_kw` (setpoint −
applied), `e_kwh` and `soc` at the end of the step, `loss_kw` (standing plus conversion losses,
step average), and the static `capacity_kwh`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult, Meta, OutputData, OutputRequest

from simulators.base import TimeBasedSim, answer_from_columns
from simulators.storage.model import StorageFleet, StorageSpec, StorageStep
from simulators.vector import VECTOR, InputView, Vectors, with_vector

# p_charge_max_kw / p_discharge_max_kw: the power the unit can take over the next step (≥ 0)
COMMON_OUTPUTS = [
    "clipped_kw", "e_kwh", "soc", "loss_kw", "capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw",
]
POWER_ATTRS = {"Battery": ("p_set_kw", "p_kw"), "Tank": ("p_th_set_kw", "p_th_kw")}

META: Meta = with_vector({
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        model: {"public": True, "params": ["spec"], "attrs": [set_attr, p_attr, *COMMON_OUTPUTS]}
        for model, (set_attr, p_attr) in POWER_ATTRS.items()
    },
})  # a `Vector` entity stands for many units (`simulators.vector`)


class StorageSim(TimeBasedSim):
    """Batteries and hot-water tanks stepped together."""

    def __init__(self) -> None:
        super().__init__(META)
        self.eids: list[str] = []
        self.models: list[str] = []
        self.specs: list[StorageSpec] = []
        self.fleet: StorageFleet | None = None
        self.last: StorageStep | None = None
        self.setpoints = np.zeros(0)
        self.position: dict[str, int] = {}
        self.columns: dict[str, list[Any]] = {}
        self.vectors = Vectors()

    def create(  # type: ignore[override]  # explicit keywords
        self, num: int, model: str, spec: dict[str, Any] | None = None, members: list[str] | None = None
    ) -> list[CreateResult]:
        if model == VECTOR:
            return self.vectors.create(num, members, self.position, self.sid)
        if model not in POWER_ATTRS:
            raise ValueError(f"unknown model {model!r}; allowed: {', '.join(POWER_ATTRS)}")
        if self.fleet is not None:
            raise RuntimeError(f"{self.sid}: all storage units must be created before the first step")
        kind = "battery" if model == "Battery" else "tank"
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"{model}_{len(self.eids)}"
            self.position[eid] = len(self.eids)
            self.eids.append(eid)
            self.models.append(model)
            self.specs.append(StorageSpec.from_dict({**(spec or {}), "kind": kind}))
            created.append({"eid": eid, "type": model})
        return created

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        view = InputView(inputs, self.vectors, self.sid)
        if self.fleet is None:
            if not self.eids:
                raise RuntimeError(f"{self.sid}: no storage units were created")
            self.fleet = StorageFleet(self.specs)
        setpoints = self._input(view, "p_set_kw")
        if "Tank" in self.models:  # tanks take p_th_set_kw: read it where the unit is a tank
            tanks = np.array([m == "Tank" for m in self.models])
            setpoints = np.where(tanks, self._input(view, "p_th_set_kw"), setpoints)
        self.setpoints = setpoints
        dt_h = self.step_size_s / 3600.0
        self.last = self.fleet.step(setpoints, dt_h)
        charge_max, discharge_max = self.fleet.power_limits_kw(dt_h)
        # Python lists once per step, answered by `answer_from_columns`
        p_kw = self.last.p_kw.tolist()
        set_kw = [None if v != v else v for v in setpoints.tolist()]
        self.columns = {
            "p_kw": p_kw,
            "p_th_kw": p_kw,
            "p_set_kw": set_kw,
            "p_th_set_kw": set_kw,
            "capacity_kwh": self.fleet.cap.tolist(),
            "p_charge_max_kw": charge_max,
            "p_discharge_max_kw": discharge_max,
            **{attr: getattr(self.last, attr).tolist() for attr in ("clipped_kw", "e_kwh", "soc", "loss_kw")},
        }

    def _input(self, view: InputView, attr: str) -> np.ndarray:
        return view.input_column(attr, self.eids, self.position)

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
