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
from mosaik_api_v3.types import CreateResult, Meta

from simulators.base import TimeBasedSim, given, sum_inputs
from simulators.storage.model import StorageFleet, StorageSpec, StorageStep

COMMON_OUTPUTS = ["clipped_kw", "e_kwh", "soc", "loss_kw", "capacity_kwh"]
POWER_ATTRS = {"Battery": ("p_set_kw", "p_kw"), "Tank": ("p_th_set_kw", "p_th_kw")}

META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        model: {"public": True, "params": ["spec"], "attrs": [set_attr, p_attr, *COMMON_OUTPUTS]}
        for model, (set_attr, p_attr) in POWER_ATTRS.items()
    },
}


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

    def create(self, num: int, model: str, spec: dict[str, Any] | None = None) -> list[CreateResult]:
        if model not in POWER_ATTRS:
            raise ValueError(f"unknown model {model!r}; allowed: {', '.join(POWER_ATTRS)}")
        if self.fleet is not None:
            raise RuntimeError(f"{self.sid}: all storage units must be created before the first step")
        kind = "battery" if model == "Battery" else "tank"
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"{model}_{len(self.eids)}"
            self.eids.append(eid)
            self.models.append(model)
            self.specs.append(StorageSpec.from_dict({**(spec or {}), "kind": kind}))
            created.append({"eid": eid, "type": model})
        return created

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        if self.fleet is None:
            if not self.eids:
                raise RuntimeError(f"{self.sid}: no storage units were created")
            self.fleet = StorageFleet(self.specs)
        setpoints = np.full(len(self.eids), np.nan)
        for i, (eid, model) in enumerate(zip(self.eids, self.models, strict=True)):
            sources = inputs.get(eid, {}).get(POWER_ATTRS[model][0])
            if given(sources):
                setpoints[i] = sum_inputs(sources)
        self.setpoints = setpoints
        self.last = self.fleet.step(setpoints, self.step_size_s / 3600.0)

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        if self.last is None or self.fleet is None:
            raise RuntimeError(f"{self.sid}: get_data before the first step")
        i = int(eid.rsplit("_", 1)[1])
        set_attr, p_attr = POWER_ATTRS[self.models[i]]
        out: dict[str, Any] = {}
        for attr in attrs:
            if attr == p_attr:
                out[attr] = float(self.last.p_kw[i])
            elif attr == set_attr:
                out[attr] = None if np.isnan(self.setpoints[i]) else float(self.setpoints[i])
            elif attr == "capacity_kwh":
                out[attr] = float(self.fleet.cap[i])
            else:
                out[attr] = float(getattr(self.last, attr)[i])
        return out
