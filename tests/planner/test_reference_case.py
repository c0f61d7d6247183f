"""The price-policy reference case, read in place; skipped cleanly when the folder is absent.

The slow test plans the seven policy scenarios over 8760 hours and checks the study's qualitative
findings that this model reproduces (see docs/planner.md for the full comparison).
"""

from __future__ import annotations

import pandas as pd
import pytest

from planner.hub.policies import STUDY_POLICY_ORDER
from planner.hub.reference import find_reference_dir, load_reference_case
from planner.hub.results import PlanResult
from planner.hub.run import plan_policies
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


@pytest.fixture(scope="module")
def study() -> dict[str, PlanResult]:
    case = load_reference_case(REFERENCE)
    return {r.policy: r for r in plan_policies(case, list(STUDY_POLICY_ORDER))}
