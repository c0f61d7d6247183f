"""The forecaster plug-in contract and its registry.

A forecaster predicts one quantity (e.g. `p_base_kw` for every building) over a horizon of steps.
It is built from its pydantic parameter model, may be trained on a history (`fit`) and is asked
for forecasts with a `HistoryView`: the observations before the issue time and nothing else (see
`forecasting.history`). `perfect` is the one exception, by name: it is handed the full archive
(an oracle) and exists only as the comparison the others are measured against.

Register a new kind with `@register` on a `Forecaster` subclass that sets `kind` and `Params`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from forecasting.history import Archive, HistoryView

LOWER_QUANTILE = 0.1
UPPER_QUANTILE = 0.9


class ForecasterParams(BaseModel):
    """Parameters common to every kind (none yet); kinds extend it. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Forecast:
    """One issued forecast: `mean` (horizon steps × entities), the 10 % and 90 % quantiles when
    the forecaster gives intervals. Row j is the interval starting at issue_time + j·step."""

    quantity: str
    issue_time: pd.Timestamp
    step_s: int
    entities: tuple[str, ...]
    mean: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    @property
    def horizon_steps(self) -> int:
        return int(self.mean.shape[0])


class Forecaster(ABC):
    """Forecasts of one quantity from the history before the issue time."""

    kind: ClassVar[str]
    Params: ClassVar[type[ForecasterParams]] = ForecasterParams

    def __init__(self, quantity: str, params: ForecasterParams | None = None) -> None:
        self.quantity = quantity
        self.params = params if params is not None else self.Params()

    def fit(self, history: HistoryView) -> None:  # noqa: B027 (optional hook: most kinds need no training)
        """Train on the history (the default: nothing to train)."""

    @abstractmethod
    def forecast(self, history: HistoryView, horizon_steps: int, intervals: bool = True) -> Forecast:
        """The forecast issued at `history.issue_time` for the next `horizon_steps` intervals; with
        `intervals` false a forecaster may skip its quantiles (they cost time)."""

    def _result(self, history: HistoryView, mean: np.ndarray, lower: np.ndarray | None = None,
                upper: np.ndarray | None = None) -> Forecast:
        return Forecast(self.quantity, history.issue_time, history.step_s,
                        tuple(history.entities[self.quantity]), mean, lower, upper)


F = TypeVar("F", bound=type[Forecaster])
REGISTRY: dict[str, type[Forecaster]] = {}


def register(cls: F) -> F:
    """Class decorator: make `cls.kind` available to scenarios and the command line."""
    if cls.kind in REGISTRY:
        raise ValueError(f"forecaster kind {cls.kind!r} registered twice")
    REGISTRY[cls.kind] = cls
    return cls


def build_forecaster(kind: str, quantity: str, params: dict[str, Any] | ForecasterParams | None = None,
                     oracle: Archive | None = None) -> Forecaster:
    """A forecaster of `kind` for `quantity`; `oracle` (the full archive) only for `perfect`."""
    if kind not in REGISTRY:
        raise ValueError(f"unknown forecaster kind {kind!r}; allowed: {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[kind]
    p = params if isinstance(params, ForecasterParams) else cls.Params(**(params or {}))
    factory: Callable[..., Forecaster] = cls
    if getattr(cls, "needs_oracle", False):
        return factory(quantity, p, oracle=oracle)
    return factory(quantity, p)
