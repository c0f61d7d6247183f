"""The data-driven forecaster: gradient-boosted trees (scikit-learn's HistGradientBoostingRegressor)
on calendar, lagged and weather-forecast features (`forecasting.features`), with quantile models
for the 10 % and 90 % quantiles.

One model serves every entity of a quantity (pooled: 100 buildings give 100 times the data). Each
entity's series is divided by its scale (its mean absolute value in the training history) so that
buildings of different sizes share one shape; entities whose history is all zero (no PV) are
forecast as zero. For the weather quantities themselves (`t_out_c`, `ghi_w_m2`) the model
predicts the correction to the issued weather forecast (a model output statistics correction).

Intervals are conformalised (conformalised quantile regression, Romano et al., NeurIPS 2019) by
blocked cross-conformal calibration: the history after the lag window is cut into four blocks of
consecutive days; for each block, a pair of 10 % / 90 % quantile models trains on the other days
but the block's neighbouring days (they share the weather's regime and the lag features) and
measures how far the actual values of the block fall outside [lower, upper]. The 80 % quantile of
those out-of-block distances widens (or narrows) the interval of the quantile models trained on
the whole history, so that it covers ~80 % on data it has not seen; one margin per lead band (each
quarter hour up to 1 h, then 1-2, 2-4, 4-8, 8-16 h and beyond) and, for a solar quantity with `conditional`
(off by default: on eight held-out windows it moved PV's mean coverage by ≤ 3 points and widened
the spread between windows), per weather regime within the band (Mondrian conformal: terciles of
the weather service's forecast clear-sky index for the target, as issued; a bin with fewer than 200
scores or 10 distinct days takes the band's margin; see `forecasting.conformal`). A solar
quantity's quantile models (and its margins) work relative to the clear-sky irradiance at the
target (`clear_sky_relative`), so that they carry over to a season with the sun higher or lower
than in the history. Every day of the history calibrates (holding out every fifth day instead, as
before, calibrated on ~11 days of an 8-week history: the coverage of held-out PV moved by ±5 points
with the choice of days); a history of fewer than three days per block calibrates on its last fifth.
Training costs the mean model, the two quantile models and four more pairs on ~3/4 of the rows
(quantile models are the slow part: ~10× the point model alone, ~5× one calibration split);
forecasting costs no more. Rows
whose actual value is exactly zero are left out of the measurement, except for a solar quantity
(with weather forecasts, never negative and zero whenever the sun is down: PV), which is calibrated
on every row whose target has the sun up (clear-sky irradiance > 0: where it can be non-zero) and
is meant to be scored there (at night forecast, interval and actual value are all zero).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, cast

import numpy as np
from pydantic import Field
from threadpoolctl import ThreadpoolController

from forecasting.base import LOWER_QUANTILE, UPPER_QUANTILE, Forecast, Forecaster, ForecasterParams, register
from forecasting.conformal import Margins
from forecasting.features import Rows, feature_matrix, min_history_steps
from forecasting.history import HistoryView

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingRegressor

RESIDUAL_OF_WEATHER = ("t_out_c", "ghi_w_m2")
ZERO_SCALE = 1e-9
CLEAR_SKY_FLOOR_W_M2 = 100.0
CLEAR_SKY_REFERENCE_W_M2 = 500.0
CALIBRATION_FOLDS = 4  # blocks of consecutive days, each held out once to calibrate the intervals
BUFFER_DAYS = 1  # days next to a held-out block: left out of its fold's training
MIN_FOLD_DAYS = 3  # a shorter history calibrates on its last fifth instead


class GbtParams(ForecasterParams):
    """Training settings. `lead_h`: the longest lead trained on (longer leads reuse its model);
    `train_rows`: rows sampled from the history (issue time, lead, entity); `intervals`: also
    train the 10 % / 90 % quantile models; `weather`: use weather-forecast features; `threads`: OpenMP
    threads of scikit-learn (1 by default: on a machine shared with the co-simulation, more threads
    spin against each other and fitting took 12× longer with 2 than with 1 in a measurement);
    `every_step_h`: leads up to this are predicted at every step, longer ones once an hour and
    interpolated in between (a one-day horizon of 15-minute steps: 36 predictions instead of 96);
    `conformal`: calibrate the interval on held-out days of the history; `conditional`: for a solar
    quantity, one margin per weather regime; `clear_sky_relative`: a solar quantity's quantile
    models learn it relative to the clear-sky irradiance (see the module docstring)."""

    max_iter: int = Field(default=100, ge=1)
    learning_rate: float = Field(default=0.08, gt=0.0, le=1.0)
    max_leaf_nodes: int = Field(default=31, ge=2)
    min_samples_leaf: int = Field(default=200, ge=1)
    train_rows: int = Field(default=40000, ge=100)
    lead_h: float = Field(default=24.0, gt=0.0)
    intervals: bool = True
    weather: bool = True
    seed: int = Field(default=0, ge=0)
    threads: int = Field(default=1, ge=1)
    every_step_h: float = Field(default=4.0, ge=0.0)
    conformal: bool = True
    conditional: bool = False
    clear_sky_relative: bool = True


def _model(params: GbtParams, loss: str, quantile: float | None = None) -> HistGradientBoostingRegressor:
    from sklearn.ensemble import HistGradientBoostingRegressor  # imported when used: loading takes ~1 s

    extra = {} if quantile is None else {"quantile": quantile}
    return HistGradientBoostingRegressor(
        loss=loss,
        max_iter=params.max_iter,
        learning_rate=params.learning_rate,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        early_stopping=False,
        random_state=params.seed,
        **extra,
    )


@register
class GradientBoosted(Forecaster):
    """Pooled gradient-boosted trees with quantiles (see the module docstring)."""

    kind = "gbt"
    Params = GbtParams

    def __init__(self, quantity: str, params: ForecasterParams | None = None) -> None:
        super().__init__(quantity, params)
        self.scale: np.ndarray | None = None
        self.nonnegative = False
        self.solar = False
        self.models: dict[str, HistGradientBoostingRegressor] = {}
        self.margins = Margins()
        self._threads: ThreadpoolController | None = None

    def _limits(self) -> ThreadpoolController:
        """The OpenMP thread pools, found once (a search takes ~20 ms) after scikit-learn is loaded
        (limits set before that miss its runtime)."""
        if self._threads is None:
            self._threads = ThreadpoolController()
        return self._threads

    @property
    def settings(self) -> GbtParams:
        return cast(GbtParams, self.params)

    def _uses_weather(self, history: HistoryView) -> bool:
        return self.settings.weather and history.weather is not None

    def _residual(self, history: HistoryView) -> bool:
        return self.quantity in RESIDUAL_OF_WEATHER and self._uses_weather(history)

    def _scaled(self, history: HistoryView) -> np.ndarray:
        if self.scale is None:
            raise RuntimeError(f"gbt forecaster of {self.quantity} used before fit()")
        result: np.ndarray = history[self.quantity] / np.where(self.scale > ZERO_SCALE, self.scale, 1.0)
        return result

    def _base(self, history: HistoryView, rows: Rows) -> np.ndarray:
        if not self._residual(history):
            return np.zeros(len(rows.issue))
        return history.weather_forecasts(self.quantity, rows.issue, rows.lead)

    def _norm(self, history: HistoryView, rows: Rows) -> np.ndarray:
        """What the quantile models' target (and the calibration's scores) is relative to: for a
        solar quantity with `clear_sky_relative`, the clear-sky irradiance at the target (floored at
        `CLEAR_SKY_FLOOR_W_M2`) over `CLEAR_SKY_REFERENCE_W_M2` (astronomy, known in advance), else
        1. Trees cannot extrapolate: trained on winter weeks, absolute PV quantiles stay at the
        winter's level when the sun climbs higher than in the history (PV under-covered 59-63 % on a
        window in February, 66-70 % the fortnight after); relative to the clear sky they carry over.
        The mean model keeps the absolute target (relative, its MAE was 8-20 % worse on 3 of 4
        windows: the relative target weighs the low-sun hours up)."""
        if not (self.solar and self.settings.clear_sky_relative):
            return np.ones(len(rows.issue))
        clear = history.weather_forecasts("ghi_clear_w_m2", rows.issue, rows.lead)
        result: np.ndarray = np.maximum(clear, CLEAR_SKY_FLOOR_W_M2) / CLEAR_SKY_REFERENCE_W_M2
        return result

    def fit(self, history: HistoryView) -> None:
        """Train on rows sampled from the history's issue times and leads (targets all observed)."""
        y_raw = history[self.quantity]
        spd, n_steps = history.steps_per_day, y_raw.shape[0]
        max_lead = max(1, round(self.settings.lead_h * 3600 / history.step_s))
        first = min_history_steps(spd)
        if n_steps < first + max_lead:
            raise ValueError(
                f"gbt forecaster of {self.quantity}: the history has {n_steps} steps, training needs "
                f"{first + max_lead} ({(first + max_lead) * history.step_s / 86400:.1f} days)"
            )
        weather_quantity = self.quantity in RESIDUAL_OF_WEATHER
        self.scale = np.ones(y_raw.shape[1]) if weather_quantity else np.mean(np.abs(y_raw), axis=0)
        self.nonnegative = bool(np.nanmin(y_raw) >= 0.0)
        self.solar = self._solar(history)
        active = np.flatnonzero(self.scale > ZERO_SCALE)
        if active.size == 0:
            self.models = {}
            return
        rng = np.random.default_rng(self.settings.seed)
        n = self.settings.train_rows
        lead = rng.integers(1, max_lead + 1, n)
        issue = rng.integers(first, n_steps - lead + 1)  # target = issue + lead − 1 ≤ n_steps − 1
        rows = Rows(issue, lead, active[rng.integers(0, active.size, n)])
        y = self._scaled(history)
        x = feature_matrix(history, y, rows, self._uses_weather(history))
        target = y[rows.target, rows.entity] - self._base(history, rows)
        s = self.settings
        models = {"mean": _model(s, "squared_error")}  # scikit-learn imported before the thread limits
        if s.intervals:
            models["lower"] = _model(s, "quantile", LOWER_QUANTILE)
            models["upper"] = _model(s, "quantile", UPPER_QUANTILE)
        relative = target / self._norm(history, rows)  # the quantile models' (and calibration's) units
        with self._limits().limit(limits=s.threads, user_api="openmp"):
            self.models = {name: model.fit(x, target if name == "mean" else relative)
                           for name, model in models.items()}
            target = relative
            self.margins = Margins()
            if s.intervals and s.conformal:
                solar = self.solar
                if solar:  # where it can be non-zero: the sun up at the target
                    scored = history.weather_forecasts("ghi_clear_w_m2", rows.issue, rows.lead) > 0.0
                else:  # rows with an actual value of exactly zero are covered trivially: left out
                    scored = ~(self.nonnegative & (target == 0.0))
                score = np.full(n, np.nan)
                for held, fit_rows in self._calibration_folds(rows, first, n_steps, history.steps_per_day):
                    pick = held & scored
                    if not pick.any():
                        continue
                    lower = _model(s, "quantile", LOWER_QUANTILE).fit(x[fit_rows], target[fit_rows])
                    upper = _model(s, "quantile", UPPER_QUANTILE).fit(x[fit_rows], target[fit_rows])
                    score[pick] = np.maximum(lower.predict(x[pick]) - target[pick],
                                             target[pick] - upper.predict(x[pick]))
                ok = ~np.isnan(score)
                regime = self._regime(history, rows) if solar and s.conditional else None
                self.margins = Margins.calibrate(score[ok], rows.lead[ok] * history.step_s / 3600.0,
                                                 (rows.target[ok] - first) // spd,
                                                 None if regime is None else regime[ok])

    @staticmethod
    def _calibration_folds(rows: Rows, first: int, n_steps: int, steps_per_day: int
                           ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per fold, the rows whose targets calibrate the intervals (a block of consecutive days) and
        the rows its quantile models train on (the other days but the block's neighbours); a history
        of fewer than `MIN_FOLD_DAYS` days per fold after the lag window: one fold, its last fifth."""
        n_days = (n_steps - first) // steps_per_day
        if n_days < CALIBRATION_FOLDS * MIN_FOLD_DAYS:
            cut = first + int(0.8 * (n_steps - first))
            return [(rows.issue >= cut, rows.target < cut)]
        day = (rows.target - first) // steps_per_day
        edges = np.linspace(0, n_days, CALIBRATION_FOLDS + 1).round().astype(int)
        edges[-1] = max(edges[-1], int(day.max()) + 1)
        folds = []
        for a, b in itertools.pairwise(edges):
            held = (day >= a) & (day < b)
            near = (day >= a - BUFFER_DAYS) & (day < b + BUFFER_DAYS)
            folds.append((held, ~near))
        return folds

    def _solar(self, history: HistoryView) -> bool:
        """Whether the quantity is never negative and zero whenever the sun is down (clear-sky
        irradiance 0), with weather forecasts to tell: PV."""
        if not (self.nonnegative and self._uses_weather(history)):
            return False
        n = history[self.quantity].shape[0]
        clear = history.weather_forecasts("ghi_clear_w_m2", np.arange(n), np.ones(n, dtype=int))
        night = clear <= 0.0
        return bool(night.any() and not np.any(history[self.quantity][night]))

    @staticmethod
    def _regime(history: HistoryView, rows: Rows) -> np.ndarray:
        """The weather regime a solar quantity's margins are conditioned on: the clear-sky index
        of the weather service's irradiance forecast for the target, as issued at the row's issue
        time (0 with the sun down)."""
        ghi = history.weather_forecasts("ghi_w_m2", rows.issue, rows.lead)
        clear = history.weather_forecasts("ghi_clear_w_m2", rows.issue, rows.lead)
        index: np.ndarray = np.where(clear > 0.0, ghi / np.where(clear > 0.0, clear, 1.0), 0.0)
        return index

    def _lit(self, history: HistoryView, rows: Rows) -> np.ndarray:
        """The rows to predict: for a solar quantity those whose target has the sun up (clear-sky
        irradiance > 0; with the sun down it is zero, interval included, and the trees are not asked:
        in winter that skips about two thirds of PV's rows), else all."""
        if not self.solar:
            return np.ones(len(rows.issue), dtype=bool)
        result: np.ndarray = history.weather_forecasts("ghi_clear_w_m2", rows.issue, rows.lead) > 0.0
        return result

    def _predicted_leads(self, step_s: int, horizon_steps: int) -> np.ndarray:
        """Every lead up to `every_step_h`, then whole hours, and the last lead."""
        per_hour = max(1, round(3600 / step_s))
        dense = min(horizon_steps, round(self.settings.every_step_h * 3600 / step_s))
        coarse = np.arange(dense + per_hour, horizon_steps + 1, per_hour)
        return np.unique(np.concatenate([np.arange(1, dense + 1), coarse, [horizon_steps]])).astype(int)

    def forecast(self, history: HistoryView, horizon_steps: int, intervals: bool = True) -> Forecast:
        if self.scale is None:
            self.fit(history)
        scale = cast(np.ndarray, self.scale)
        n_entities = len(history.entities[self.quantity])
        if scale.size != n_entities:
            raise ValueError(f"gbt forecaster of {self.quantity} trained on {scale.size} entities, "
                             f"asked for {n_entities}")
        active = np.flatnonzero(scale > ZERO_SCALE)
        out = {name: np.zeros((horizon_steps, n_entities)) for name in ("mean", "lower", "upper")}
        if active.size and self.models:
            leads = self._predicted_leads(history.step_s, horizon_steps)
            lead = np.repeat(leads, active.size)
            entity = np.tile(active, len(leads))
            rows = Rows(np.full(lead.size, history.issue_index), lead, entity)
            lit = self._lit(history, rows)
            base, norm = self._base(history, rows), self._norm(history, rows)
            wanted = [name for name in self.models if intervals or name == "mean"]
            predicted = {name: np.zeros(lead.size) for name in wanted}
            if lit.any():
                sun_up = Rows(rows.issue[lit], rows.lead[lit], rows.entity[lit])
                x = feature_matrix(history, self._scaled(history), sun_up, self._uses_weather(history))
                with self._limits().limit(limits=self.settings.threads, user_api="openmp"):
                    for name in wanted:
                        predicted[name][lit] = self.models[name].predict(x)
            every = np.arange(1, horizon_steps + 1)
            regime = self._regime(history, rows) if self.margins.edges.size else None
            margin = self.margins(lead * history.step_s / 3600.0, regime)
            shift = {"lower": -margin, "upper": margin}
            for name, values in predicted.items():
                if name != "mean":
                    values = np.where(lit, (values + shift[name]) * norm, 0.0)
                grid = ((values + base) * scale[entity]).reshape(len(leads), active.size)
                if len(leads) < horizon_steps:
                    grid = np.stack([np.interp(every, leads, grid[:, c]) for c in range(active.size)], axis=1)
                out[name][:, active] = np.maximum(grid, 0.0) if self.nonnegative else grid
            if self.solar:  # interpolated steps between a sun-up lead and a dark one: zero too
                steps = Rows(np.full(horizon_steps, history.issue_index), every, np.zeros(horizon_steps, int))
                dark = ~self._lit(history, steps)
                for grid in out.values():
                    grid[dark] = 0.0
        if "lower" not in self.models or not intervals:
            return self._result(history, out["mean"])
        stacked = np.sort(np.stack([out["lower"], out["mean"], out["upper"]]), axis=0)
        return self._result(history, out["mean"], stacked[0], stacked[2])
