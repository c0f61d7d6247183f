"""Bounds of the study-convention CO2 over every design within a cost ceiling, on the hand-built case
of test_metering_interval (two hours, demand 10 kWh each, PV 0.2 kWh/m² in hour 1 at 0.03 CHF/m²,
roof 100 m², grid 0.1 kg CO2/kWh).

- nm (flat 0.3 CHF/kWh): A m² of PV cost 0.03·A and leave 20 − 0.2·A kWh to buy (the surplus of
  hour 1 is banked and drawn back in hour 2), so the cost is 6 − 0.03·A. At the optimum (3.0 CHF,
  the full roof) nothing is bought; a ceiling of 4 CHF needs A ≥ 200/3 m², so at most 20/3 kWh are
  bought: 2/3 kg.
- nm+tou (0.1 then 0.3): at 4 CHF the design without PV (10 kWh at 0.1 and 10 at 0.3) is affordable
  and no design draws more than the demand: at most 20 kWh bought, 2 kg; the full roof buys nothing.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.hub.co2_range import study_co2_bound
from planner.hub.errors import PlannerInputError, PlannerSolverError
from tests.planner.test_metering_interval import GROSS_TOU, _case


def test_bounds_by_hand() -> None:
    case = _case()
    assert study_co2_bound(case, "nm", 3.0 + 1e-9, "max") == pytest.approx(0.0, abs=1e-9)
    assert study_co2_bound(case, "nm", 4.0, "max") == pytest.approx(2 / 3 * 1e-3, rel=1e-6)
    assert study_co2_bound(case, "nm+tou", 4.0, "max") == pytest.approx(2e-3, rel=1e-6)
    assert study_co2_bound(case, "nm+tou", 4.0, "min") == pytest.approx(0.0, abs=1e-9)


def test_lagrangian_bounds_are_valid_and_exact_at_the_right_price() -> None:
    """Under nm each m² of PV costs 0.03 CHF less and saves 0.02 kg (0.2 kWh bought less): at a CO2
    price of 1.5 CHF/kg (1,500 CHF/t) the Lagrangian bound is the exact 2/3 kg; at other prices it
    is above (max) or below (min) the exact value, never inside."""
    case = _case()
    exact_max = study_co2_bound(case, "nm", 4.0, "max")
    assert study_co2_bound(case, "nm", 4.0, "max", co2_prices_chf_per_t=(1500.0,)) == pytest.approx(
        exact_max, rel=1e-6)
    for price in (100.0, 1000.0, 2000.0):
        assert study_co2_bound(case, "nm", 4.0, "max", co2_prices_chf_per_t=(price,)) > exact_max + 1e-7
        assert study_co2_bound(case, "nm+tou", 3.5, "min", co2_prices_chf_per_t=(price,)) <= 1e-12


def test_a_ceiling_below_the_optimum_or_a_policy_without_net_metering_is_refused() -> None:
    case = _case()
    with pytest.raises(PlannerSolverError, match="no bound"):
        study_co2_bound(case, "nm", 2.0, "min")
    gross = replace(case, policies={"tou": GROSS_TOU})
    with pytest.raises(PlannerInputError, match="no net-metering relaxation"):
        study_co2_bound(gross, "tou", 10.0, "min")
