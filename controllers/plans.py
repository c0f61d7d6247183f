"""Versioned plan format shared by the offline planner and the real-time controllers.

A plan is one asset's schedule: equally spaced values of one or more quantities (each named with
its unit, e.g. ``soc``, ``e_kwh``, ``p_kw``) from ``start`` every ``step_s`` seconds. The planner
writes plans; ``cosim`` publishes them (one retained message per asset) and stores them with the
results; the agents track them and fall back to them when coordination fails.

Sign conventions (ARCHITECTURE.md): grid exchange ``p_kw`` is positive when drawn from the grid;
storage ``p_kw`` is positive when charging; a converter's ``p_kw`` is its output power (for a heat
pump, ``p_el_kw`` is the electricity it draws, positive).

This module imports only pydantic and the standard library so that both ``planner`` and
``controllers`` can depend on it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLAN_SCHEMA_VERSION: Literal[1] = 1
"""Bump when a change to the format would make old plans unreadable."""

AssetKind = Literal["battery", "thermal_storage", "heat_pump", "boiler", "chp", "pv", "solar_thermal",
                    "grid", "converter", "storage"]

SeriesName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AssetPlan(BaseModel):
    """The plan of one asset: named series sharing one time grid.

    ``series`` maps a quantity name with its unit (``soc``, ``e_kwh``, ``p_kw``, ``p_el_kw``) to
    ``n_steps`` values; value ``k`` applies from ``start + k·step_s`` to ``start + (k+1)·step_s``
    (powers are averages over the step, states such as ``soc`` hold at the end of the step).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = PLAN_SCHEMA_VERSION
    asset: str = Field(min_length=1, max_length=128, description="asset name, also the MQTT agent name")
    kind: AssetKind
    source: str = Field(default="planner", min_length=1, description="who made the plan")
    created_at: datetime = Field(default_factory=_utc_now)
    start: datetime
    step_s: int = Field(gt=0, description="time step of the series in seconds")
    series: dict[SeriesName, list[float]] = Field(min_length=1)

    @field_validator("created_at", "start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        """Naive timestamps are taken as UTC so that plans compare across hosts."""
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    @model_validator(mode="after")
    def _consistent(self) -> AssetPlan:
        lengths = {name: len(values) for name, values in self.series.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"all series of a plan must have the same length, got {lengths}")
        if next(iter(lengths.values())) == 0:
            raise ValueError("plan series are empty")
        for name, values in self.series.items():
            bad = [k for k, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"series {name!r} has non-finite values at steps {bad[:5]}")
        return self

    @property
    def n_steps(self) -> int:
        return len(next(iter(self.series.values())))

    @property
    def end(self) -> datetime:
        """End of the last step."""
        return self.start + timedelta(seconds=self.step_s * self.n_steps)

    def index_at(self, when: datetime) -> int | None:
        """Step index covering ``when``, or None outside the plan."""
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        offset_s = (when - self.start).total_seconds()
        if offset_s < 0 or when >= self.end:
            return None
        return int(offset_s // self.step_s)

    def value_at(self, name: str, when: datetime) -> float | None:
        """Planned value of series ``name`` at ``when`` (None outside the plan)."""
        if name not in self.series:
            raise KeyError(f"plan of {self.asset!r} has no series {name!r}; it has {sorted(self.series)}")
        k = self.index_at(when)
        return None if k is None else self.series[name][k]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, payload: str | bytes) -> AssetPlan:
        return cls.model_validate_json(payload)


class PlanSet(BaseModel):
    """All asset plans made together (one planner run), e.g. for storing with the results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = PLAN_SCHEMA_VERSION
    source: str = "planner"
    created_at: datetime = Field(default_factory=_utc_now)
    plans: dict[str, AssetPlan]

    @model_validator(mode="after")
    def _names_match(self) -> PlanSet:
        wrong = [key for key, plan in self.plans.items() if key != plan.asset]
        if wrong:
            raise ValueError(f"plan keys must equal the asset names; mismatched: {wrong}")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, payload: str | bytes) -> PlanSet:
        return cls.model_validate_json(payload)
