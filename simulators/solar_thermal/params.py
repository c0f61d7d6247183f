"""A building's solar-thermal system as a scenario and the simulator take it: collector area, its
hot-water store and the collector's efficiency curve and orientation (`model.CollectorParams`
gives the defaults: a flat-plate collector, south at 35°, 90 % of its heat reaching the store)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from simulators.params import from_dict
from simulators.solar_thermal.model import CollectorParams

_DEFAULT = CollectorParams()


class SolarThermalSpec(BaseModel):
    """Collectors (`area_m2` of aperture) and their store (`store_kwh`, 0: none, the heat the
    building cannot take in the step is dumped; `loss_per_h`: the store's standing loss per hour)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area_m2: Annotated[float, Field(gt=0)]
    store_kwh: Annotated[float, Field(ge=0)] = 0.0
    loss_per_h: Annotated[float, Field(ge=0, lt=1)] = 0.01
    tilt_deg: Annotated[float, Field(ge=0, le=90)] = _DEFAULT.tilt_deg
    azimuth_deg: Annotated[float, Field(ge=0, lt=360)] = _DEFAULT.azimuth_deg
    eta0: Annotated[float, Field(gt=0, le=1)] = _DEFAULT.eta0
    a1_w_m2k: Annotated[float, Field(ge=0)] = _DEFAULT.a1_w_m2k
    a2_w_m2k2: Annotated[float, Field(ge=0)] = _DEFAULT.a2_w_m2k2
    t_mean_c: Annotated[float, Field(ge=0, le=120)] = _DEFAULT.t_mean_c
    eta_system: Annotated[float, Field(gt=0, le=1)] = _DEFAULT.eta_system

    def collector(self) -> CollectorParams:
        return CollectorParams(
            eta0=self.eta0, a1_w_m2k=self.a1_w_m2k, a2_w_m2k2=self.a2_w_m2k2, t_mean_c=self.t_mean_c,
            tilt_deg=self.tilt_deg, azimuth_deg=self.azimuth_deg, eta_system=self.eta_system,
        )  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SolarThermalSpec:
        """Build from a plain dict; `ValueError` naming each unknown key or impossible value."""
        return from_dict(cls, values, "solar-thermal parameter")
