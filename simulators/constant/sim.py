"""mosaik simulator whose `Constant` entities output fixed values and accept any inputs.

Init params: `attrs` (the output attribute names the entities may have), `step_size`, and
`timing_key` (in process only: append a wall-clock stamp per step to `STEP_TIMES[timing_key]`,
which the benchmarks read). Create params: `values` (attr → value). Inputs are accepted and ignored,
so the simulator can stand in
for any consumer (the benchmark's bare mosaik world uses it for every entity).
"""

from __future__ import annotations

import copy
from time import perf_counter
from typing import Any

import mosaik_api_v3
from mosaik_api_v3.types import CreateResult, Meta, OutputData, OutputRequest

STEP_TIMES: dict[str, list[float]] = {}

BASE_META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {"Constant": {"public": True, "params": ["values"], "attrs": [], "any_inputs": True}},
}


class ConstantSim(mosaik_api_v3.Simulator):
    """Entities with constant outputs."""

    def __init__(self) -> None:
        super().__init__(copy.deepcopy(BASE_META))  # type: ignore[no-untyped-call]  # mosaik_api_v3 is untyped
        self.values: dict[str, dict[str, Any]] = {}
        self.step_size = 900
        self.stamps: list[float] | None = None

    def init(
        self,
        sid: str,
        time_resolution: float = 1.0,
        attrs: list[str] | None = None,
        step_size: int = 900,
        timing_key: str | None = None,
        **_: Any,
    ) -> Meta:
        self.step_size = int(step_size)
        if timing_key is not None:
            self.stamps = STEP_TIMES.setdefault(timing_key, [])
        self.meta["models"]["Constant"]["attrs"] = list(attrs or [])
        return self.meta

    def create(  # type: ignore[override]  # explicit keywords
        self, num: int, model: str, values: dict[str, Any] | None = None
    ) -> list[CreateResult]:
        unknown = set(values or {}) - set(self.meta["models"]["Constant"]["attrs"])
        if unknown:
            raise ValueError(f"attributes {sorted(unknown)} not declared in init(attrs=...)")
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"Constant_{len(self.values)}"
            self.values[eid] = dict(values or {})
            created.append({"eid": eid, "type": "Constant"})
        return created

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        if self.stamps is not None:
            self.stamps.append(perf_counter())
        return time + self.step_size

    def get_data(self, outputs: OutputRequest) -> OutputData:
        return {eid: {a: self.values[eid].get(a) for a in attrs} for eid, attrs in outputs.items()}
