"""mosaik adapter of the solar-thermal collectors: one `Collector` entity per building, with its
hot-water store, feeding the building's hot-water path (the building's `q_solar_kw` input).

Init params (besides the calendar `step_size`, `start`, `tz`, `n_steps`): `site` (dict:
latitude_deg, longitude_deg; the sun's position). Create params: `spec` (`SolarThermalSpec` fields).

Per step of Δt h: the collector's heat (`model.collector_heat_w_m2` on pvlib's plane-of-array
irradiance at the step's middle, × area) and the store's content are offered to the building,

    q_solar_kw = (E · (1 − loss · Δt) + q_collector · Δt) / Δt,

the building takes what its hot water, then its space heating, need (`q_solar_used_kw`, sent back
time-shifted), and at the next step the store keeps the rest up to its capacity; what does not
fit is dumped (the collector stagnates). These are the rules of `model.dispatch`, so a run gives
its numbers step for step.

Inputs: weather `t_out_c, ghi_w_m2, dni_w_m2, dhi_w_m2` (required every step), `q_solar_used_kw`
(the building's use of the step before's offer; missing: nothing was used).
Outputs (kW, kWh): `q_solar_kw` (offered this step), `q_collector_kw`, `g_poa_w_m2`,
`e_store_kwh` (the store's content at the start of the step), `q_dumped_kw` (dumped in the step
before: settled when the building's use of it is known).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult, Meta, OutputData, OutputRequest

from simulators.base import TimeBasedSim, answer_from_columns, input_column
from simulators.solar_thermal.model import (
    CollectorArrays,
    collector_heat_w_m2,
    plane_irradiance_from_sun,
    sun_at_middle,
)
from simulators.solar_thermal.params import SolarThermalSpec
from simulators.sources.model import site_from
from simulators.sources.weather import Site

WEATHER_INPUTS = ["t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2"]
USED_INPUT = "q_solar_used_kw"
OUTPUTS = ["q_solar_kw", "q_collector_kw", "g_poa_w_m2", "e_store_kwh", "q_dumped_kw"]

META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Collector": {"public": True, "params": ["spec"], "attrs": [*WEATHER_INPUTS, USED_INPUT, *OUTPUTS]},
    },
}


class SolarThermalSim(TimeBasedSim):
    """Every building's collectors and store, stepped together."""

    def __init__(self) -> None:
        super().__init__(META)
        self.site = Site()
        self.arrays: CollectorArrays | None = None
        self.eids: list[str] = []
        self.specs: list[SolarThermalSpec] = []
        self.position: dict[str, int] = {}
        self.columns: dict[str, list[Any]] = {}
        self.sun: tuple[np.ndarray, np.ndarray] | None = None
        self.e_kwh = np.zeros(0)
        self.available_kwh: np.ndarray | None = None  # offered in the step before (kWh)

    def configure_sim(self, site: dict[str, Any] | None = None) -> None:  # type: ignore[override]
        self.site = site_from(site or {})

    def create(self, num: int, model: str, spec: dict[str, Any] | None = None) -> list[CreateResult]:  # type: ignore[override]
        if model != "Collector":
            raise ValueError(f"unknown model {model!r}; allowed: Collector")
        if self.sun is not None:
            raise RuntimeError(f"{self.sid}: all collectors must be created before the first step")
        try:
            checked = SolarThermalSpec.from_dict(spec or {})
        except ValueError as exc:
            raise ValueError(f"{self.sid}: {exc}") from None
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"Collector_{len(self.eids)}"
            self.position[eid] = len(self.eids)
            self.eids.append(eid)
            self.specs.append(checked)
            created.append({"eid": eid, "type": "Collector"})
        return created

    def _column(self, inputs: dict[str, Any], attr: str) -> np.ndarray:
        column = input_column(inputs, self.eids, attr)
        if np.isnan(column).any():
            missing = self.eids[int(np.flatnonzero(np.isnan(column))[0])]
            raise ValueError(
                f"{self.sid}.{missing}: no {attr} input; connect a Weather entity to every collector"
            )
        return column

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        if not self.eids:
            raise RuntimeError(f"{self.sid}: no collectors were created")
        if self.sun is None or self.arrays is None:
            self.sun = sun_at_middle(self.times, self.site.latitude_deg, self.site.longitude_deg)
            self.arrays = CollectorArrays.of([s.collector() for s in self.specs])
            self.e_kwh = np.zeros(len(self.eids))
            self.area_m2 = np.array([s.area_m2 for s in self.specs])
            self.cap_kwh = np.array([s.store_kwh for s in self.specs])
            self.loss_per_h = np.array([s.loss_per_h for s in self.specs])
        arrays, (zenith_deg, azimuth_deg) = self.arrays, self.sun
        dt_h = self.step_size_s / 3600.0
        dumped_kw = np.zeros(len(self.eids))
        if self.available_kwh is not None:  # settle the step before with what the building took
            used = np.nan_to_num(input_column(inputs, self.eids, USED_INPUT), nan=0.0)
            left = self.available_kwh - np.clip(used * dt_h, 0.0, self.available_kwh)
            self.e_kwh = np.minimum(left, self.cap_kwh)
            dumped_kw = (left - self.e_kwh) / dt_h
        w = {attr: self._column(inputs, attr) for attr in WEATHER_INPUTS}
        k = self.step_index
        g = plane_irradiance_from_sun(
            zenith_deg[k], azimuth_deg[k], w["ghi_w_m2"], w["dni_w_m2"], w["dhi_w_m2"],
            arrays.tilt_deg, arrays.azimuth_deg,
        )  # fmt: skip
        q_col_kw = collector_heat_w_m2(g, w["t_out_c"], arrays) * self.area_m2 / 1000.0
        self.available_kwh = self.e_kwh * (1.0 - self.loss_per_h * dt_h) + q_col_kw * dt_h
        self.columns = {
            "q_solar_kw": (self.available_kwh / dt_h).tolist(),
            "q_collector_kw": q_col_kw.tolist(),
            "g_poa_w_m2": g.tolist(),
            "e_store_kwh": self.e_kwh.tolist(),
            "q_dumped_kw": dumped_kw.tolist(),
        }

    def get_data(self, outputs: OutputRequest) -> OutputData:
        if not self.columns:
            raise RuntimeError(f"{self.sid}: get_data before the first step")
        try:
            return answer_from_columns(outputs, self.position, self.columns)
        except KeyError as exc:
            raise ValueError(f"{self.sid}: unknown entity or attribute {exc.args[0]!r}") from None
