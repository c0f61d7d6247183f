"""Hot-water tanks under a `forecast:` section get forecast hot-water demand, not the twin's exact
values: `dhw_th_kw` is a forecast quantity (issued and recorded in districts with tanks) and the
tanks' COP follows the forecast weather."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosim.control.forecast import DistrictForecaster, StateTracker
from cosim.control.storage_data import StorageData
from cosim.results.writer import ResultsWriter, read_table
from cosim.scenario.model import Scenario
from tests.cosim.test_storage_admm import DISTRICT

FORECAST: dict[str, Any] = {"kind": "seasonal_naive", "history_days": 9, "record_leads_h": [1]}
HORIZON = 8


def _tanks(scenario: Scenario, writer: ResultsWriter | None = None) -> tuple[np.ndarray, np.ndarray]:
    forecaster = DistrictForecaster(scenario, HORIZON, writer=writer)
    storage = StorageData(scenario, forecaster)
    tracker = StateTracker(forecaster.names, forecaster.fleet.x[:, 0])
    states = tracker.states({n: {} for n in forecaster.names})
    data = storage.with_tanks(forecaster.agent_data(4, states), 4, {})
    tanks = [d.tank for d in data if d.tank is not None]
    assert len(tanks) == 4  # the four houses' tanks
    return np.stack([t.q_dhw_kw for t in tanks]), np.stack([t.cop_dhw for t in tanks])


def test_tanks_plan_on_forecast_hot_water_demand(tmp_path: Path) -> None:
    exact_dhw, exact_cop = _tanks(Scenario.model_validate(DISTRICT))
    writer = ResultsWriter(tmp_path / "fc")
    dhw, cop = _tanks(Scenario.model_validate({**DISTRICT, "forecast": FORECAST}), writer)
    writer.end_step()
    writer.close()
    assert np.isfinite(dhw).all() and (dhw >= 0).all() and dhw.sum() > 0
    assert np.abs(dhw - exact_dhw).max() > 1e-3  # a forecast, not the truth ...
    assert abs(dhw.mean() - exact_dhw.mean()) < 0.5 * exact_dhw.mean()  # ... of the same demand
    assert np.abs(cop - exact_cop).max() > 0  # at the forecast weather
    np.testing.assert_allclose(cop, exact_cop, rtol=0.2)
    # issued once per step (the buildings' data and the tanks' share it) and recorded
    issued = read_table(tmp_path / "fc", "forecasts")
    hot_water = issued[issued["quantity"] == "dhw_th_kw"]
    assert len(hot_water) == 5 and issued["time_s"].nunique() == 1  # 4 houses and the flats, one issue
    house = hot_water.set_index("entity").loc["house-001", "value"]
    assert house == dhw[0, 3]  # lead 1 h = the 4th quarter hour
