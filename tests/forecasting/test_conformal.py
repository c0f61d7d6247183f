"""The conformal margins of gbt's intervals: per lead, per weather regime (Mondrian), the fallback of
thin bins, and that the calibration of PV rests on out-of-block forecasts and issued weather only."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import forecasting.gbt as gbt
from forecasting import Archive, WeatherForecasts
from forecasting.conformal import MIN_BIN_DAYS, MIN_BIN_SCORES, Margins, conformal_margin, lead_band


def _heteroscedastic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of a forecaster whose interval [-1, 1] ignores the regime r ∈ [0, 1) while the noise of
    y grows with it (σ 0.3, 1, 3 over the thirds): scores, leads (1 h), days, regimes, and y."""
    rng = np.random.default_rng(seed)
    regime = rng.uniform(0.0, 1.0, n)
    sigma = np.select([regime < 1 / 3, regime < 2 / 3], [0.3, 1.0], 3.0)
    y = sigma * rng.normal(size=n)
    score = np.abs(y) - 1.0
    day = rng.integers(0, 60, n)
    return score, np.ones(n), day, regime


def _covered(margins: Margins, score: np.ndarray, regime: np.ndarray, conditional: bool) -> np.ndarray:
    """Per third of the regime: share of rows with score ≤ margin (inside the widened interval)."""
    m = margins(np.ones(score.size), regime if conditional else None)
    inside = score <= m
    third = np.minimum((regime * 3).astype(int), 2)
    return np.array([inside[third == t].mean() for t in range(3)])


def test_conditional_margins_hold_where_pooled_ones_fail_on_heteroscedastic_errors() -> None:
    """Pooled over regimes the margin covers ~80 % on average but ~100 % of the calm third and far
    less of the stormy third; the margins per regime bin cover every third at ~80 %."""
    score, lead, day, regime = _heteroscedastic(3000, seed=1)
    new_score, _, _, new_regime = _heteroscedastic(60000, seed=2)
    pooled = Margins.calibrate(score, lead, day)
    conditional = Margins.calibrate(score, lead, day, regime)
    assert conditional.edges.size == 2 and conditional.own[lead_band(np.array([1.0]))[0]].all()
    by_third_pooled = _covered(pooled, new_score, new_regime, conditional=False)
    by_third = _covered(conditional, new_score, new_regime, conditional=True)
    assert 0.75 <= np.mean(new_score <= pooled(np.ones(new_score.size))) <= 0.85  # on average it holds
    assert by_third_pooled[0] > 0.95 and by_third_pooled[2] < 0.6
    np.testing.assert_allclose(by_third, 0.8, atol=0.04)


def test_thin_bins_take_their_band_margin() -> None:
    """A regime bin with too few scores, or too few distinct days, has no margin of its own."""
    score, lead, day, regime = _heteroscedastic(3000, seed=3)
    band = lead_band(np.array([1.0]))[0]
    few_days = day.copy()
    top = regime >= np.quantile(regime, 2 / 3)
    few_days[top] = np.resize(np.arange(MIN_BIN_DAYS - 1), np.count_nonzero(top))
    margins = Margins.calibrate(score, lead, few_days, regime)
    assert margins.own[band].tolist() == [True, True, False]
    assert margins.table[band, 2] == pytest.approx(conformal_margin(score))
    thin = Margins.calibrate(score[:2 * MIN_BIN_SCORES], lead[:2 * MIN_BIN_SCORES],
                             day[:2 * MIN_BIN_SCORES], regime[:2 * MIN_BIN_SCORES])
    assert not thin.own[band].any()  # ~133 scores per bin
    np.testing.assert_allclose(thin.table[band], conformal_margin(score[:2 * MIN_BIN_SCORES]))


def test_short_leads_have_margins_of_their_own() -> None:
    """Errors of 1 h and 2 h leads differ (σ 0.5 and 1): one margin for both would over-cover the
    first and under-cover the second; each lead up to 2 h is its own band."""
    rng = np.random.default_rng(4)
    lead = rng.choice([1.0, 2.0], 4000)
    score = np.abs(np.where(lead == 1.0, 0.5, 1.0) * rng.normal(size=4000)) - 0.5
    margins = Margins.calibrate(score, lead, rng.integers(0, 40, 4000))
    test_lead = rng.choice([1.0, 2.0], 40000)
    test_score = np.abs(np.where(test_lead == 1.0, 0.5, 1.0) * rng.normal(size=40000)) - 0.5
    inside = test_score <= margins(test_lead)
    for value in (1.0, 2.0):
        assert inside[test_lead == value].mean() == pytest.approx(0.8, abs=0.03)
    assert lead_band(np.array([0.25, 1.0, 1.25, 2.0, 3.0, 24.0, 30.0])).tolist() == [0, 3, 4, 4, 5, 8, 8]


