"""Leaving technologies out and pricing them back in gives the optimum of the whole LP."""

from __future__ import annotations

import pytest

from planner.hub import pricing
from planner.hub.case import Case
from planner.hub.solve import SolverOptions, build_model, solve_leaving_out_unbuilt, solve_model
from planner.hub.technologies import Catalogue, load_catalogue
from tests.planner.builders import synthetic_case

WHOLE = SolverOptions(leave_out_unbuilt=False)


def _assert_same(case: Case, policy: str) -> None:
    whole = solve_model(build_model(case, policy), WHOLE)
    priced = solve_leaving_out_unbuilt(build_model(case, policy))
    assert priced.objective_chf == pytest.approx(whole.objective_chf, rel=1e-9)
    for column, value in whole.capacities.items():
        assert priced.capacities[column] == pytest.approx(value, rel=1e-6, abs=1e-4), column
    assert list(priced.dispatch.columns) == list(whole.dispatch.columns)


@pytest.mark.parametrize("policy", ["fit", "tou", "nm", "nm+tou"])
def test_probe_and_pricing_give_the_optimum_of_the_whole_lp(policy: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "PROBE_DAYS", 3)
    monkeypatch.setattr(pricing, "MIN_PROBE_HORIZON_DAYS", 6)
    case = synthetic_case(12)
    assert pricing.probe_case(case) is not None
    _assert_same(case, policy)


def _leave_out(names: set[str]):  # type: ignore[no-untyped-def]
    def probe_left_out(case: Case, solve_sizes: object) -> set[str]:
        return set(names)
    return probe_left_out


def test_a_built_store_left_out_is_priced_back_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cheap battery is built at the optimum (TOU arbitrage): leaving it out must be undone by its
    reduced cost."""
    cat = load_catalogue()
    storage = dict(cat.storage)
    storage["battery"] = storage["battery"].model_copy(update={"capex_per_kwh_chf": 1.0})
    case = synthetic_case(4, Catalogue(conversion=cat.conversion, storage=storage))
    assert solve_model(build_model(case, "tou"), WHOLE).capacities["battery_kwh"] > 1.0
    monkeypatch.setattr(pricing, "probe_left_out", _leave_out({"tank", "battery", "heat_pump"}))
    _assert_same(case, "tou")


def test_built_converters_left_out_are_priced_back_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dear gas and cheap heat pumps and collectors: both are built and both come back."""
    cat = load_catalogue()
    conv = dict(cat.conversion)
    conv["heat_pump"] = conv["heat_pump"].model_copy(update={"om_per_kwh_chf": 0.0,
                                                             "capex_per_unit_chf": 100.0})
    conv["solar_thermal"] = conv["solar_thermal"].model_copy(update={"om_per_kwh_chf": 0.0,
                                                                     "capex_per_unit_chf": 20.0})
    case = synthetic_case(4, Catalogue(conversion=conv, storage=cat.storage), gas_per_kwh=0.4)
    whole = solve_model(build_model(case, "fit"), WHOLE)
    assert whole.capacities["heat_pump_kw"] > 1.0 and whole.capacities["solar_thermal_m2"] > 1.0
    monkeypatch.setattr(pricing, "probe_left_out", _leave_out({"heat_pump", "solar_thermal", "battery"}))
    _assert_same(case, "fit")


def test_milp_and_fixed_or_electricity_producing_technologies_are_never_left_out() -> None:
    case = synthetic_case(2)
    assert set(pricing.deferrable(case)) == {"heat_pump", "boiler", "solar_thermal", "battery", "tank"}
    from dataclasses import replace

    assert "tank" not in pricing.deferrable(replace(case, initial_e_kwh={"tank": 10.0}))
    conv = dict(case.catalogue.conversion)
    conv["boiler"] = conv["boiler"].model_copy(update={"capex_fixed_chf": 10.0})
    milp = case.with_catalogue(Catalogue(conversion=conv, storage=case.catalogue.storage))
    assert pricing.deferrable(milp) == []


@pytest.mark.parametrize("left_out", [{"battery", "heat_pump"}, {"heat_pump"}])
def test_net_metering_per_interval_prices_left_out_consumers_at_the_rounded_pattern(
        left_out: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """nm+tou over a week (12 metering binaries on its Sunday) with a cheap battery that the optimum
    builds: leaving it (and the heat pump) out of the rounded relaxation's LPs is undone by its
    reduced cost, which counts what charging loosens in the metering draw rows; the result is
    within its stated gap of the whole MILP's optimum."""
    cat = load_catalogue()
    storage = dict(cat.storage)
    storage["battery"] = storage["battery"].model_copy(update={"capex_per_kwh_chf": 1.0})
    case = synthetic_case(7, Catalogue(conversion=cat.conversion, storage=storage))
    whole = solve_model(build_model(case, "nm+tou"), SolverOptions(leave_out_unbuilt=False, mip_rel_gap=1e-9))
    assert whole.capacities["battery_kwh"] > 1.0
    monkeypatch.setattr(pricing, "probe_left_out", _leave_out(left_out))
    priced = solve_leaving_out_unbuilt(build_model(case, "nm+tou"))
    assert "metering pattern rounded" in priced.solved_as
    assert priced.capacities["battery_kwh"] > 1.0
    assert priced.lower_bound_chf <= whole.objective_chf * (1 + 1e-9) <= priced.objective_chf * (1 + 2e-9)
    assert priced.optimality_gap <= SolverOptions().metering_gap
