"""Price policies as data: import price, feed-in compensation and net metering.

A :class:`Policy` names prices, flat or as a transformed price series of the case; the seven
scenarios of the price-policy study are in ``planner/hub/data/policies.yaml``; a case may add its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planner.hub.errors import PlannerInputError, format_validation_error

DEFAULT_POLICIES = Path(__file__).parent / "data" / "policies.yaml"
STUDY_POLICY_ORDER = ("none", "fit", "fip", "nm", "rtp", "tou", "nm+tou")


class PriceSpec(BaseModel):
    """A price in CHF/kWh: ``flat_per_kwh``, or ``scale · series + offset_per_kwh``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flat_per_kwh: float | None = None
    series: str | None = None
    scale: float = 1.0
    offset_per_kwh: float = 0.0

    @model_validator(mode="after")
    def _one_source(self) -> PriceSpec:
        if (self.flat_per_kwh is None) == (self.series is None):
            raise ValueError("give exactly one of flat_per_kwh and series")
        if self.flat_per_kwh is not None and (self.scale != 1.0 or self.offset_per_kwh != 0.0):
            raise ValueError("scale and offset_per_kwh apply to a series only")
        return self

    def resolve(self, series: Mapping[str, np.ndarray], n_steps: int, what: str) -> np.ndarray:
        """The price of every time step, CHF/kWh."""
        if self.flat_per_kwh is not None:
            return np.full(n_steps, float(self.flat_per_kwh))
        name = str(self.series)
        if name not in series:
            raise PlannerInputError(f"{what} uses price series {name!r}, which the case does not provide "
                                    f"(it has {sorted(series) or 'none'})")
        values = np.asarray(series[name], dtype=float)
        if values.shape != (n_steps,):
            raise PlannerInputError(
                f"price series {name!r} has {values.size} values, the case {n_steps} steps")
        return self.scale * values + self.offset_per_kwh


ZERO_PRICE = PriceSpec(flat_per_kwh=0.0)


class Policy(BaseModel):
    """Import price, compensation of exported electricity, and whether net metering applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = ""
    import_price: PriceSpec
    feed_in: PriceSpec = ZERO_PRICE
    other_export: PriceSpec = ZERO_PRICE
    net_metering: bool = False

    @model_validator(mode="after")
    def _nm_no_payment(self) -> Policy:
        if self.net_metering and self.feed_in != ZERO_PRICE:
            raise ValueError("under net metering solar export is banked, not paid: leave feed_in out")
        return self


@dataclass(frozen=True)
class ResolvedPrices:
    """Prices of one policy on the case's time grid (CHF/kWh, one value per step)."""

    import_per_kwh: np.ndarray
    feed_in_per_kwh: np.ndarray
    other_export_per_kwh: np.ndarray
    net_metering: bool


def resolve_policy(
    name: str, policy: Policy, series: Mapping[str, np.ndarray], n_steps: int
) -> ResolvedPrices:
    return ResolvedPrices(
        import_per_kwh=policy.import_price.resolve(series, n_steps, f"policy {name!r} import_price"),
        feed_in_per_kwh=policy.feed_in.resolve(series, n_steps, f"policy {name!r} feed_in"),
        other_export_per_kwh=policy.other_export.resolve(series, n_steps, f"policy {name!r} other_export"),
        net_metering=policy.net_metering,
    )


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policies: dict[str, Policy] = Field(default_factory=dict)


def policies_from_dict(data: object, source: str | Path) -> dict[str, Policy]:
    try:
        return dict(_PolicyFile.model_validate({"policies": data}).policies)
    except ValidationError as exc:
        raise format_validation_error(source, exc, _PolicyFile) from None


def load_policies(path: Path | None = None) -> dict[str, Policy]:
    """Named policies of a YAML file (default: the study's seven scenarios)."""
    path = path or DEFAULT_POLICIES
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PlannerInputError(f"{path}: cannot read policies: {exc}") from None
    return policies_from_dict(data, path)


def select_policies(available: Mapping[str, Policy], names: Sequence[str]) -> list[str]:
    """Expand ``all`` and check names; keeps the given order without duplicates."""
    chosen: list[str] = []
    for raw in names or ["all"]:
        name = raw.strip().lower()
        expanded = list(available) if name == "all" else [name]
        for item in expanded:
            if item not in available:
                raise PlannerInputError(f"unknown policy {raw!r}; choose from {[*available, 'all']}")
            if item not in chosen:
                chosen.append(item)
    return chosen
