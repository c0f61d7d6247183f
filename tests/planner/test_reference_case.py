"""The price-policy reference case, read in place; skipped cleanly when the folder is absent.

The slow test plans the seven policy scenarios over 8760 hours and checks the study's qualitative
findings that this model reproduces (see docs/planner.md for the full comparison).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.hub.co2_range import study_co2_bound
from planner.hub.policies import STUDY_POLICY_ORDER
from planner.hub.reference import find_reference_dir, load_reference_case
from planner.hub.results import PlanResult
from planner.hub.run import plan_policies, write_outputs
from planner.hub.technologies import load_catalogue

REFERENCE = find_reference_dir()
pytestmark = pytest.mark.skipif(REFERENCE is None, reason="reference folder ../shared/reference/"
                                "ehub-price-policy absent (set COSIM_EHUB_REFERENCE to run)")


def _tech_table(name: str) -> pd.DataFrame:
    assert REFERENCE is not None
    return pd.read_csv(REFERENCE / "technology_data" / name, index_col=0)


def test_reference_case_loads_with_the_documented_totals() -> None:
    case = load_reference_case(REFERENCE)
    assert case.n_steps == 8760 and case.roof_area_m2 == 12500
    assert case.heat_demand_kw.sum() / 1e3 == pytest.approx(6401, rel=1e-3)
    assert case.elec_demand_kw.sum() / 1e3 == pytest.approx(6560, rel=1e-3)
    assert case.irradiance_w_per_m2.sum() / 1e3 == pytest.approx(1229, rel=1e-3)
    assert case.price_series["rtp"].mean() == pytest.approx(0.214, rel=1e-2)
    assert case.index[0].day_name() == "Thursday"


def test_default_catalogue_matches_the_reference_technology_files() -> None:
    conv, store = _tech_table("conversion_technology_data.csv"), _tech_table("storage_technology_data.csv")
    cat = load_catalogue()
    names = {"Heat pump": "heat_pump", "Gas boiler": "boiler", "Gas CHP": "chp", "Solar PV": "pv",
             "Solar thermal": "solar_thermal"}
    for column, name in names.items():
        tech = cat.conversion[name]
        assert tech.lifetime_a == float(conv.loc["Lifetime", column])
        assert tech.capex_per_unit_chf == float(conv.loc["Capital cost per kW", column])
        assert tech.om_per_kwh_chf == float(conv.loc["OM cost per kWh", column])
        assert tech.outputs[tech.capacity_on] == float(conv.loc["Efficiency", column])
    chp = cat.conversion["chp"]
    assert chp.outputs["heat"] / chp.outputs["elec"] == pytest.approx(float(conv.loc["Heat to power ratio",
                                                                                     "Gas CHP"]))
    for column, name in {"Battery": "battery", "Hot water tank": "tank"}.items():
        s = cat.storage[name]
        assert s.capex_per_kwh_chf == float(store.loc["Capital cost per kWh", column])
        assert (s.eta_charge, s.eta_discharge) == (float(store.loc["Charging efficiency", column]),
                                                   float(store.loc["Discharging efficiency", column]))
        assert s.decay_per_h == float(store.loc["Decay", column])
        assert s.c_rate_charge_per_h == float(store.loc["Maximum charging rate", column])


# The findings below take the seven 8760-hour scenarios (minutes of HiGHS time, over ten for the two
# net-metering ones): opt in with PLANNER_STUDY_TESTS=1 so that the default suite stays fast.
study_only = pytest.mark.skipif(os.environ.get("PLANNER_STUDY_TESTS") != "1",
                                reason="set PLANNER_STUDY_TESTS=1 to plan the seven 8760-hour scenarios")


@pytest.fixture(scope="module")
def study() -> dict[str, PlanResult]:
    """The seven plans; with PLANNER_STUDY_OUT=DIR also their summary.csv, dispatch and figures."""
    case = load_reference_case(REFERENCE)
    results = plan_policies(case, list(STUDY_POLICY_ORDER))
    if os.environ.get("PLANNER_STUDY_OUT"):
        write_outputs(results, Path(os.environ["PLANNER_STUDY_OUT"]), figures=True)
    return {r.policy: r for r in results}


@pytest.mark.slow
@study_only
def test_boiler_chp_and_tank_in_every_case_no_heat_pump_no_battery(study: dict[str, PlanResult]) -> None:
    assert set(study) == set(STUDY_POLICY_ORDER)
    for policy, result in study.items():
        caps = result.capacities
        assert caps["boiler_kw"] > 100 and caps["chp_kwe"] > 10 and caps["tank_kwh"] > 100, policy
        assert caps["heat_pump_kw"] == pytest.approx(0, abs=1e-3), policy
        assert caps["battery_kwh"] == pytest.approx(0, abs=1e-3), policy
        assert caps["solar_thermal_m2"] == pytest.approx(0, abs=1e-3), policy


@pytest.mark.slow
@study_only
def test_net_metering_gives_the_largest_pv_at_the_roof_limit(study: dict[str, PlanResult]) -> None:
    pv = {p: r.capacities["pv_m2"] for p, r in study.items()}
    assert pv["nm"] >= max(pv.values()) - 1e-3
    assert pv["nm"] == pytest.approx(12_500, abs=1e-3)
    assert pv["nm+tou"] == pytest.approx(12_500, abs=1e-3)


@pytest.mark.slow
@study_only
def test_time_of_use_lowers_cost_with_large_pv_and_chp_in_dear_hours(study: dict[str, PlanResult]) -> None:
    tou, fit = study["tou"], study["fit"]
    assert tou.costs.total_chf < fit.costs.total_chf
    assert tou.capacities["pv_m2"] >= fit.capacities["pv_m2"] - 1e-3
    d = tou.dispatch
    expensive = d["import_price_per_kwh"] > 0.2
    chp_share_expensive = d.loc[expensive, "chp_elec_kw"].sum() / d["chp_elec_kw"].sum()
    assert chp_share_expensive > expensive.mean()  # the CHP runs more in high-price hours ...
    # ... and its surplus heat fills the tank
    assert d.loc[expensive, "tank_charge_kw"].sum() > d.loc[~expensive, "tank_charge_kw"].sum()


@pytest.mark.slow
@study_only
def test_real_time_pricing_brings_no_benefit(study: dict[str, PlanResult]) -> None:
    assert study["rtp"].costs.total_chf >= study["fit"].costs.total_chf


@pytest.mark.slow
@study_only
def test_net_metering_has_the_lowest_emissions_of_the_feed_in_policies(study: dict[str, PlanResult]) -> None:
    """The study's convention: grid electricity bought (credit drawn back is the hub's own PV)."""
    co2 = {p: study[p].co2_t for p in ("none", "fit", "fip", "nm")}
    assert co2["nm"] == min(co2.values())
    assert study["nm"].co2_physical_t > study["nm"].co2_t  # the credit drawn back is grid electricity


@pytest.mark.slow
@study_only
@pytest.mark.xfail(reason="blocked with the study's model as restated (docs/planner.md): nm+tou "
                          "2,192 t against nm 2,095 t (+4.6 %), its CHP 505 kWe against 186 kWe; no "
                          "optimal design of either comes within 2 % (next test)", strict=True)
def test_net_metering_with_time_of_use_emits_about_as_much_as_net_metering(
        study: dict[str, PlanResult]) -> None:
    assert study["nm+tou"].co2_t == pytest.approx(study["nm"].co2_t, rel=0.02)


WITHOUT = frozenset({"heat_pump", "solar_thermal", "battery"})


@pytest.mark.slow
@study_only
def test_no_optimal_designs_bring_net_metering_with_time_of_use_within_2_percent_of_net_metering(
        study: dict[str, PlanResult]) -> None:
    """The evidence for the blocked finding above: CO2 is not in the objective, so the optimum does
    not fix it; but over *every* design of a relaxation that costs no more than the solution found
    (so every optimal design, planner.hub.co2_range), nm+tou emits at least L, and every nm design
    within 1 CHF/a of nm's optimum at most U, with L > 1.02·U. Designs without heat pump, solar
    thermal and battery (no policy builds them); L and U are the exact LPs with the cost as a row
    (minutes; the Lagrangian bounds at 30–300 CHF/t were too loose for nm's maximum: 2,157 t)."""
    case = load_reference_case(REFERENCE)
    nm, nm_tou = study["nm"], study["nm+tou"]
    most_nm = study_co2_bound(case, "nm", nm.objective_chf + 1.0, "max", WITHOUT)
    least_nm_tou = study_co2_bound(case, "nm+tou", nm_tou.objective_chf, "min", WITHOUT)
    assert most_nm >= nm.co2_t - 1e-6 and least_nm_tou <= nm_tou.co2_t + 1e-6
    assert least_nm_tou > 1.02 * most_nm


@pytest.mark.slow
@study_only
def test_net_metering_never_draws_and_banks_in_the_same_hour(study: dict[str, PlanResult]) -> None:
    for policy in ("nm", "nm+tou"):
        d = study[policy].dispatch
        draw = d["grid_import_kw"] + d["nm_withdrawal_kw"]
        assert float(np.minimum(draw, d["export_solar_kw"]).max()) <= 1e-6, policy


@pytest.mark.slow
@study_only
@pytest.mark.xfail(reason="not reproduced: with net metering per interval nm+tou (2,183.0 kCHF/a) is "
                          "still the cheapest scenario, not between nm and tou (docs/planner.md)",
                   strict=True)
def test_net_metering_with_time_of_use_lies_between_the_two(study: dict[str, PlanResult]) -> None:
    costs = sorted([study["nm"].costs.total_chf, study["tou"].costs.total_chf])
    assert costs[0] <= study["nm+tou"].costs.total_chf <= costs[1]


@pytest.mark.slow
@study_only
def test_fit_optimum_matches_the_cross_checked_value(study: dict[str, PlanResult]) -> None:
    """2,282,925.47 CHF/a, the optimum oemof-solph finds on the same data (benchmarks/bench_planner.py);
    plan_policies leaves the unbuilt technologies out and prices them back, so this also checks that
    this path keeps the whole LP's optimum on the reference case."""
    assert study["fit"].objective_chf == pytest.approx(2_282_925.47, abs=0.01)