def _solar_archive(days: int = 30) -> tuple[Archive, WeatherForecasts]:
    n = days * 24
    times = pd.date_range("2024-04-01", periods=n, freq="h", tz="Europe/Berlin")
    rng = np.random.default_rng(7)
    hour = np.asarray(times.hour, dtype=float)
    clear = 700.0 * np.clip(np.sin(np.pi * (hour - 6) / 12), 0.0, None)
    index = np.repeat(rng.uniform(0.2, 1.0, days), 24) * rng.uniform(0.8, 1.0, n)
    ghi = clear * index
    t_out = 8 + 5 * np.sin(2 * np.pi * (hour - 9) / 24) + np.cumsum(rng.normal(0, 0.2, n))
    pv = ghi[:, None] / 1000.0 * np.array([3.0, 5.0, 8.0])
    weather = WeatherForecasts({"t_out_c": t_out, "ghi_w_m2": ghi}, clear, 3600, seed=2)
    values = {"pv_kw": pv, "t_out_c": t_out[:, None], "ghi_w_m2": ghi[:, None]}
    entities = {"pv_kw": ("a", "b", "c"), "t_out_c": ("site",), "ghi_w_m2": ("site",)}
    return Archive(times, 3600, values, entities), weather


class _Recording:
    """A quantile model that records the feature rows it trains on and predicts."""

    log: ClassVar[list[tuple[Any, np.ndarray, list[np.ndarray]]]] = []

    def __init__(self, model: Any) -> None:
        self.model = model
        self.entry: tuple[Any, np.ndarray, list[np.ndarray]] | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Recording:
        self.model.fit(x, y)
        self.entry = (self, x, [])
        _Recording.log.append(self.entry)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        assert self.entry is not None
        self.entry[2].append(x)
        result: np.ndarray = self.model.predict(x)
        return result


def test_pv_calibration_uses_out_of_block_forecasts_and_the_issued_weather_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every score of PV's conditional calibration comes from a quantile model that never trained on
    the scored row, and each score's regime is the clear-sky index of the irradiance forecast as the
    weather service issued it for that row (features the scoring model saw), not the realised one."""
    archive, weather = _solar_archive()
    real_model = gbt._model
    monkeypatch.setattr(gbt, "_model", lambda *a, **k: _Recording(real_model(*a, **k)))
    _Recording.log = []
    captured: dict[str, np.ndarray] = {}
    real_calibrate = Margins.calibrate.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Margins], /, score: np.ndarray, lead_h: np.ndarray, day: np.ndarray,
            regime: np.ndarray | None = None, **kwargs: Any) -> Margins:
        captured.update(score=score, regime=np.asarray(regime))
        result: Margins = real_calibrate(cls, score, lead_h, day, regime, **kwargs)
        return result

    monkeypatch.setattr(Margins, "calibrate", classmethod(spy))
    forecaster = gbt.GradientBoosted("pv_kw", gbt.GbtParams(max_iter=20, train_rows=6000, conditional=True))
    forecaster.fit(archive.view(len(archive.times), weather))
    fold_models = [(x, predicted) for model, x, predicted in _Recording.log if predicted]
    assert len(fold_models) == 2 * gbt.CALIBRATION_FOLDS  # lower and upper per block; finals never predict
    scored = []
    for x, predicted in fold_models:
        trained = {row.tobytes() for row in x}
        for rows in predicted:
            assert not any(row.tobytes() in trained for row in rows), "scored by a model trained on it"
            scored.append(rows)
    scored_x = np.vstack(scored[::2])  # each block's rows, predicted by its lower and upper model
    assert scored_x.shape[0] == captured["score"].size
    ghi_forecast, clear = scored_x[:, 9], scored_x[:, 10]  # feature columns: issued GHI, clear-sky GHI
    assert (clear > 0).all()  # PV is calibrated with the sun up only
    np.testing.assert_allclose(np.sort(captured["regime"]), np.sort(ghi_forecast / clear))
    assert forecaster.margins.edges.size == 2


def test_pv_forecast_and_interval_are_zero_with_the_sun_down() -> None:
    """The margins are calibrated where the sun is up; with it down PV is zero, interval included
    (the trees are not asked there), and the interval still opens in daylight."""
    archive, weather = _solar_archive()
    forecaster = gbt.GradientBoosted("pv_kw", gbt.GbtParams(max_iter=20, train_rows=6000))
    k = 28 * 24 + 5
    forecast = forecaster.forecast(archive.view(k, weather), 30)
    dark = weather.ghi_clear_w_m2[k : k + 30] <= 0.0
    assert dark.any() and (~dark).any()
    assert forecast.lower is not None and forecast.upper is not None
    for values in (forecast.mean, forecast.lower, forecast.upper):
        assert not values[dark].any()
    assert (forecast.upper[~dark] > forecast.lower[~dark]).mean() > 0.5
