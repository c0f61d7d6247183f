"""The forecasters on small synthetic histories with known answers, and the weather-forecast errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import Archive, WeatherErrorParams, WeatherForecasts, build_forecaster
from forecasting.evaluate import ForecasterSpec, evaluate
from forecasting.features import Rows, min_history_steps
from forecasting.gbt import BUFFER_DAYS, CALIBRATION_FOLDS, GradientBoosted
from forecasting.weather import sigma_at


def _demand_archive(days: int = 30, n: int = 6, seed: int = 1) -> Archive:
    """Daily shape × weekday/weekend level × building size × iid noise (hourly)."""
    times = pd.date_range("2024-02-05", periods=days * 24, freq="h", tz="Europe/Berlin")
    rng = np.random.default_rng(seed)
    hour = np.asarray(times.hour, dtype=float)
    weekend = np.asarray(times.dayofweek >= 5, dtype=float)
    shape = 1.0 + 0.6 * np.exp(-((hour - 19) ** 2) / 6) + 0.3 * np.exp(-((hour - 8) ** 2) / 3) + 0.3 * weekend
    y = shape[:, None] * rng.uniform(0.5, 3.0, n) * rng.lognormal(0.0, 0.25, (len(times), n))
    return Archive(times, 3600, {"p_base_kw": y}, {"p_base_kw": tuple(f"b{i}" for i in range(n))})


def test_persistence_and_seasonal_naive_repeat_the_right_values() -> None:
    archive = _demand_archive()
    k = 20 * 24 + 7
    view = archive.view(k)
    y = archive.values["p_base_kw"]
    persistence = build_forecaster("persistence", "p_base_kw").forecast(view, 30)
    np.testing.assert_array_equal(persistence.mean, np.repeat(y[k - 1 : k], 30, axis=0))
    day = build_forecaster("seasonal_naive", "p_base_kw").forecast(view, 30)
    np.testing.assert_array_equal(day.mean[:24], y[k - 24 : k])  # leads 1-24: yesterday
    np.testing.assert_array_equal(day.mean[24:], y[k - 24 : k - 18])  # leads 25-30: still observed
    week = build_forecaster("seasonal_naive", "p_base_kw", {"period": "week"}).forecast(view, 30)
    np.testing.assert_array_equal(week.mean, y[k - 168 : k - 138])


def test_the_data_driven_forecaster_beats_seasonal_naive_and_its_intervals_cover() -> None:
    """Noise is iid, so yesterday's value carries yesterday's noise; the trees learn the shape."""
    archive = _demand_archive(days=35)
    train_end = 28 * 24
    issues = np.arange(train_end, train_end + 6 * 24, 2)
    specs = [ForecasterSpec("naive", "seasonal_naive", {}),
             ForecasterSpec("gbt", "gbt", {"max_iter": 60, "train_rows": 6000})]
    table = evaluate(archive, None, specs, ["p_base_kw"], train_end, issues, np.array([24])).table
    mae = table.set_index("forecaster")["mae"]
    assert mae["gbt"] < 0.9 * mae["naive"]
    coverage = table.set_index("forecaster").loc["gbt", "coverage_80"]
    assert 0.65 <= coverage <= 0.92


def test_every_day_calibrates_once_on_models_that_never_saw_it_or_its_neighbours() -> None:
    """Blocked cross-conformal calibration: every target day after the lag window is held out by
    exactly one fold, and that fold's quantile models train on no row of its block or the day next
    to it (and on every other row)."""
    spd, first, n_days = 24, min_history_steps(24), 40
    rng = np.random.default_rng(0)
    lead = rng.integers(1, 25, 5000)
    issue = rng.integers(first, first + n_days * spd - lead + 1)
    rows = Rows(issue, lead, np.zeros(5000, dtype=int))
    folds = GradientBoosted._calibration_folds(rows, first, first + n_days * spd, spd)
    assert len(folds) == CALIBRATION_FOLDS
    held_count = np.sum([held for held, _ in folds], axis=0)
    np.testing.assert_array_equal(held_count, 1)
    day = (rows.target - first) // spd
    for held, trained in folds:
        block = np.unique(day[held])
        assert len(block) == block[-1] - block[0] + 1 >= n_days // CALIBRATION_FOLDS - 1  # consecutive
        near = (day >= block[0] - BUFFER_DAYS) & (day <= block[-1] + BUFFER_DAYS)
        np.testing.assert_array_equal(trained, ~near)
    short = GradientBoosted._calibration_folds(rows, first, first + 10 * spd, spd)
    assert len(short) == 1  # a short history: its last fifth


def test_training_needs_enough_history() -> None:
    archive = _demand_archive(days=6)
    with pytest.raises(ValueError, match="training needs"):
        build_forecaster("gbt", "p_base_kw").fit(archive.view(5 * 24))


def test_weather_forecast_errors_grow_with_lead_and_are_seeded() -> None:
    n = 24 * 40
    truth = {"t_out_c": np.zeros(n), "ghi_w_m2": np.full(n, 300.0)}
    clear = np.full(n, 600.0)
    params = WeatherErrorParams()
    service = WeatherForecasts(truth, clear, 3600, seed=11, params=params, max_lead_steps=48)
    issues = np.arange(0, n - 48, 5)
    errors = np.stack([service.issued("t_out_c", int(k), 48) for k in issues])
    spread = errors.std(axis=0)
    expected = sigma_at(np.arange(1, 49), params.t_sigma_0_k, params.t_sigma_24h_k, params.t_growth_k_per_day)
    np.testing.assert_allclose(spread[[0, 5, 23, 47]], expected[[0, 5, 23, 47]], rtol=0.2)
    assert spread[23] > 1.5 * spread[0]
    again = WeatherForecasts(truth, clear, 3600, seed=11, params=params, max_lead_steps=48)
    np.testing.assert_array_equal(again.issued("ghi_w_m2", 30, 24), service.issued("ghi_w_m2", 30, 24))
    ghi = np.stack([service.issued("ghi_w_m2", int(k), 24) for k in issues])
    assert (ghi >= 0).all() and (ghi <= 1.2 * 600 + 1e-9).all()
    assert np.abs(ghi[:, 23] - 300).mean() > np.abs(ghi[:, 0] - 300).mean()
