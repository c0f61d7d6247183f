"""No forecaster sees data after its issue time.

Every registered forecaster is trained and issued at step k on an archive, then again on a copy
whose every value from step k on is poisoned (huge numbers, NaN): an honest forecaster issues the
very same forecast. `perfect` reads the future by design, so it must change: that shows the check
catches a forecaster that peeks. The weather service keeps its own truth (a weather forecast is
information about the future by nature); the view only hands out forecasts issued up to k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import REGISTRY, Archive, LookAheadError, WeatherForecasts, build_forecaster
from forecasting.base import Forecast

STEP_S = 3600
DAYS = 24  # long enough for the four calibration blocks of gbt (and its regime bins)
QUANTITY_OF = {"nwp": "t_out_c"}
FAST = {"gbt": {"max_iter": 20, "train_rows": 2000}}


def _archive(poison_from: int | None = None) -> tuple[Archive, WeatherForecasts]:
    n = DAYS * 24
    times = pd.date_range("2024-03-01", periods=n, freq="h", tz="Europe/Berlin")
    rng = np.random.default_rng(5)
    hour = np.asarray(times.hour, dtype=float)
    daily = 1.0 + 0.5 * np.sin(2 * np.pi * (hour - 7) / 24)
    demand = daily[:, None] * rng.uniform(0.5, 2.0, 4) * rng.lognormal(0.0, 0.2, (n, 4))
    sun = np.clip(np.sin(np.pi * (hour - 6) / 12), 0.0, None)
    pv = sun[:, None] * np.array([0.0, 3.0, 5.0, 8.0]) * rng.uniform(0.3, 1.0, (n, 1))
    t_out = 5 + 4 * np.sin(2 * np.pi * (hour - 9) / 24) + np.cumsum(rng.normal(0, 0.3, n))
    ghi = 600 * sun * rng.uniform(0.2, 1.0, n)
    clear = 700 * sun
    weather = WeatherForecasts({"t_out_c": t_out.copy(), "ghi_w_m2": ghi.copy()}, clear, STEP_S, seed=3)
    values = {"p_base_kw": demand, "pv_kw": pv, "t_out_c": t_out[:, None], "ghi_w_m2": ghi[:, None]}
    if poison_from is not None:
        values = {k: v.copy() for k, v in values.items()}
        for v in values.values():
            v[poison_from:] = 1e6
            v[poison_from + 1 :: 3] = np.nan
    buildings = ("b0", "b1", "b2", "b3")
    entities = {"p_base_kw": buildings, "pv_kw": buildings, "t_out_c": ("site",), "ghi_w_m2": ("site",)}
    return Archive(times, STEP_S, values, entities), weather


def _issue(kind: str, quantity: str, archive: Archive, weather: WeatherForecasts, k: int) -> Forecast:
    forecaster = build_forecaster(kind, quantity, FAST.get(kind, {}), oracle=archive)
    forecaster.fit(archive.view(k, weather))
    return forecaster.forecast(archive.view(k, weather), 24)


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_no_forecaster_sees_the_future(kind: str) -> None:
    k = (DAYS - 2) * 24 + 5
    clean, weather = _archive()
    poisoned, _ = _archive(poison_from=k)
    quantities = [QUANTITY_OF[kind]] if kind in QUANTITY_OF else ["p_base_kw", "pv_kw", "t_out_c"]
    for quantity in quantities:
        honest = _issue(kind, quantity, clean, weather, k)
        after = _issue(kind, quantity, poisoned, weather, k)
        assert np.isfinite(honest.mean).all()
        same = np.array_equal(honest.mean, after.mean, equal_nan=True)
        for bound in ("lower", "upper"):  # the intervals (and their calibration) must not peek either
            if kind != "perfect" and getattr(honest, bound) is not None:
                assert np.array_equal(getattr(honest, bound), getattr(after, bound), equal_nan=True), (
                    f"{kind} {bound} bound of {quantity} changed when the future changed: it peeks")
        if kind == "perfect":  # the oracle: the check must notice it
            assert not same, "poisoning the future did not change the perfect forecast: the check is blind"
        else:
            assert same, f"{kind} forecast of {quantity} changed when the future changed: it peeks"


def test_a_view_holds_only_the_past_and_refuses_later_weather_forecasts() -> None:
    archive, weather = _archive()
    k = 100
    view = archive.view(k, weather)
    assert view["p_base_kw"].shape == (k, 4)
    np.testing.assert_array_equal(view["p_base_kw"], archive.values["p_base_kw"][:k])
    assert view.issue_time == archive.times[k]
    with pytest.raises(ValueError, match="read-only"):
        view["p_base_kw"][0, 0] = 1.0
    assert len(view.weather_forecast("t_out_c", k, 6)) == 6
    with pytest.raises(LookAheadError):
        view.weather_forecast("t_out_c", k + 1, 6)
    with pytest.raises(LookAheadError):
        view.weather_forecasts("ghi_w_m2", np.array([k - 3, k + 2]), np.array([1, 1]))
