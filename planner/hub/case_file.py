"""YAML case files: a small, validated format for users' own districts.

Example (``planner/hub/cases/example.yaml``)::

    name: example-district
    timeseries: example_timeseries.csv   # relative to this file
    roof_area_m2: 1500
    fuels: {gas: {price_per_kwh: 0.09, co2_kg_per_kwh: 0.198}}
    grid: {co2_kg_per_kwh: 0.137, max_import_kw: null}
    technologies: {use: [boiler, chp, pv, tank]}
    policies: {add: {my_fit: {import_price: {flat_per_kwh: 0.25}, feed_in: {flat_per_kwh: 0.1}}}}

The time-series CSV has a ``time`` column (start of each step, equally spaced), the columns
``heat_demand_kw``, ``elec_demand_kw``, ``irradiance_w_per_m2`` and any number of price series
``price_<name>`` in CHF/kWh, which policies refer to by ``<name>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.hub.case import Case, Fuel
from planner.hub.errors import PlannerInputError, format_validation_error
from planner.hub.policies import Policy, load_policies
from planner.hub.technologies import Catalogue, load_catalogue

REQUIRED_COLUMNS = ("heat_demand_kw", "elec_demand_kw", "irradiance_w_per_m2")
PRICE_PREFIX = "price_"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FuelSpec(_Strict):
    price_per_kwh: float
    co2_kg_per_kwh: float = Field(default=0.0, ge=0)


class GridSpec(_Strict):
    co2_kg_per_kwh: float = Field(default=0.137, ge=0)
    max_import_kw: float | None = Field(default=None, ge=0)
    max_export_kw: float | None = Field(default=None, ge=0)


class TechnologySpec(_Strict):
    catalogue: str | None = Field(default=None, description="catalogue YAML (relative to the case file)")
    use: list[str] | None = Field(default=None, description="names to keep (default: all)")
    add: Catalogue | None = None


class PolicySpec(_Strict):
    include_defaults: bool = True
    add: dict[str, Policy] = Field(default_factory=dict)


class CaseFile(_Strict):
    name: str = Field(min_length=1)
    timeseries: str
    step_h: float = Field(default=1.0, gt=0)
    roof_area_m2: float | None = Field(default=None, ge=0)
    interest_rate: float = Field(default=0.08, ge=0, lt=1)
    operation_weight: float | None = Field(default=None, gt=0)
    fuels: dict[str, FuelSpec] = Field(default_factory=lambda: {"gas": FuelSpec(price_per_kwh=0.09,
                                                                                  co2_kg_per_kwh=0.198)})
    grid: GridSpec = Field(default_factory=GridSpec)
    technologies: TechnologySpec = Field(default_factory=TechnologySpec)
    policies: PolicySpec = Field(default_factory=PolicySpec)


def _read_timeseries(path: Path, step_h: float) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, parse_dates=["time"], index_col="time")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise PlannerInputError(f"{path}: cannot read time series (need a 'time' column): {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in REQUIRED_COLUMNS and not c.startswith(PRICE_PREFIX)]
    if missing or unknown:
        raise PlannerInputError(f"{path}: missing columns {missing}, unknown columns {unknown}; allowed: "
                                f"{list(REQUIRED_COLUMNS)} and {PRICE_PREFIX}<name>")
    if frame.index.hasnans:
        raise PlannerInputError(f"{path}: the time column has empty or unreadable values")
    duplicated = frame.index[frame.index.duplicated()]
    if duplicated.size:
        raise PlannerInputError(f"{path}: duplicate times, first {duplicated[0]} ({duplicated.size} in all)")
    if not frame.index.is_monotonic_increasing:
        row = int(np.flatnonzero(np.diff(frame.index.to_numpy()) < np.timedelta64(0))[0]) + 1
        raise PlannerInputError(f"{path}: rows are not sorted by time: {frame.index[row]} (data row "
                                f"{row + 1}) comes after {frame.index[row - 1]}; sort the file by its "
                                "time column")
    steps = np.diff(frame.index.to_numpy()).astype("timedelta64[s]").astype(float) / 3600.0
    if steps.size and not np.allclose(steps, step_h):
        raise PlannerInputError(f"{path}: time column is not equally spaced by step_h = {step_h} h")
    return frame


def case_from_file(path: Path | str) -> Case:
    """Load and validate a YAML case file; errors name the file and the field."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlannerInputError(f"{path}: cannot read case file: {exc}") from None
    try:
        spec = CaseFile.model_validate(raw)
    except ValidationError as exc:
        raise format_validation_error(path, exc, CaseFile) from None
    base = path.parent
    frame = _read_timeseries(base / spec.timeseries, spec.step_h)
    tech = spec.technologies
    catalogue = load_catalogue(base / tech.catalogue if tech.catalogue else None)
    if tech.add is not None:
        catalogue = catalogue.merged(tech.add)
    if tech.use is not None:
        try:
            catalogue = catalogue.only(tech.use)
        except PlannerInputError as exc:
            raise PlannerInputError(f"{path}: technologies.use: {exc}") from None
    policies: dict[str, Policy] = load_policies() if spec.policies.include_defaults else {}
    policies |= spec.policies.add
    try:
        return Case(
            name=spec.name, start=pd.Timestamp(frame.index[0]), step_h=spec.step_h,
            heat_demand_kw=frame["heat_demand_kw"].to_numpy(float),
            elec_demand_kw=frame["elec_demand_kw"].to_numpy(float),
            irradiance_w_per_m2=frame["irradiance_w_per_m2"].to_numpy(float),
            catalogue=catalogue, policies=policies,
            price_series={c.removeprefix(PRICE_PREFIX): frame[c].to_numpy(float)
                          for c in frame.columns if c.startswith(PRICE_PREFIX)},
            fuels={k: Fuel(v.price_per_kwh, v.co2_kg_per_kwh) for k, v in spec.fuels.items()},
            roof_area_m2=spec.roof_area_m2, interest_rate=spec.interest_rate,
            grid_co2_kg_per_kwh=spec.grid.co2_kg_per_kwh, max_import_kw=spec.grid.max_import_kw,
            max_export_kw=spec.grid.max_export_kw, operation_weight=spec.operation_weight,
        )
    except PlannerInputError as exc:
        raise PlannerInputError(f"{path}: {exc}") from None
