"""Storage units (battery and hot-water tank), vectorised over units. Pure NumPy.

Sign convention: power is positive when charging (drawn from the grid for a battery, from the
heater for a tank) and negative when discharging. Energy balance over a step of Δt hours, with
p_ch = max(p, 0) and p_dis = max(−p, 0):

    e⁺ = (1 − loss_per_h · Δt) · e + Δt · (η_ch · p_ch − p_dis / η_dis)

Limits: |p| ≤ c_rate_per_h · capacity (C-rate, per hour), soc_min ≤ e / capacity ≤ soc_max.
A setpoint outside the limits is clipped to the nearest feasible power; the clipped amount is
reported (`clipped_kw` = setpoint − applied). Defaults follow the price-policy study's technology
table: efficiency 0.9 each way; standing loss 1e-4 (battery) and 1e-3 (tank) per hour; maximum
rate 0.3 (battery) and 0.25 (tank) of capacity per hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.arrays import clip, nan_to_zero
from simulators.params import from_dict

STORAGE_KINDS = ("battery", "tank")
DEFAULTS: dict[str, dict[str, float]] = {
    "battery": {"loss_per_h": 1e-4, "c_rate_per_h": 0.3},
    "tank": {"loss_per_h": 1e-3, "c_rate_per_h": 0.25},
}


class StorageParams(BaseModel):
    """A storage unit's parameters, the one definition the scenario files use too (`cosim.scenario`:
    a building's `battery` and `tank`, standalone `storage`). `loss_per_h` and `c_rate_per_h`
    default by kind (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_kwh: Annotated[float, Field(gt=0)] = 10.0
    eta_charge: Annotated[float, Field(gt=0, le=1)] = 0.9
    eta_discharge: Annotated[float, Field(gt=0, le=1)] = 0.9
    loss_per_h: Annotated[float, Field(ge=0, lt=1)] | None = None
    c_rate_per_h: Annotated[float, Field(gt=0)] | None = None
    soc_min: Annotated[float, Field(ge=0, le=1)] = 0.0
    soc_max: Annotated[float, Field(ge=0, le=1)] = 1.0
    soc_init: Annotated[float, Field(ge=0, le=1)] = 0.5

    @model_validator(mode="after")
    def _soc_order(self) -> StorageParams:
        if not self.soc_min <= self.soc_init <= self.soc_max:
            raise ValueError(
                f"need soc_min ≤ soc_init ≤ soc_max, got {self.soc_min}, {self.soc_init}, {self.soc_max}"
            )
        return self


class StorageSpec(StorageParams):
    """One storage unit of the simulator: its parameters and its kind."""

    kind: Literal["battery", "tank"] = "battery"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StorageSpec:
        """Build from a plain dict; `ValueError` naming each unknown key or impossible value."""
        return from_dict(cls, values, "storage parameter")

    @property
    def loss(self) -> float:
        return DEFAULTS[self.kind]["loss_per_h"] if self.loss_per_h is None else self.loss_per_h

    @property
    def c_rate(self) -> float:
        return DEFAULTS[self.kind]["c_rate_per_h"] if self.c_rate_per_h is None else self.c_rate_per_h


@dataclass(frozen=True)
class StorageStep:
    """Result of one step for every unit (arrays of shape (n,))."""

    p_kw: np.ndarray
    clipped_kw: np.ndarray
    e_kwh: np.ndarray
    soc: np.ndarray
    loss_kw: np.ndarray


class StorageFleet:
    """All storage units of one simulator; `e_kwh` holds the energy content at the current time."""

    def __init__(self, specs: list[StorageSpec]) -> None:
        if not specs:
            raise ValueError("need at least one storage unit")
        self.cap = np.array([s.capacity_kwh for s in specs])
        self.eta_ch = np.array([s.eta_charge for s in specs])
        self.eta_dis = np.array([s.eta_discharge for s in specs])
        self.loss = np.array([s.loss for s in specs])
        self.p_max = np.array([s.c_rate * s.capacity_kwh for s in specs])
        self.e_min = np.array([s.soc_min * s.capacity_kwh for s in specs])
        self.e_max = np.array([s.soc_max * s.capacity_kwh for s in specs])
        self.e_kwh = np.array([s.soc_init * s.capacity_kwh for s in specs])

    def feasible_range_kw(self, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
        """Lowest (most negative) and highest power that keep every limit over the next step."""
        kept = (1.0 - self.loss * dt_h) * self.e_kwh
        p_ch_max = clip((self.e_max - kept) / (self.eta_ch * dt_h), 0.0, self.p_max)
        p_dis_max = clip((kept - self.e_min) * self.eta_dis / dt_h, 0.0, self.p_max)
        return -p_dis_max, p_ch_max

    def power_limits_kw(self, dt_h: float) -> tuple[list[float], list[float]]:
        """The largest charging and discharging power (both ≥ 0) each unit can take over the next
        step of `dt_h` hours from its energy now (C-rate, SoC limits, losses): what a controller may
        ask for without being clipped."""
        low, high = self.feasible_range_kw(dt_h)
        return high.tolist(), (-low).tolist()

    def step(self, p_set_kw: np.ndarray, dt_h: float) -> StorageStep:
        """Apply setpoints (NaN = idle) for one step of `dt_h` hours."""
        setpoint = nan_to_zero(np.asarray(p_set_kw, dtype=float))
        low, high = self.feasible_range_kw(dt_h)
        p = clip(setpoint, low, high)
        p_ch, p_dis = np.maximum(p, 0.0), np.maximum(-p, 0.0)
        e_before = self.e_kwh
        e_after = (1.0 - self.loss * dt_h) * e_before + dt_h * (self.eta_ch * p_ch - p_dis / self.eta_dis)
        # the limits hold by construction; the clip only removes rounding at the last ulp
        self.e_kwh = clip(e_after, 0.0, self.e_max)
        loss_kw = p - (self.e_kwh - e_before) / dt_h
        return StorageStep(p, setpoint - p, self.e_kwh.copy(), self.e_kwh / self.cap, loss_kw)
