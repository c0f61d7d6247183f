"""Tiny hand-built cases whose optimum is known in closed form."""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.hub.solve import plan_case
from tests.planner.builders import boiler, catalogue, flat_policy, pv, tiny_case


def test_one_hour_one_boiler_costs_demand_times_price_over_efficiency() -> None:
    case = tiny_case([100.0], cat=catalogue({"boiler": boiler(eff=0.94)}), gas_per_kwh=0.09)
    result = plan_case(case, "flat")
    assert result.costs.total_chf == pytest.approx(100.0 * 0.09 / 0.94, rel=1e-9)
    assert result.capacities["boiler_kw"] == pytest.approx(100.0, rel=1e-6)
    assert result.co2_t == pytest.approx(100.0 / 0.94 * 0.2 / 1000, rel=1e-9)
    assert not result.is_milp


def test_capacity_cost_is_annualised_with_the_capital_recovery_factor() -> None:
    cat = catalogue({"boiler": boiler(eff=1.0, capex_per_unit_chf=1000.0, lifetime_a=10)})
    case = tiny_case([50.0], cat=cat, gas_per_kwh=0.1)
    case = replace(case, interest_rate=0.08)
    result = plan_case(case, "flat")
    crf = 0.08 / (1 - 1.08**-10)
    assert result.costs.capex_chf == pytest.approx(1000.0 * crf * 50.0, rel=1e-9)
    assert result.costs.total_chf == pytest.approx(1000.0 * crf * 50.0 + 5.0, rel=1e-9)


def _battery(capex_per_kwh: float, **extra: float | str) -> dict[str, object]:
    return {"carrier": "elec", "lifetime_a": 1, "capex_per_kwh_chf": capex_per_kwh, "eta_charge": 0.9,
            "eta_discharge": 0.9, "c_rate_charge_per_h": 2.0, "c_rate_discharge_per_h": 2.0,
            "start": "empty", **extra}


def test_storage_arbitrage_has_the_known_optimum() -> None:
    """Charge at 0.1 in hour 1, serve 10 kWh in hour 2 (price 0.3): buy 10/0.81 kWh, store 10/0.9 kWh."""
    from planner.hub.policies import Policy, PriceSpec

    policy = Policy(import_price=PriceSpec(series="price"))
    cat = catalogue(storage={"battery": _battery(0.1)})
    case = tiny_case([0.0, 0.0], [0.0, 10.0], cat=cat, policies={"rtp": policy},
                     price_series={"price": [0.1, 0.3]})
    result = plan_case(case, "rtp")
    assert result.capacities["battery_kwh"] == pytest.approx(10 / 0.9, rel=1e-6)
    assert result.costs.total_chf == pytest.approx(0.1 * 10 / 0.9 + 0.1 * 10 / 0.81, rel=1e-6)
    assert result.dispatch["battery_soc"].iloc[0] == pytest.approx(1.0, rel=1e-6)
    # too expensive a store is not built: the import at 0.3 is cheaper
    dear = tiny_case([0.0, 0.0], [0.0, 10.0], cat=catalogue(storage={"battery": _battery(0.2)}),
                     policies={"rtp": policy}, price_series={"price": [0.1, 0.3]})
    assert plan_case(dear, "rtp").costs.total_chf == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize(
    ("policy", "roof_m2", "pv_m2", "cost_chf"),
    [
        (flat_policy(0.3, net_metering=True), None, 50.0, 50 * 0.03),   # bank exactly the 10 kWh needed
        (flat_policy(0.3, net_metering=True), 30.0, 30.0, 30 * 0.03 + 4 * 0.3),  # roof-limited
        (flat_policy(0.3), None, 0.0, 3.0),                               # no compensation: PV useless
        (flat_policy(0.3, feed_in_per_kwh=0.1), None, 0.0, 3.0),          # 0.02 CHF/m2 income < 0.03 cost
        (flat_policy(0.3, feed_in_per_kwh=0.2), 100.0, 100.0, 3.0 + 100 * (0.03 - 0.04)),  # FIT pays
    ],
)
def test_net_metering_and_feed_in(policy, roof_m2, pv_m2, cost_chf) -> None:  # type: ignore[no-untyped-def]
    """PV yields 0.2 kWh/m² in hour 1 only, demand is 10 kWh in hour 2 at 0.3 CHF/kWh."""
    case = tiny_case([0.0, 0.0], [0.0, 10.0], cat=catalogue({"pv": pv(0.03)}), policies={"p": policy},
                     irradiance=[1000.0, 0.0], roof_area_m2=roof_m2)
    result = plan_case(case, "p")
    assert result.capacities["pv_m2"] == pytest.approx(pv_m2, abs=1e-6)
    assert result.costs.total_chf == pytest.approx(cost_chf, rel=1e-6)


def test_net_metering_credit_cannot_be_used_before_it_is_earned() -> None:
    """Demand comes before the PV output: banking does not help, nothing is built."""
    policy = flat_policy(0.3, net_metering=True)
    case = tiny_case([0.0, 0.0], [10.0, 0.0], cat=catalogue({"pv": pv(0.03)}), policies={"nm": policy},
                     irradiance=[0.0, 1000.0])
    result = plan_case(case, "nm")
    assert result.capacities["pv_m2"] == pytest.approx(0.0, abs=1e-6)
    assert result.costs.total_chf == pytest.approx(3.0, rel=1e-9)
