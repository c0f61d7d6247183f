"""MILP features (fixed costs, minimum part load), LP/MILP agreement, and clear errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner.hub.errors import PlannerInfeasibleError, PlannerInputError, PlannerUnboundedError
from planner.hub.solve import plan_case
from planner.hub.technologies import Catalogue, load_catalogue
from tests.planner.builders import START, boiler, catalogue, synthetic_series, tiny_case


@pytest.mark.parametrize(("fixed_chf", "cost_chf", "built"), [(5.0, 15.0, True), (15.0, 20.0, False)])
def test_fixed_cost_decides_whether_a_unit_is_built(fixed_chf: float, cost_chf: float, built: bool) -> None:
    """10 kW heat: a free boiler at 50 % (fuel 20) or a 100 % boiler with a fixed cost (fuel 10 + F)."""
    cat = catalogue({"poor": boiler(eff=0.5),
                     "good": boiler(eff=1.0, capex_fixed_chf=fixed_chf, max_capacity=1000.0)})
    result = plan_case(tiny_case([10.0], cat=cat, gas_per_kwh=1.0), "flat")
    assert result.is_milp
    assert result.costs.total_chf == pytest.approx(cost_chf, rel=1e-6)
    assert (result.capacities["good_kw"] > 1e-6) is built


def test_minimum_part_load_switches_the_unit_off() -> None:
    """Demand 10 then 2 kW; the efficient boiler cannot run below half its size, so it is off in hour 2."""
    cat = catalogue({"a": boiler(eff=1.0, min_part_load=0.5, max_capacity=100.0),
                     "b": boiler(eff=0.5, max_capacity=100.0)})
    result = plan_case(tiny_case([10.0, 2.0], cat=cat, gas_per_kwh=1.0), "flat")
    assert result.costs.total_chf == pytest.approx(10.0 + 2.0 / 0.5, rel=1e-6)
    assert result.dispatch["a_heat_kw"].to_list() == pytest.approx([10.0, 0.0], abs=1e-6)
    lp = catalogue({"a": boiler(eff=1.0, max_capacity=100.0), "b": boiler(eff=0.5, max_capacity=100.0)})
    lp_result = plan_case(tiny_case([10.0, 2.0], cat=lp, gas_per_kwh=1.0), "flat")
    assert lp_result.costs.total_chf == pytest.approx(12.0)


def _week_case(cat: Catalogue) -> object:
    from planner.hub.case import Case

    s = synthetic_series(72, seed=1)
    return Case(name="synthetic", start=START, step_h=1.0, heat_demand_kw=s["heat"], elec_demand_kw=s["elec"],
                irradiance_w_per_m2=s["irradiance"], catalogue=cat, price_series={"tou": s["tou"]},
                roof_area_m2=2000.0)


def test_lp_and_milp_agree_when_the_binaries_are_inactive() -> None:
    lp_cat = load_catalogue()
    lp = plan_case(_week_case(lp_cat), "tou")  # type: ignore[arg-type]
    assert not lp.is_milp and lp.capacities["heat_pump_kw"] == pytest.approx(0.0, abs=1e-6)
    conv = dict(lp_cat.conversion)
    # a fixed cost on a technology the LP does not build, a tiny minimum size and part load on the boiler
    conv["heat_pump"] = conv["heat_pump"].model_copy(update={"capex_fixed_chf": 5000.0})
    conv["boiler"] = conv["boiler"].model_copy(update={"min_capacity": 1.0, "min_part_load": 1e-4})
    milp = plan_case(_week_case(Catalogue(conversion=conv, storage=lp_cat.storage)), "tou")  # type: ignore[arg-type]
    assert milp.is_milp
    assert milp.costs.total_chf == pytest.approx(lp.costs.total_chf, rel=2e-4)
    for column, value in lp.capacities.items():
        assert milp.capacities[column] == pytest.approx(value, rel=1e-2, abs=1.0), column


def test_heat_demand_above_every_capacity_limit_is_named() -> None:
    cat = catalogue({"boiler": boiler(max_capacity=10.0)})
    with pytest.raises(PlannerInfeasibleError, match=r"heat demand 20 kW at 2021-01-04 01:00.* above every"):
        plan_case(tiny_case([5.0, 20.0], cat=cat), "flat")


def test_electricity_demand_with_the_grid_capped_is_named() -> None:
    cat = catalogue({"boiler": boiler()})
    case = tiny_case([5.0], [50.0], cat=cat, max_import_kw=10.0)
    with pytest.raises(PlannerInfeasibleError, match=r"elec demand 50 kW.*grid import capped at 10"):
        plan_case(case, "flat")


def test_unbounded_problem_is_named() -> None:
    """A negative import price with an uncapped grid and an uncapped store to fill: unbounded."""
    from planner.hub.policies import Policy, PriceSpec

    store = {"carrier": "elec", "lifetime_a": 1, "capex_per_kwh_chf": 0.0, "eta_charge": 1.0,
             "eta_discharge": 1.0, "c_rate_charge_per_h": 1.0, "c_rate_discharge_per_h": 1.0,
             "start": "empty"}
    case = tiny_case([0.0], [1.0], cat=catalogue(storage={"battery": store}),
                     policies={"neg": Policy(import_price=PriceSpec(flat_per_kwh=-0.1))})
    with pytest.raises(PlannerUnboundedError, match="import price is negative"):
        plan_case(case, "neg")


def test_input_errors_name_the_field() -> None:
    with pytest.raises(PlannerInputError, match="heat_demand_kw has negative values"):
        tiny_case([-1.0], cat=catalogue({"boiler": boiler()}))
    with pytest.raises(PlannerInputError, match="unknown policy 'fit'"):
        plan_case(tiny_case([1.0], cat=catalogue({"boiler": boiler()})), "fit")
    with pytest.raises(PlannerInputError, match="needs a max capacity"):
        plan_case(tiny_case([1.0], cat=catalogue({"b": boiler(capex_fixed_chf=1.0)})), "flat")
    with pytest.raises(PlannerInputError, match=r"conversion\.b\.outputs"):
        from planner.hub.technologies import catalogue_from_dict

        catalogue_from_dict({"conversion": {"b": {**boiler(), "outputs": {"steam": 1.0}}}}, "cat.yaml")


def test_horizon_and_step_are_free() -> None:
    """Two-hour steps: the same daily energy costs the same as hourly steps."""
    cat = catalogue({"boiler": boiler(eff=1.0)})
    hourly = plan_case(tiny_case([10.0] * 4, cat=cat, gas_per_kwh=1.0), "flat")
    two_hourly = plan_case(replace(tiny_case([10.0] * 2, cat=cat, gas_per_kwh=1.0), step_h=2.0), "flat")
    assert two_hourly.costs.total_chf == pytest.approx(hourly.costs.total_chf) == pytest.approx(40.0)
    assert np.allclose(two_hourly.dispatch["boiler_heat_kw"], 10.0)
