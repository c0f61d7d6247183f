"""Plan export (controllers.plans format), output files and YAML case files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from controllers.plans import AssetPlan, PlanSet
from planner.hub.case_file import case_from_file
from planner.hub.errors import PlannerInputError
from planner.hub.export import export_plans
from planner.hub.results import REQUIRED_CAPACITY_COLUMNS, PlanResult
from planner.hub.run import plan_policies, read_dispatch, write_outputs
from planner.hub.technologies import load_catalogue

EXAMPLE = Path(__file__).resolve().parents[2] / "planner" / "hub" / "cases" / "example.yaml"


@pytest.fixture(scope="module")
def example_results() -> list[PlanResult]:
    case = case_from_file(EXAMPLE)
    return plan_policies(case.sliced(0, 96), ["tou", "nm"])


def test_example_case_loads_with_user_technology_and_policy() -> None:
    case = case_from_file(EXAMPLE)
    assert case.n_steps == 21 * 24 and case.step_h == 1.0
    assert "small_battery" in case.catalogue.storage and "fip_spot" in case.policies
    assert set(case.price_series) == {"tou", "rtp", "spot", "fip"}


def test_outputs_round_trip(example_results: list[PlanResult], tmp_path: Path) -> None:
    outputs = write_outputs(example_results, tmp_path, figures=True)
    summary = pd.read_csv(outputs.summary_csv)
    assert list(summary["policy"]) == ["tou", "nm"]
    for column in ("policy", *REQUIRED_CAPACITY_COLUMNS, "total_cost", "co2_t", "co2_physical_t",
                   "grid_import_mwh", "grid_import_physical_mwh"):
        assert column in summary.columns
    # the two ways of counting differ by the credit drawn back under net metering only
    nm = summary.set_index("policy").loc["nm"]
    nm_dispatch = next(r.dispatch for r in example_results if r.policy == "nm")
    withdrawn_mwh = nm_dispatch["nm_withdrawal_kw"].sum() * (8760 / len(nm_dispatch)) / 1e3  # hourly steps
    assert withdrawn_mwh > 1.0
    assert nm["grid_import_physical_mwh"] - nm["grid_import_mwh"] == pytest.approx(withdrawn_mwh, rel=1e-9)
    tou = summary.set_index("policy").loc["tou"]
    assert tou["co2_t"] == pytest.approx(tou["co2_physical_t"], rel=1e-12)
    for result in example_results:
        back = read_dispatch(outputs.dispatch_parquet, result.policy)
        assert set(back.columns) == set(result.dispatch.columns)
        pd.testing.assert_frame_equal(back[result.dispatch.columns], result.dispatch, check_freq=False,
                                      check_names=False)
    assert {p.name for p in outputs.figures} >= {"capacities.png", "cost_co2.png", "dispatch_week_tou.png"}


def test_day_ahead_plans_round_trip_and_match_the_dispatch(example_results: list[PlanResult]) -> None:
    result = example_results[0]
    catalogue = case_from_file(EXAMPLE).catalogue
    start = result.dispatch.index[24].to_pydatetime()
    created = datetime(2021, 3, 1, tzinfo=UTC)
    plans = export_plans(result, catalogue, start=start, horizon_h=24, step_s=3600, created_at=created)
    assert "grid" in plans.plans and "tank" in plans.plans
    tank = plans.plans["tank"]
    assert tank.kind == "thermal_storage" and tank.n_steps == 24 and tank.step_s == 3600
    window = result.dispatch.iloc[24:48]
    assert np.allclose(tank.series["soc"], window["tank_soc"])
    assert np.allclose(tank.series["p_kw"], window["tank_charge_kw"] - window["tank_discharge_kw"])
    grid = plans.plans["grid"].series
    assert np.allclose(grid["p_kw"], window["grid_import_kw"] - window["export_solar_kw"]
                       - window["export_other_kw"] + window.get("nm_withdrawal_kw", 0.0))
    assert PlanSet.from_json(plans.to_json()) == plans
    for plan in plans.plans.values():
        assert AssetPlan.from_json(plan.to_json()) == plan
        assert plan.created_at == created
    assert tank.value_at("soc", start) == pytest.approx(window["tank_soc"].iloc[0])
    assert tank.value_at("soc", datetime(2030, 1, 1)) is None


def test_plan_resampling_coarser_and_finer(example_results: list[PlanResult]) -> None:
    result = example_results[0]
    catalogue = case_from_file(EXAMPLE).catalogue
    start = result.dispatch.index[0]
    coarse = export_plans(result, catalogue, start=start, horizon_h=24, step_s=4 * 3600).plans["tank"]
    window = result.dispatch.iloc[:24]
    assert coarse.n_steps == 6
    assert np.allclose(coarse.series["e_kwh"], window["tank_e_kwh"].to_numpy()[3::4])
    net = (window["tank_charge_kw"] - window["tank_discharge_kw"]).to_numpy()
    assert np.allclose(coarse.series["p_kw"], net.reshape(6, 4).mean(axis=1))
    fine = export_plans(result, catalogue, start=start, horizon_h=2, step_s=900).plans["tank"]
    assert fine.n_steps == 8 and np.allclose(fine.series["p_kw"][:4], net[0])
    assert fine.series["e_kwh"][3] == pytest.approx(window["tank_e_kwh"].iloc[0])
    with pytest.raises(PlannerInputError, match="not a step of the dispatch"):
        export_plans(result, catalogue, start=start + pd.Timedelta(minutes=30))
    with pytest.raises(PlannerInputError, match="runs past the end"):
        export_plans(result, catalogue, start=result.dispatch.index[-2])


def test_plan_format_rejects_bad_plans() -> None:
    good = {"asset": "b1", "kind": "battery", "start": "2021-01-01T00:00:00Z", "step_s": 900,
            "series": {"soc": [0.1, 0.2], "p_kw": [1.0, -1.0]}}
    assert AssetPlan.model_validate(good).end == datetime(2021, 1, 1, 0, 30, tzinfo=UTC)
    for bad in ({"series": {"soc": [0.1], "p_kw": [1.0, 2.0]}}, {"series": {"soc": [float("nan")]}},
                {"step_s": 0}, {"schema_version": 2}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            AssetPlan.model_validate({**good, **bad})


def test_case_file_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntimeseries: ts.csv\ngrid: {co2_kg_per_kwh: 0.1, voltage_kv: 10}\n")
    with pytest.raises(PlannerInputError, match=r"bad\.yaml: grid\.voltage_kv: Extra inputs"):
        case_from_file(bad)
    bad.write_text("name: x\ntimeseries: ts.csv\npolicies: {add: {p: {import_price: {}}}}\n")
    with pytest.raises(PlannerInputError, match=r"bad\.yaml: policies\.add\.p\.import_price: .*exactly one"):
        case_from_file(bad)
    (tmp_path / "ts.csv").write_text("time,heat_demand_kw,elec_demand_kw\n2021-01-01 00:00,1,1\n")
    bad.write_text("name: x\ntimeseries: ts.csv\n")
    with pytest.raises(PlannerInputError, match=r"ts\.csv: missing columns \['irradiance_w_per_m2'\]"):
        case_from_file(bad)


def test_default_catalogue_is_the_study_table() -> None:
    cat = load_catalogue()
    assert cat.conversion["chp"].outputs == {"elec": 0.3, "heat": 0.519}
    assert cat.conversion["pv"].capex_per_unit_chf == 325 and cat.storage["tank"].capex_per_kwh_chf == 40
    assert not cat.is_milp


def test_day_ahead_rerun_keeps_the_design_and_starts_from_the_given_state() -> None:
    from planner.hub.day_ahead import day_ahead_plans, replan_day_ahead
    from planner.hub.errors import PlannerInfeasibleError

    case = case_from_file(EXAMPLE).sliced(0, 72)
    design = plan_policies(case, ["tou"])[0]
    start = case.index[24]
    tank_kwh = 0.5 * design.capacities["tank_kwh"]
    rerun = replan_day_ahead(case, design, start, initial_e_kwh={"tank": tank_kwh, "battery": 0.0,
                                                                  "small_battery": 0.0})
    for column, value in design.capacities.items():
        assert rerun.capacities[column] == pytest.approx(value, rel=1e-6, abs=1e-6)
    assert len(rerun.dispatch) == 24 and rerun.dispatch.index[0] == start
    first_tank = rerun.dispatch.iloc[0]
    keep = (1 - case.catalogue.storage["tank"].decay_per_h)
    expected = keep * tank_kwh + 0.9 * first_tank["tank_charge_kw"] - first_tank["tank_discharge_kw"] / 0.9
    assert first_tank["tank_e_kwh"] == pytest.approx(expected, rel=1e-6)
    plans = day_ahead_plans(case, design, start, step_s=1800)
    assert plans.plans["tank"].n_steps == 48
    too_cold = {"heat_demand_kw": 10 * case.heat_demand_kw[24:48]}
    with pytest.raises(PlannerInfeasibleError, match=r"heat demand .* fixed sizes"):
        replan_day_ahead(case, design, start, forecasts=too_cold)
