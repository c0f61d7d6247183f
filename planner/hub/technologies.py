"""Technology catalogue: conversion and storage technologies as validated data with units.

The default catalogue (``planner/data/technologies.yaml``) restates the technology table of the
price-policy study. Users add or replace technologies with their own YAML file of the same
format (``load_catalogue(path)`` or ``Catalogue.merged``), or in a case file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planner.hub.errors import PlannerInputError, format_validation_error

DEFAULT_CATALOGUE = Path(__file__).parent / "data" / "technologies.yaml"

OutputCarrier = Literal["elec", "heat"]


def crf(interest_rate: float, lifetime_a: float) -> float:
    """Capital recovery factor i / (1 − (1 + i)^−n); 1/n when i = 0."""
    if lifetime_a <= 0:
        raise PlannerInputError(f"lifetime must be positive, got {lifetime_a}")
    if interest_rate == 0:
        return 1.0 / lifetime_a
    return float(interest_rate / (1.0 - (1.0 + interest_rate) ** (-lifetime_a)))


class _Tech(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = ""
    lifetime_a: float = Field(gt=0)
    capex_fixed_chf: float = Field(default=0.0, ge=0)
    om_fixed_chf_per_a: float = Field(default=0.0, ge=0)


class ConversionTech(_Tech):
    """A converter: ``outputs[c] · input`` of each output carrier ``c``, capacity on one output.

    For solar technologies (``input: solar``) the capacity is the collector area in m² and the
    output is fixed by the irradiance (no curtailment): ``out_c = outputs[c] · I_kw_per_m2 · area``.
    """

    input: str = Field(min_length=1, description="fuel name, 'elec' or 'solar'")
    outputs: dict[OutputCarrier, float] = Field(min_length=1)
    capacity_on: OutputCarrier
    capacity_unit: Literal["kW", "m2"] = "kW"
    capex_per_unit_chf: float = Field(ge=0)
    om_per_kwh_chf: float = Field(default=0.0, ge=0)
    om_per_unit_chf_per_a: float = Field(default=0.0, ge=0)
    min_part_load: float = Field(default=0.0, ge=0, le=1)
    min_capacity: float = Field(default=0.0, ge=0)
    max_capacity: float | None = Field(default=None, gt=0, description="None: unlimited (solar: roof)")

    @model_validator(mode="after")
    def _check(self) -> ConversionTech:
        if self.capacity_on not in self.outputs:
            raise ValueError(
                f"capacity_on {self.capacity_on!r} is not one of the outputs {sorted(self.outputs)}")
        if any(eff <= 0 for eff in self.outputs.values()):
            raise ValueError("output efficiencies must be positive")
        if self.input in self.outputs:
            raise ValueError(f"input {self.input!r} cannot also be an output")
        if (self.capacity_unit == "m2") != self.is_solar:
            raise ValueError("capacity_unit m2 is for solar technologies (input: solar), which need it")
        if self.is_solar and self.min_part_load > 0:
            raise ValueError("solar technologies cannot have a minimum part load (their output is fixed)")
        if self.max_capacity is not None and self.min_capacity > self.max_capacity:
            raise ValueError("min_capacity is above max_capacity")
        return self

    @property
    def is_solar(self) -> bool:
        return self.input == "solar"

    @property
    def needs_install_binary(self) -> bool:
        return self.capex_fixed_chf > 0 or self.om_fixed_chf_per_a > 0 or self.min_capacity > 0

    @property
    def needs_on_off_binary(self) -> bool:
        return self.min_part_load > 0


class StorageTech(_Tech):
    """A store: E_t = (1 − decay·Δt)·E_{t−1} + η_c·charge_t·Δt − discharge_t·Δt/η_d."""

    carrier: OutputCarrier
    capex_per_kwh_chf: float = Field(ge=0)
    eta_charge: float = Field(gt=0, le=1)
    eta_discharge: float = Field(gt=0, le=1)
    decay_per_h: float = Field(default=0.0, ge=0, lt=1)
    c_rate_charge_per_h: float = Field(gt=0)
    c_rate_discharge_per_h: float = Field(gt=0)
    min_soc: float = Field(default=0.0, ge=0, lt=1)
    start: Literal["empty", "cyclic"] = "cyclic"
    min_capacity_kwh: float = Field(default=0.0, ge=0)
    max_capacity_kwh: float | None = Field(default=None, gt=0)

    @property
    def needs_install_binary(self) -> bool:
        return self.capex_fixed_chf > 0 or self.om_fixed_chf_per_a > 0 or self.min_capacity_kwh > 0


class Catalogue(BaseModel):
    """Named conversion and storage technologies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = "CHF"
    conversion: dict[str, ConversionTech] = Field(default_factory=dict)
    storage: dict[str, StorageTech] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        both = set(self.conversion) & set(self.storage)
        if both:
            raise ValueError(f"names used for both a converter and a store: {sorted(both)}")
        return self

    def merged(self, other: Catalogue) -> Catalogue:
        """This catalogue with ``other``'s technologies added (same name: ``other`` wins)."""
        return Catalogue(currency=self.currency, conversion={**self.conversion, **other.conversion},
                         storage={**self.storage, **other.storage})

    def only(self, names: list[str]) -> Catalogue:
        """The sub-catalogue of the named technologies (unknown names are an error)."""
        unknown = set(names) - set(self.conversion) - set(self.storage)
        if unknown:
            raise PlannerInputError(f"unknown technologies {sorted(unknown)}; the catalogue has "
                                    f"{sorted([*self.conversion, *self.storage])}")
        return Catalogue(currency=self.currency,
                         conversion={k: v for k, v in self.conversion.items() if k in names},
                         storage={k: v for k, v in self.storage.items() if k in names})

    @property
    def is_milp(self) -> bool:
        return any(t.needs_install_binary or t.needs_on_off_binary for t in self.conversion.values()) or any(
            s.needs_install_binary for s in self.storage.values())


def catalogue_from_dict(data: object, source: str | Path) -> Catalogue:
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(source, exc, Catalogue) from None


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load a catalogue YAML file (default: the study's table shipped with the planner)."""
    path = path or DEFAULT_CATALOGUE
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlannerInputError(f"{path}: cannot read technology catalogue: {exc}") from None
    return catalogue_from_dict(data, path)
