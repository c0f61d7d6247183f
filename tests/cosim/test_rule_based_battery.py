"""The rule-based controller asks a battery only for what it can take (issue 15, item 3: a 10 kWh
battery was asked for 6.3 kW at a 3 kW C-rate and kept charging when full, so the clipped energy
exceeded the throughput)."""

from __future__ import annotations

from controllers.baseline import RuleBased
from controllers.measurements import BuildingMeasurement
from cosim.results.writer import read_table
from cosim.run import RunSummary


def _m(p_kw: float, charge_max_kw: float | None, discharge_max_kw: float | None) -> BuildingMeasurement:
    return BuildingMeasurement(
        0, 900, 12.0, p_kw, 0.5, 0.0, 20.0, 0.0, 0.0, 0.5, 10.0, charge_max_kw, discharge_max_kw
    )


def test_the_setpoint_stays_within_what_the_battery_can_take() -> None:
    rule = RuleBased()
    assert rule.step(_m(-6.3, 3.0, 3.0)).battery_p_kw == 3.0  # PV surplus beyond the C-rate
    assert rule.step(_m(-6.3, 0.0, 3.0)).battery_p_kw == 0.0  # full: no charging asked
    assert rule.step(_m(4.0, 3.0, 1.5)).battery_p_kw == -1.5  # nearly empty
    assert rule.step(_m(-2.0, 3.0, 3.0)).battery_p_kw == 2.0  # within the limits: the surplus
    assert rule.step(_m(-6.3, None, None)).battery_p_kw == 6.3  # limits unknown: as before


def test_rule_based_batteries_are_never_clipped_in_a_run(small_run: RunSummary) -> None:
    storage = small_run.kpis["storage"]
    assert storage["battery_throughput_kwh"] > 1.0 and storage["clipped_kwh"] < 1e-9
    batteries = read_table(small_run.out_dir, "batteries")
    assert (batteries["p_charge_max_kw"] >= 0).all() and (batteries["p_discharge_max_kw"] >= 0).all()
