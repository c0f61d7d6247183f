"""A planning case: time series, site data, fuels, grid, technologies and policies.

:class:`Case` is the in-memory form every model function takes. It comes from the reference
case folder (:mod:`planner.hub.reference`), from a YAML case file (:mod:`planner.hub.case_file`),
or is built directly (tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from planner.hub.errors import PlannerInputError
from planner.hub.policies import Policy, load_policies
from planner.hub.technologies import Catalogue, load_catalogue

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Fuel:
    """A purchased fuel: price and emission factor per kWh of fuel energy."""

    price_per_kwh: float
    co2_kg_per_kwh: float = 0.0


def _default_fuels() -> dict[str, Fuel]:
    return {"gas": Fuel(0.09, 0.198)}


@dataclass(frozen=True, eq=False)
class Case:
    """Everything the planner needs about a site, on one time grid.

    Time series are averages over each step: demands in kW, irradiance on the collector plane in
    W/m², price series in CHF/kWh (keyed by name: ``tou``, ``rtp``, ``spot``, ``fip``, ...).
    ``operation_weight`` scales the horizon's operating costs and emissions to one year
    (default 8760 h / horizon), so they add up with annualised capital costs.
    ``fixed_capacities`` (technology name → size in its unit) turns sizing into dispatch only;
    ``initial_e_kwh`` (store name → kWh) sets the content of stores before the first step
    (day-ahead re-runs from the current state).
    """

    name: str
    start: pd.Timestamp
    step_h: float
    heat_demand_kw: np.ndarray
    elec_demand_kw: np.ndarray
    irradiance_w_per_m2: np.ndarray
    catalogue: Catalogue = field(default_factory=load_catalogue)
    policies: Mapping[str, Policy] = field(default_factory=load_policies)
    price_series: Mapping[str, np.ndarray] = field(default_factory=dict)
    fuels: Mapping[str, Fuel] = field(default_factory=_default_fuels)
    roof_area_m2: float | None = None
    interest_rate: float = 0.08
    grid_co2_kg_per_kwh: float = 0.137
    max_import_kw: float | None = None
    max_export_kw: float | None = None
    operation_weight: float | None = None
    fixed_capacities: Mapping[str, float] = field(default_factory=dict)
    initial_e_kwh: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.n_steps
        if n == 0:
            raise PlannerInputError(f"case {self.name!r}: no time steps")
        if self.step_h <= 0:
            raise PlannerInputError(f"case {self.name!r}: step_h must be positive, got {self.step_h}")
        arrays = {"heat_demand_kw": self.heat_demand_kw, "elec_demand_kw": self.elec_demand_kw,
                  "irradiance_w_per_m2": self.irradiance_w_per_m2,
                  **{f"price_series.{k}": v for k, v in self.price_series.items()}}
        for name, values in arrays.items():
            values = np.asarray(values)
            if values.shape != (n,):
                raise PlannerInputError(
                    f"case {self.name!r}: {name} has shape {values.shape}, expected ({n},)")
            if not np.all(np.isfinite(values)):
                raise PlannerInputError(f"case {self.name!r}: {name} has missing or non-finite values")
        for name in ("heat_demand_kw", "elec_demand_kw", "irradiance_w_per_m2"):
            if np.any(np.asarray(arrays[name]) < 0):
                raise PlannerInputError(f"case {self.name!r}: {name} has negative values")
        fuel_inputs = {t.input for t in self.catalogue.conversion.values()} - {"elec", "solar"}
        missing = fuel_inputs - set(self.fuels)
        if missing:
            raise PlannerInputError(f"case {self.name!r}: technologies burn {sorted(missing)}, which are not "
                                    f"among the fuels {sorted(self.fuels)}")
        if not 0 <= self.interest_rate < 1:
            raise PlannerInputError(
                f"case {self.name!r}: interest_rate must be in [0, 1), got {self.interest_rate}")
        known = set(self.catalogue.conversion) | set(self.catalogue.storage)
        for what, names in (("fixed_capacities", set(self.fixed_capacities)),
                            ("initial_e_kwh", set(self.initial_e_kwh))):
            if names - known:
                raise PlannerInputError(f"case {self.name!r}: {what} names unknown technologies "
                                        f"{sorted(names - known)}; known: {sorted(known)}")
        if set(self.initial_e_kwh) - set(self.catalogue.storage):
            raise PlannerInputError(f"case {self.name!r}: initial_e_kwh is for stores only")
        if self.roof_area_m2 is not None and self.roof_area_m2 < 0:
            raise PlannerInputError(f"case {self.name!r}: roof_area_m2 must not be negative")

    @property
    def n_steps(self) -> int:
        return int(np.asarray(self.heat_demand_kw).size)

    @property
    def horizon_h(self) -> float:
        return self.n_steps * self.step_h

    @property
    def weight(self) -> float:
        """Factor from the horizon's operation to one year."""
        return self.operation_weight if self.operation_weight is not None else HOURS_PER_YEAR / self.horizon_h

    @property
    def index(self) -> pd.DatetimeIndex:
        """Start of every step."""
        return pd.date_range(self.start, periods=self.n_steps, freq=pd.Timedelta(hours=self.step_h))

    @property
    def irradiance_kw_per_m2(self) -> np.ndarray:
        return np.asarray(self.irradiance_w_per_m2, dtype=float) / 1000.0

    def with_catalogue(self, catalogue: Catalogue) -> Case:
        return replace(self, catalogue=catalogue)

    def sliced(self, start_step: int, n_steps: int) -> Case:
        """The same case on steps ``start_step`` … ``start_step + n_steps − 1``."""
        if start_step < 0 or n_steps <= 0 or start_step + n_steps > self.n_steps:
            raise PlannerInputError(f"slice {start_step}+{n_steps} outside the case's {self.n_steps} steps")
        cut = slice(start_step, start_step + n_steps)
        return replace(
            self,
            start=self.index[start_step],
            heat_demand_kw=np.asarray(self.heat_demand_kw)[cut],
            elec_demand_kw=np.asarray(self.elec_demand_kw)[cut],
            irradiance_w_per_m2=np.asarray(self.irradiance_w_per_m2)[cut],
            price_series={k: np.asarray(v)[cut] for k, v in self.price_series.items()},
        )
