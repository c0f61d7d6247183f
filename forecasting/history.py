"""The observation archive and the truncated view a forecaster gets.

An `Archive` holds observed series on one regular time axis: per quantity an array of shape
(time, entity), row k the average over the interval [times[k], times[k] + step). It belongs to
whoever records the data (the run, a CSV file) and is never handed to a forecaster.

A forecaster issued at time `times[k]` gets `archive.view(k, weather)`: a `HistoryView` whose
values are *copies* of rows 0 … k − 1 only (the intervals completed by the issue time), marked
read-only and made when a quantity is first read (a view of 1000 buildings' history need not
copy the quantities its forecaster never reads), plus the weather forecasts issued up to k. Its
public interface holds no data after the issue time, so a forecaster cannot look ahead by
mistake; the target times of a forecast are calendar arithmetic (`target_times`), not data. (The
test suite poisons the future and checks that no forecaster's output changes, which also catches
deliberate routes around the interface.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.weather import WeatherForecasts


class LookAheadError(LookupError):
    """A forecaster asked for data after its issue time."""


class PastValues(Mapping[str, np.ndarray]):
    """Quantity → read-only copy of its rows before the issue step, copied on first access."""

    def __init__(self, names: tuple[str, ...], copy_past: Callable[[str], np.ndarray]) -> None:
        self._names = names
        self._copy_past = copy_past
        self._copies: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._copies:
            self._copies[name] = self._copy_past(name)
        return self._copies[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _past_copier(values: Mapping[str, np.ndarray], issue_index: int) -> Callable[[str], np.ndarray]:
    def copy_past(name: str) -> np.ndarray:
        copy = np.array(values[name][:issue_index], dtype=float)
        copy.flags.writeable = False
        return copy

    return copy_past


@dataclass(frozen=True)
class Archive:
    """Observed series on `times` (regular, step `step_s`): quantity → (len(times), n_entities)."""

    times: pd.DatetimeIndex
    step_s: int
    values: Mapping[str, np.ndarray]
    entities: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        for name, array in self.values.items():
            if array.ndim != 2 or array.shape[0] != len(self.times):
                raise ValueError(f"{name}: need shape (len(times), n_entities), got {array.shape}")
            if array.shape[1] != len(self.entities[name]):
                raise ValueError(f"{name}: {array.shape[1]} columns but {len(self.entities[name])} entities")

    @property
    def steps_per_day(self) -> int:
        return 86400 // self.step_s

    def view(self, issue_index: int, weather: WeatherForecasts | None = None) -> HistoryView:
        """What a forecaster issued at `times[issue_index]` may see (rows before it, copied)."""
        if not 0 <= issue_index <= len(self.times):
            raise IndexError(f"issue index {issue_index} outside 0 … {len(self.times)}")
        past = PastValues(tuple(self.values), _past_copier(self.values, issue_index))
        issue_time = (
            self.times[issue_index]
            if issue_index < len(self.times)
            else self.times[-1] + pd.Timedelta(seconds=self.step_s)
        )
        return HistoryView(
            issue_index=issue_index,
            issue_time=issue_time,
            step_s=self.step_s,
            times=self.times[:issue_index],
            values=past,
            entities=dict(self.entities),
            weather=weather,
        )


@dataclass(frozen=True)
class HistoryView:
    """Observations before `issue_time` (rows 0 … issue_index − 1 of the archive) and the weather
    forecasts issued up to then. Arrays are read-only copies."""

    issue_index: int
    issue_time: pd.Timestamp
    step_s: int
    times: pd.DatetimeIndex
    values: Mapping[str, np.ndarray]
    entities: Mapping[str, tuple[str, ...]]
    weather: WeatherForecasts | None = field(default=None, repr=False)

    @property
    def steps_per_day(self) -> int:
        return 86400 // self.step_s

    def __getitem__(self, quantity: str) -> np.ndarray:
        if quantity not in self.values:
            raise KeyError(f"no history of {quantity!r}; have {', '.join(sorted(self.values))}")
        return self.values[quantity]

    def target_times(self, horizon_steps: int) -> pd.DatetimeIndex:
        """Start times of the forecast's intervals: the issue time and the next horizon − 1 steps."""
        return pd.date_range(self.issue_time, periods=horizon_steps, freq=pd.Timedelta(seconds=self.step_s))

    def weather_forecast(self, quantity: str, issue_index: int, horizon_steps: int) -> np.ndarray:
        """The weather forecast of `quantity` issued at step `issue_index` (≤ this view's issue
        index: past forecasts are archived, later ones do not exist yet), one value per step."""
        if self.weather is None:
            raise LookupError("this history has no weather forecasts")
        if issue_index > self.issue_index:
            raise LookAheadError(
                f"weather forecast issued at step {issue_index} requested at step {self.issue_index}"
            )
        return self.weather.issued(quantity, issue_index, horizon_steps)

    def weather_forecasts(self, quantity: str, issue_index: np.ndarray, lead_steps: np.ndarray) -> np.ndarray:
        """Vectorised `weather_forecast`: the value for lead `lead_steps[r]` (1 = the interval
        starting at the issue time) of the forecast issued at `issue_index[r]`."""
        if self.weather is None:
            raise LookupError("this history has no weather forecasts")
        if issue_index.size and int(issue_index.max()) > self.issue_index:
            raise LookAheadError(
                f"weather forecast issued at step {int(issue_index.max())} requested at step "
                f"{self.issue_index}"
            )
        return self.weather.values_at(quantity, issue_index, lead_steps)
