"""Net metering through relaxations of the bank: the same optimum as the chained model, and the
chained model whenever the bank's order or the credit's value would make a relaxation wrong."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from planner.hub import netting, pricing
from planner.hub.policies import Policy, PriceSpec
from planner.hub.solve import (
    SOLVED_WHOLE,
    SolverOptions,
    build_model,
    plan_case,
    solve_leaving_out_unbuilt,
    solve_model,
)
from planner.hub.technologies import Catalogue, load_catalogue
from tests.planner.builders import catalogue, flat_policy, pv, synthetic_case, tiny_case

WHOLE = SolverOptions(leave_out_unbuilt=False)


def _assert_bank_is_respected(dispatch: pd.DataFrame, step_h: float = 1.0) -> None:
    """B_t = B_{t−1} + Δt·(x_t − w_t) from B_0 = 0, B_t ≥ 0, and no negative import."""
    banked = dispatch["export_solar_kw"].to_numpy()
    withdrawn = dispatch["nm_withdrawal_kw"].to_numpy()
    bank = dispatch["nm_bank_kwh"].to_numpy()
    assert np.allclose(bank, np.cumsum(step_h * (banked - withdrawn)), atol=1e-5)
    assert bank.min() >= -1e-6
    assert dispatch["grid_import_kw"].min() >= -1e-6


def test_schedule_spends_credit_where_it_is_worth_most_after_it_is_earned() -> None:
    """Credit 6 kWh banked in hour 2; draws 5 kWh each hour at 0.3, 0.1, 0.3 CHF/kWh: hour 1 comes
    too early, so 5 kWh go to hour 3 and the remaining 1 kWh to hour 2."""
    schedule = netting.schedule_withdrawals(np.array([5.0, 5.0, 5.0]), np.array([0.0, 6.0, 0.0]),
                                            np.array([0.3, 0.1, 0.3]), step_h=1.0, weight=1.0)
    assert schedule.withdrawal_kw == pytest.approx([0.0, 1.0, 5.0], abs=1e-9)
    assert schedule.bank_kwh == pytest.approx([0.0, 0.0, 5.0, 0.0], abs=1e-9)
    assert schedule.value_chf == pytest.approx(1.6, rel=1e-9)


@pytest.mark.parametrize("policy", ["nm", "nm+tou"])
def test_relaxation_gives_the_chained_models_optimum(policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """12 winter days, PV at 250 CHF/m² on a 1000 m² roof: the roof is full and every kWh banked is
    drawn back (at the day price under TOU). (On a 2000 m² roof under TOU the first morning's
    draws come before any credit, the relaxations are refuted and the chained model is solved:
    tests/planner/test_pricing.py checks that optimum.)"""
    monkeypatch.setattr(pricing, "PROBE_DAYS", 3)
    monkeypatch.setattr(pricing, "MIN_PROBE_HORIZON_DAYS", 6)
    cat = load_catalogue()
    conversion = dict(cat.conversion)
    conversion["pv"] = conversion["pv"].model_copy(update={"capex_per_unit_chf": 250.0})
    cheap_pv = Catalogue(conversion=conversion, storage=cat.storage)
    case = replace(synthetic_case(12, cheap_pv), roof_area_m2=1000.0)
    whole = solve_model(build_model(case, policy), WHOLE)
    chained = build_model(case, policy)
    fast = solve_leaving_out_unbuilt(chained)
    assert "credit paid" in fast.solved_as and "proven exact" in fast.solved_as
    assert whole.solved_as == SOLVED_WHOLE
    assert fast.objective_chf == pytest.approx(whole.objective_chf, rel=1e-9)
    assert fast.co2_t == pytest.approx(whole.co2_t, rel=1e-3)  # not in the objective: optima may differ
    for column, value in whole.capacities.items():
        assert fast.capacities[column] == pytest.approx(value, rel=1e-6, abs=1e-4), column
    assert list(fast.dispatch.columns) == list(whole.dispatch.columns)
    assert whole.capacities["pv_m2"] > 1.0
    assert fast.dispatch["nm_withdrawal_kw"].sum() > 1000.0  # the bank is used, not trivially empty
    _assert_bank_is_respected(fast.dispatch)
    # the relaxation's decisions with the scheduled bank satisfy every constraint of the chained model
    worst = max(float(np.max(c.violation())) for c in chained.problem.constraints)  # type: ignore[no-untyped-call]
    assert worst <= 1e-5


def test_credit_beyond_the_draws_falls_back_to_the_bank_settled_over_the_horizon() -> None:
    """PV yields 0.2 kWh/m² in hour 1, demand is 10 kWh in hour 2 at 0.3 CHF/kWh, roof 100 m²:
    paid for its export the roof would be full (20 kWh of credit, half of it worthless); the
    settled bank builds the 50 m² that cover the demand."""
    case = tiny_case([0.0, 0.0], [0.0, 10.0], cat=catalogue({"pv": pv(0.03)}),
                     policies={"nm": flat_policy(0.3, net_metering=True)}, irradiance=[1000.0, 0.0],
                     roof_area_m2=100.0)
    result = plan_case(case, "nm")
    assert "bank settled over the horizon" in result.solved_as
    assert result.capacities["pv_m2"] == pytest.approx(50.0, abs=1e-6)
    assert result.costs.total_chf == pytest.approx(50 * 0.03, rel=1e-6)
    _assert_bank_is_respected(result.dispatch)


def test_credit_needed_before_it_is_earned_falls_back_to_the_chained_bank() -> None:
    """Demand in hour 1, PV only in hour 2: both relaxations would bank later PV for the earlier
    demand; the schedule refutes them and the chained model builds nothing."""
    case = tiny_case([0.0, 0.0], [10.0, 0.0], cat=catalogue({"pv": pv(0.03)}),
                     policies={"nm": flat_policy(0.3, net_metering=True)}, irradiance=[0.0, 1000.0],
                     roof_area_m2=100.0)
    result = plan_case(case, "nm")
    assert result.solved_as == SOLVED_WHOLE
    assert result.capacities["pv_m2"] == pytest.approx(0.0, abs=1e-6)
    assert result.costs.total_chf == pytest.approx(3.0, rel=1e-9)


def test_real_time_prices_keep_the_chained_bank() -> None:
    many = np.linspace(0.1, 0.3, netting.MAX_PRICE_LEVELS + 1)
    case = tiny_case([0.0] * many.size, [10.0] * many.size, cat=catalogue({"pv": pv(0.03)}),
                     policies={"nm": Policy(import_price=PriceSpec(series="rtp"), net_metering=True)},
                     irradiance=[500.0] * many.size, price_series={"rtp": many}, roof_area_m2=100.0)
    model = build_model(case, "nm")
    assert not netting.applies(model.prices)
    assert netting.relaxations(case, "nm", model.prices) == []
    result = plan_case(case, "nm")
    # the chained model itself, its metering binaries (every step: the price rises) decided by rounding
    # its LP relaxation, proven optimal here
    assert "relaxed" not in result.solved_as and "metering pattern" in result.solved_as
    assert result.optimality_gap <= 1e-9
