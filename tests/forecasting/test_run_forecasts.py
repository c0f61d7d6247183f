"""Forecasts in a run: a scenario's `forecast:` section drives the model-predictive controller, the
district's archive equals what the simulators computed, and issued forecasts are recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from cosim.control.forecast import DistrictForecaster, StateTracker
from cosim.results.writer import ResultsWriter, read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario
from tests.cosim.test_admm_run import DISTRICT

pytestmark = pytest.mark.slow

FORECAST: dict[str, Any] = {
    "kind": "gbt",
    "params": {"max_iter": 30, "train_rows": 3000},
    "history_days": 9,
    "retrain_every_h": 2,
    "record_leads_h": [0.25, 1, 3],
}


def _scenario(forecast: dict[str, Any] | None) -> Scenario:
    controller = {"kind": "mpc", "transport": "inprocess", "mpc": {"horizon": "3h"}}
    extra = {} if forecast is None else {"forecast": forecast}
    return Scenario.model_validate({**DISTRICT, "controller": controller, **extra})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunSummary:
    return run_scenario(_scenario(FORECAST), tmp_path_factory.mktemp("fc") / "run", echo=lambda _t: None)


def test_a_run_plans_on_issued_forecasts(run: RunSummary) -> None:
    steps = read_table(run.out_dir, "mpc_steps")
    assert len(steps) == 20 and (steps["status"] == "optimal").all()
    assert run.kpis["limit"]["exceeded_h"] < 0.5
    # the run records every forecast it issued, one issue per control step
    issued = read_table(run.out_dir, "forecasts")
    assert issued["time_s"].nunique() == 20 and {"p_base_kw", "pv_kw"} <= set(issued["quantity"])


def test_issued_forecasts_are_recorded_with_the_values_the_simulators_computed(
    run: RunSummary, tmp_path: Path
) -> None:
    scenario = _scenario(FORECAST)
    writer = ResultsWriter(tmp_path / "fc")
    forecaster = DistrictForecaster(scenario, 12, writer=writer)
    perfect = DistrictForecaster(_scenario(None), 12)
    tracker = StateTracker(forecaster.names, forecaster.fleet.x[:, 0])
    states = tracker.states({n: {} for n in forecaster.names})
    honest = []
    for step in range(6):
        honest.append(forecaster.agent_data(step, states))
        writer.end_step()
    exact = perfect.agent_data(5, states)
    writer.close()
    table = read_table(tmp_path / "fc", "forecasts")
    assert set(table["quantity"]) == {"p_base_kw", "pv_kw", "t_out_c", "ghi_w_m2"}
    assert set(table["lead_s"]) == {900, 3600, 10800}
    assert len(read_table(tmp_path / "fc", "forecast_steps_timing")) == 6
    # the realised values are the simulators' own (the run's buildings table)
    buildings = read_table(run.out_dir, "buildings").set_index(["time_s", "entity"])["p_base_kw"]
    demand = table[table["quantity"] == "p_base_kw"]
    target_s = demand["time_s"] + demand["lead_s"] - 900
    simulated = buildings.reindex(list(zip(target_s, demand["entity"], strict=True))).to_numpy()
    inside = ~np.isnan(simulated)
    assert inside.sum() > 100
    np.testing.assert_allclose(demand["realised"].to_numpy()[inside], simulated[inside], rtol=1e-9)
    # the forecasts are forecasts: not the truth, but near it
    error = (demand["value"] - demand["realised"]).abs()
    assert error.mean() > 1e-3
    assert error.mean() < demand["realised"].abs().mean()
    p_honest = np.stack([d.p_base_kw for d in honest[5]])
    p_exact = np.stack([d.p_base_kw for d in exact])
    assert not np.allclose(p_honest, p_exact)
    t_honest = np.stack([d.thermal.t_out_c for d in honest[5] if d.thermal is not None])
    t_exact = np.stack([d.thermal.t_out_c for d in exact if d.thermal is not None])
    assert 0.0 < np.abs(t_honest - t_exact).mean() < 3.0


def test_all_perfect_forecasts_equal_the_twin() -> None:
    perfect_section = {"kind": "perfect", "history_days": 9,
                       "quantities": {"t_out_c": {"kind": "perfect"}, "ghi_w_m2": {"kind": "perfect"}}}
    twin = DistrictForecaster(_scenario(None), 12)
    named = DistrictForecaster(_scenario(perfect_section), 12)
    for field in ("p_base_kw", "pv_kw", "q_air_gain_kw", "cop", "t_out_c"):
        np.testing.assert_array_equal(getattr(twin.tables(3), field), getattr(named.tables(3), field))


def test_the_cost_of_imperfect_foresight_is_a_table(tmp_path: Path) -> None:
    """`cosim forecast foresight`: the scenario as it is and with perfect forecasts, KPIs side by side."""
    from typer.testing import CliRunner

    from cosim.cli.app import app

    data = _scenario({"kind": "seasonal_naive", "history_days": 9}).model_dump(mode="json")
    data["duration"] = 4 * 3600
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["forecast", "foresight", str(path), "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "f" / "foresight.csv", index_col="kpi")
    assert table.loc["comfort.discomfort_kh", "perfect"] >= 0.0
    np.testing.assert_allclose(table["imperfect foresight"], table["forecasts"] - table["perfect"])
    assert (table["imperfect foresight"].abs() > 0).any()  # seasonal naive forecasts change the run
    no_section = tmp_path / "plain.yaml"
    no_section.write_text(yaml.safe_dump(_scenario(None).model_dump(mode="json")))
    result = CliRunner().invoke(app, ["forecast", "foresight", str(no_section)])
    assert result.exit_code == 2 and "no forecast: section" in result.output


def test_weather_that_does_not_cover_the_history_is_named() -> None:
    from cosim.scenario.model import load_scenario
    from simulators.sources.series import SeriesError

    examples = Path(__file__).resolve().parents[2] / "examples" / "csv-sources.yaml"
    data = load_scenario(examples).model_dump(mode="json")
    scenario = Scenario.model_validate({**data, "forecast": {"kind": "persistence"}})
    with pytest.raises(SeriesError, match=r"forecast\.history_days = 28: .*lower forecast\.history_days"):
        DistrictForecaster(scenario, 4)
