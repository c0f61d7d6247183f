"""Results of one planning run: capacities, annual costs, emissions and the dispatch."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# Columns every summary has (0 when the case's catalogue lacks the technology), the study's set.
REQUIRED_CAPACITY_COLUMNS = ("chp_kwe", "boiler_kw", "heat_pump_kw", "pv_m2", "solar_thermal_m2",
                             "battery_kwh", "tank_kwh")


@dataclass(frozen=True)
class CostBreakdown:
    """Annual costs in CHF/a; ``total_chf`` = capex + O&M + fuel + import − export income."""

    capex_chf: float
    om_chf: float
    fuel_chf: float
    import_chf: float
    export_income_chf: float

    @property
    def total_chf(self) -> float:
        return self.capex_chf + self.om_chf + self.fuel_chf + self.import_chf - self.export_income_chf


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds to build the cvxpy problem and to compile and solve it."""

    build_s: float
    solve_s: float

    @property
    def total_s(self) -> float:
        return self.build_s + self.solve_s


@dataclass(frozen=True)
class PlanResult:
    """Optimal design and operation of one case under one policy.

    ``capacities`` maps a column name with unit (``chp_kwe``, ``boiler_kw``, ``pv_m2``,
    ``tank_kwh``, …) to the optimal size; ``dispatch`` is indexed by the start of each step, with
    columns in kW (flows) and kWh (storage contents at the end of the step).
    """

    case_name: str
    policy: str
    capacities: dict[str, float]
    costs: CostBreakdown
    co2_t: float              # study convention: grid electricity bought (see GridAndEmissions)
    objective_chf: float
    is_milp: bool
    timing: Timing
    dispatch: pd.DataFrame
    storage_carriers: dict[str, str] = field(default_factory=dict)
    solved_as: str = "whole model"   # how the optimum was found (every way gives the same optimum)
    co2_physical_t: float = float("nan")            # every kWh drawn from the grid
    grid_import_mwh: float = float("nan")           # bought (study convention)
    grid_import_physical_mwh: float = float("nan")  # drawn, including net-metering withdrawals
    lower_bound_chf: float = float("nan")           # proven lower bound of the optimum (CHF/a)

    @property
    def optimality_gap(self) -> float:
        """(objective − lower bound) / objective: 0 for an LP's optimum, at most the tolerance of the
        solve otherwise (a MILP's gap, or the metering pattern's stated gap)."""
        return max(0.0, self.objective_chf - self.lower_bound_chf) / max(1.0, abs(self.objective_chf))

    def summary_row(self) -> dict[str, float | str | bool]:
        caps = {col: 0.0 for col in REQUIRED_CAPACITY_COLUMNS} | self.capacities
        return {
            "policy": self.policy,
            **caps,
            "total_cost": self.costs.total_chf,
            "co2_t": self.co2_t,
            "co2_physical_t": self.co2_physical_t,
            "grid_import_mwh": self.grid_import_mwh,
            "grid_import_physical_mwh": self.grid_import_physical_mwh,
            "capex_chf": self.costs.capex_chf,
            "om_chf": self.costs.om_chf,
            "fuel_chf": self.costs.fuel_chf,
            "import_chf": self.costs.import_chf,
            "export_income_chf": self.costs.export_income_chf,
            "milp": self.is_milp,
            "build_s": self.timing.build_s,
            "solve_s": self.timing.solve_s,
            "lower_bound_chf": self.lower_bound_chf,
            "optimality_gap": self.optimality_gap,
            "solved_as": self.solved_as,
        }


def summary_frame(results: list[PlanResult]) -> pd.DataFrame:
    """One row per policy; the study's columns first."""
    return pd.DataFrame([r.summary_row() for r in results])
