"""Prices as a forecast quantity: with `import_per_kwh` under the `forecast:` section's quantities the
controllers (and the day-ahead planner) get a forecast of a real-time tariff from its published
history instead of the exact future prices; without it, the tariff as published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosim.control.forecast import DistrictForecaster, StateTracker
from cosim.results.writer import ResultsWriter, read_table
from cosim.run import run_scenario
from cosim.scenario.model import Scenario
from tests.cosim.test_admm_run import DISTRICT

PRICES = {"kind": "rtp", "price_per_kwh": 0.3}
BASE: dict[str, Any] = {**DISTRICT, "duration": "1d", "sources": {"prices": PRICES}}
FORECAST: dict[str, Any] = {"kind": "seasonal_naive", "history_days": 9, "record_leads_h": [1, 6]}
WITH_PRICES = FORECAST | {"quantities": {"import_per_kwh": {"kind": "seasonal_naive"}}}
DAY = 96  # 15-minute steps


def _prices(forecast: dict[str, Any], step: int, writer: ResultsWriter | None = None) -> np.ndarray:
    forecaster = DistrictForecaster(Scenario.model_validate({**BASE, "forecast": forecast}), 24, writer)
    tracker = StateTracker(forecaster.names, forecaster.fleet.x[:, 0])
    states = tracker.states({n: {} for n in forecaster.names})
    data = forecaster.agent_data(step, states)
    assert all(np.array_equal(d.price_per_kwh, data[0].price_per_kwh) for d in data)
    return np.asarray(data[0].price_per_kwh)


def test_controllers_get_forecast_real_time_prices(tmp_path: Path) -> None:
    step = 40
    exact = _prices(FORECAST, step)  # prices not asked for: the tariff as published
    writer = ResultsWriter(tmp_path / "fc")
    forecast = _prices(WITH_PRICES, step, writer)
    writer.end_step()
    writer.close()
    published = DistrictForecaster(Scenario.model_validate(BASE), 24).prices.import_per_kwh
    np.testing.assert_allclose(exact, published[step : step + 24])
    assert np.abs(forecast - exact).max() > 0.01  # a forecast of the real-time price ...
    assert abs(forecast.mean() - exact.mean()) < 0.2 * exact.mean()  # ... near it
    # seasonal naive: the price of the same quarter hour the day before (the run's history)
    scenario = Scenario.model_validate({**BASE, "forecast": WITH_PRICES})
    archive = DistrictForecaster(scenario, 24).issuer.district  # type: ignore[union-attr]
    k = archive.run_offset + step
    np.testing.assert_allclose(forecast, archive.archive.values["import_per_kwh"][k - DAY : k - DAY + 24, 0])
    np.testing.assert_allclose(archive.archive.values["import_per_kwh"][k : k + 24, 0], exact)  # truth
    recorded = read_table(tmp_path / "fc", "forecasts").query("quantity == 'import_per_kwh'")
    assert sorted(recorded["lead_s"]) == [3600, 21600] and set(recorded["entity"]) == {"site"}
    assert np.allclose(recorded["realised"], [exact[3], exact[23]])


def test_a_run_plans_on_forecast_prices(tmp_path: Path) -> None:
    data = {**BASE, "duration": "3h", "forecast": WITH_PRICES,
            "controller": {"kind": "mpc", "transport": "inprocess", "mpc": {"horizon": "2h"}}}
    run = run_scenario(Scenario.model_validate(data), tmp_path / "run", echo=lambda _t: None)
    assert (read_table(run.out_dir, "mpc_steps")["status"] == "optimal").all()
    issued = read_table(run.out_dir, "forecasts")
    assert issued.query("quantity == 'import_per_kwh'")["time_s"].nunique() == 12
