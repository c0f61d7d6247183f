"""The reference forecasters: perfect (an oracle, for comparison only), persistence, seasonal naive."""

from __future__ import annotations

from typing import ClassVar, Literal, cast

import numpy as np

from forecasting.base import Forecast, Forecaster, ForecasterParams, register
from forecasting.history import Archive, HistoryView


def _require_history(history: HistoryView, quantity: str, steps: int, kind: str) -> np.ndarray:
    values = history[quantity]
    if values.shape[0] < steps:
        raise ValueError(
            f"{kind} forecast of {quantity} needs at least {steps} past steps, has {values.shape[0]}"
        )
    return values


@register
class Persistence(Forecaster):
    """The last observed interval's value, for every lead."""

    kind = "persistence"

    def forecast(self, history: HistoryView, horizon_steps: int, intervals: bool = True) -> Forecast:
        values = _require_history(history, self.quantity, 1, self.kind)
        return self._result(history, np.repeat(values[-1:], horizon_steps, axis=0))


class SeasonalNaiveParams(ForecasterParams):
    """`period`: the value at the same time of the latest observed day or week."""

    period: Literal["day", "week"] = "day"


@register
class SeasonalNaive(Forecaster):
    """The value one period (a day or a week) before the target, or two periods where the target
    lies more than one period ahead: always an observed value."""

    kind = "seasonal_naive"
    Params = SeasonalNaiveParams

    def forecast(self, history: HistoryView, horizon_steps: int, intervals: bool = True) -> Forecast:
        params = cast(SeasonalNaiveParams, self.params)
        period = history.steps_per_day * (7 if params.period == "week" else 1)
        values = _require_history(history, self.quantity, period, self.kind)
        k = history.issue_index
        lead = np.arange(1, horizon_steps + 1)
        back = period * np.ceil(lead / period).astype(int)
        rows = k + lead - 1 - back  # ≤ k − 1 by construction
        return self._result(history, values[rows])


@register
class Perfect(Forecaster):
    """The true future (an oracle given the whole archive): only a comparison, never a forecast."""

    kind = "perfect"
    needs_oracle: ClassVar[bool] = True

    def __init__(self, quantity: str, params: ForecasterParams | None = None,
                 oracle: Archive | None = None) -> None:
        super().__init__(quantity, params)
        if oracle is None:
            raise ValueError("the perfect forecaster needs the archive of true values (oracle)")
        self.oracle = oracle

    def forecast(self, history: HistoryView, horizon_steps: int, intervals: bool = True) -> Forecast:
        k = history.issue_index
        truth = self.oracle.values[self.quantity]
        if k + horizon_steps > truth.shape[0]:
            raise ValueError(f"the archive ends before step {k + horizon_steps}")
        return self._result(history, np.array(truth[k : k + horizon_steps], dtype=float))


@register
class Nwp(Forecaster):
    """The weather service's forecast of a weather quantity (`t_out_c`, `ghi_w_m2`), as issued at
    the issue time (`forecasting.weather`); one entity (the site)."""

    kind = "nwp"

    def forecast(self, history: HistoryView, horizon_steps: int, intervals: bool = True) -> Forecast:
        values = history.weather_forecast(self.quantity, history.issue_index, horizon_steps)
        return self._result(history, values[:, None])
