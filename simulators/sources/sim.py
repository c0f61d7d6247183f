"""mosaik adapter of the sources: one `Weather` and one `Prices` entity per simulator instance.

Series are computed once for the whole run at `create` (vectorised) and read out per step.
Outputs (step averages held over the step):
  Weather: t_out_c (°C), ghi_w_m2, dni_w_m2, dhi_w_m2 (W/m²), wind_m_s (m/s)
  Prices:  import_per_kwh, export_per_kwh (currency per kWh), co2_kg_per_kwh (grid carbon intensity)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult, Meta

from simulators.base import TimeBasedSim
from simulators.sources.model import make_prices, make_weather, site_from

WEATHER_ATTRS = ["t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s"]
PRICE_ATTRS = ["import_per_kwh", "export_per_kwh", "co2_kg_per_kwh"]

META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Weather": {"public": True, "params": ["spec", "site"], "attrs": WEATHER_ATTRS},
        "Prices": {"public": True, "params": ["spec"], "attrs": PRICE_ATTRS},
    },
}


class SourcesSim(TimeBasedSim):
    """Weather and price series as mosaik entities."""

    def __init__(self) -> None:
        super().__init__(META)
        self.series: dict[str, dict[str, np.ndarray]] = {}
        self.lists: dict[str, dict[str, list[float]]] = {}  # the series as Python floats

    def create(self, num: int, model: str, **params: Any) -> list[CreateResult]:
        created: list[CreateResult] = []
        for _ in range(num):
            eid = f"{model}_{len(self.series)}"
            if model == "Weather":
                site = site_from(params.get("site") or {})
                w = make_weather(self.times, params.get("spec") or {}, site)
                self.series[eid] = {a: np.asarray(getattr(w, a), dtype=float) for a in WEATHER_ATTRS}
            elif model == "Prices":
                p = make_prices(self.times, params.get("spec") or {}, self.tz)
                self.series[eid] = {
                    "import_per_kwh": p.import_per_kwh,
                    "export_per_kwh": p.export_per_kwh,
                    "co2_kg_per_kwh": p.co2_kg_per_kwh,
                }
            else:
                raise ValueError(f"unknown model {model!r}; allowed: {', '.join(META['models'])}")
            created.append({"eid": eid, "type": model})
        return created

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        """Sources have no inputs; the step index set by the base class is all they need."""

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        lists = self.lists.get(eid)
        if lists is None:
            lists = self.lists[eid] = {a: values.tolist() for a, values in self.series[eid].items()}
        k = self.step_index
        return {a: lists[a][k] for a in attrs}
