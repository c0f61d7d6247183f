"""Net metering per metering interval: no grid draw and credit deposit in the same step.

The hand-built case: two hours, electricity demand 10 kWh each, PV at 0.03 CHF per m² yielding
0.2 kWh/m² in hour 1 only, roof 100 m², no heat. Under time of use (0.1 then 0.3 CHF/kWh) with
net metering:

- gross metering (the reference model's bank): 50 m² of PV, buy 10 kWh at 0.1 in hour 1 while
  banking the 10 kWh of PV, draw the credit back at 0.3 in hour 2: 1.0 + 1.5 = 2.5 CHF;
- net metering per interval: PV first covers the hour's own demand, only the surplus is banked.
  Below 50 m² nothing is banked (cost 4 + 0.01·A, best 4.0 at A = 0); above, 0.2·A − 10 kWh are
  banked and drawn back in hour 2: 6 − 0.03·A, best 3.0 at A = 100 m² (the roof).
Under a flat 0.3 CHF/kWh both meters give 3.0 CHF (100 m²): the arbitrage needs a price spread.

The LP relaxation of the MILP (u_1 in [0, 1]) with the area split of ``define_metering_interval``
is exact here (3.0). With the plain big-M rows x_1 ≤ 20·u_1, d_1 ≤ 10·(1 − u_1) it would not be:
A = 75 m², u_1 = 1/2, draw 5 kWh and bank 10 (x_1 = d_1 + 0.2·A − 10) costs 2.25 + 0.5 + 0 = 2.75.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.hub import netting
from planner.hub.case import Case
from planner.hub.formulation import arbitrage_steps
from planner.hub.policies import Policy, PriceSpec
from planner.hub.solve import SolverOptions, build_model, plan_case, rounded_pattern, solve_model
from tests.planner.builders import catalogue, flat_policy, pv, synthetic_case, tiny_case

TOU = np.array([0.1, 0.3])
NM_TOU = Policy(import_price=PriceSpec(series="tou"), net_metering=True)
GROSS_TOU = Policy(import_price=PriceSpec(series="tou"), feed_in=PriceSpec(flat_per_kwh=0.3))


def _case() -> Case:
    return tiny_case([0.0, 0.0], [10.0, 10.0], cat=catalogue({"pv": pv(0.03)}),
                     policies={"nm+tou": NM_TOU, "nm": flat_policy(0.3, net_metering=True)},
                     irradiance=[1000.0, 0.0], roof_area_m2=100.0, price_series={"tou": TOU})


def test_arbitrage_steps_are_sunny_steps_below_a_later_price() -> None:
    price = np.array([0.1, 0.3, 0.1, 0.3, 0.2, 0.2])
    sun = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    # step 2 has no sun; 1 and 3 are at the top of what follows; 4 equals the later price
    assert arbitrage_steps(price, sun).tolist() == [0]
    assert arbitrage_steps(np.full(6, 0.214), sun).tolist() == []


def test_net_interval_takes_the_common_part_off_both() -> None:
    draw, banked = netting.net_interval(np.array([5.0, 0.0, 3.0]), np.array([2.0, 4.0, 3.0]))
    assert draw.tolist() == [3.0, 0.0, 0.0] and banked.tolist() == [0.0, 4.0, 0.0]


def test_gross_metering_would_pay_the_arbitrage() -> None:
    """The old model (the bank without the interval constraint) finds 2.5 CHF by buying and banking
    in hour 1: the case is one where the constraint matters."""
    case = _case()
    old = build_model(case, "nm+tou", meter_steps=np.zeros(0, dtype=int))
    assert not old.is_milp
    result = solve_model(old, SolverOptions(leave_out_unbuilt=False))
    assert result.objective_chf == pytest.approx(2.5, abs=1e-9)
    # (the netting of the chained solution cannot undo it: in hour 1 the credit is worth 0.3 > 0.1)
    assert result.capacities["pv_m2"] == pytest.approx(50.0, abs=1e-6)


@pytest.mark.parametrize("whole", [True, False])
def test_net_metering_per_interval_forbids_it(whole: bool) -> None:
    case = _case()
    result = plan_case(case, "nm+tou", SolverOptions(leave_out_unbuilt=not whole))
    assert result.is_milp
    assert result.objective_chf == pytest.approx(3.0, abs=1e-6)
    assert result.capacities["pv_m2"] == pytest.approx(100.0, abs=1e-6)
    d = result.dispatch
    draw = d["grid_import_kw"] + d["nm_withdrawal_kw"]
    assert float(np.minimum(draw, d["export_solar_kw"]).max()) <= 1e-6
    assert d["export_solar_kw"].tolist() == pytest.approx([10.0, 0.0], abs=1e-6)
    assert d["nm_withdrawal_kw"].tolist() == pytest.approx([0.0, 10.0], abs=1e-6)
    # emissions both ways: 10 kWh drawn (the credit) at 0.1 kg/kWh physically, nothing bought
    assert result.grid_import_mwh == pytest.approx(0.0, abs=1e-9)
    assert result.grid_import_physical_mwh == pytest.approx(0.010, abs=1e-9)
    assert result.co2_t == pytest.approx(0.0, abs=1e-9)
    assert result.co2_physical_t == pytest.approx(0.010 * 0.1, abs=1e-9)
    if not whole:
        assert "credit paid" in result.solved_as


def test_flat_net_metering_needs_no_binaries_and_keeps_its_optimum() -> None:
    case = _case()
    result = plan_case(case, "nm")
    assert not result.is_milp
    assert result.objective_chf == pytest.approx(3.0, abs=1e-6)


def test_feed_in_policies_keep_gross_metering() -> None:
    """Without net metering nothing changes: import and export may share a step (paid separately)."""
    case = tiny_case([0.0, 0.0], [10.0, 10.0], cat=catalogue({"pv": pv(0.03)}),
                     policies={"tou": GROSS_TOU}, irradiance=[1000.0, 0.0], roof_area_m2=100.0,
                     price_series={"tou": TOU})
    model = build_model(case, "tou")
    assert model.variables.grid.interval is None and not model.is_milp
    # buy 10 at 0.1 and sell the 20 kWh of a full roof at 0.3 in hour 1, buy 10 at 0.3 in hour 2
    result = plan_case(case, "tou")
    assert result.objective_chf == pytest.approx(1.0 + 3.0 + 3.0 - 6.0, abs=1e-6)
    assert result.co2_t == pytest.approx(result.co2_physical_t, abs=1e-12)


def test_lp_relaxation_with_the_area_split_is_exact_by_hand() -> None:
    case = _case()
    relaxed = build_model(case, "nm+tou", meter_relaxed=True)
    assert not relaxed.is_milp
    relaxed.problem.solve(solver="HIGHS")
    assert relaxed.problem.value == pytest.approx(3.0, abs=1e-9)   # the big-M rows: 2.75
    assert rounded_pattern(relaxed).tolist() == [1.0]               # hour 1 banks its surplus


def test_the_rounded_pattern_comes_with_its_bound() -> None:
    result = plan_case(_case(), "nm+tou")
    assert "rounded from the MILP's LP relaxation" in result.solved_as
    assert result.lower_bound_chf == pytest.approx(3.0, abs=1e-9)
    assert result.optimality_gap <= 1e-9


def _max_draw_while_depositing_kw(dispatch: pd.DataFrame) -> float:
    draw = dispatch["grid_import_kw"] + dispatch["nm_withdrawal_kw"]
    return float(np.minimum(draw, dispatch["export_solar_kw"]).max())


def test_stated_bound_brackets_the_milp_optimum() -> None:
    """A week of the synthetic district (CHP, boiler, PV, tank; 12 metering binaries): the rounded
    pattern's cost and its bound enclose the MILP's optimum (solved to a 1e-9 gap), and a zero
    tolerance falls back to that MILP."""
    case = synthetic_case(7)
    exact = solve_model(build_model(case, "nm+tou"), SolverOptions(leave_out_unbuilt=False, mip_rel_gap=1e-9))
    fast = plan_case(case, "nm+tou")
    assert fast.lower_bound_chf <= exact.objective_chf * (1 + 1e-9)
    assert exact.objective_chf <= fast.objective_chf * (1 + 1e-9)
    assert 0.0 <= fast.optimality_gap <= SolverOptions().metering_gap
    assert _max_draw_while_depositing_kw(fast.dispatch) <= 1e-6
    milp = plan_case(case, "nm+tou", SolverOptions(metering_gap=0.0))
    assert "metering MILP" in milp.solved_as
    assert milp.objective_chf == pytest.approx(exact.objective_chf, rel=1e-6)
    assert _max_draw_while_depositing_kw(milp.dispatch) <= 1e-6
