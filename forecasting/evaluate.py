"""Scoring forecasters on held-out data: every forecaster trained once on the history before
`train_end`, then issued at every test step from the history before that step only.

`evaluate` returns the error table (one row per forecaster, quantity and lead: MAE, RMSE, skill
against persistence in MAE, and for forecasters with intervals the 80 % coverage and pinball
loss) and the issued values, for plots.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting import metrics
from forecasting.base import build_forecaster
from forecasting.history import Archive
from forecasting.weather import WeatherForecasts

REFERENCE = "persistence"


@dataclass(frozen=True)
class ForecasterSpec:
    """A forecaster to score: a label, a registered kind, its parameters and the quantities it
    forecasts (None: all)."""

    label: str
    kind: str
    params: Mapping[str, Any]
    quantities: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Issued:
    """Forecasts of one forecaster and quantity at the scored leads: arrays (issue, lead, entity)."""

    mean: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    actual: np.ndarray
    fit_s: float
    forecast_s: float


@dataclass(frozen=True)
class Evaluation:
    table: pd.DataFrame
    issued: dict[tuple[str, str], Issued]
    issues: np.ndarray
    leads: np.ndarray


def issue_forecasts(archive: Archive, weather: WeatherForecasts | None, spec: ForecasterSpec, quantity: str,
                    train_end: int, issues: np.ndarray, leads: np.ndarray) -> Issued:
    """Train `spec` on the history before `train_end`, issue at every step of `issues`."""
    forecaster = build_forecaster(spec.kind, quantity, dict(spec.params), oracle=archive)
    t0 = time.perf_counter()
    forecaster.fit(archive.view(train_end, weather))
    fit_s = time.perf_counter() - t0
    horizon = int(leads.max())
    n_entities = len(archive.entities[quantity])
    mean = np.empty((len(issues), len(leads), n_entities))
    lower, upper = np.empty_like(mean), np.empty_like(mean)
    has_intervals = True
    elapsed = 0.0
    for i, k in enumerate(issues):
        view = archive.view(int(k), weather)
        t1 = time.perf_counter()
        f = forecaster.forecast(view, horizon)
        elapsed += time.perf_counter() - t1
        mean[i] = f.mean[leads - 1]
        if f.lower is None or f.upper is None:
            has_intervals = False
        else:
            lower[i], upper[i] = f.lower[leads - 1], f.upper[leads - 1]
    truth = archive.values[quantity]
    actual = np.stack([truth[issues + lead - 1] for lead in leads], axis=1)
    return Issued(mean, lower if has_intervals else None, upper if has_intervals else None, actual,
                  fit_s, elapsed / max(len(issues), 1))


def evaluate(archive: Archive, weather: WeatherForecasts | None, specs: Sequence[ForecasterSpec],
             quantities: Sequence[str], train_end: int, issues: np.ndarray, leads: np.ndarray,
             entities: Mapping[str, np.ndarray] | None = None) -> Evaluation:
    """The error table of every forecaster for every quantity and lead (see the module docstring).
    `entities` restricts a quantity's scoring to some columns (e.g. buildings with PV)."""
    if train_end > int(issues.min()):
        raise ValueError("test issue times must not precede the end of training")
    if not any(s.label == REFERENCE for s in specs):
        specs = [ForecasterSpec(REFERENCE, REFERENCE, {}), *specs]
    issued: dict[tuple[str, str], Issued] = {}
    rows: list[dict[str, Any]] = []
    for quantity in quantities:
        columns = None if entities is None else entities.get(quantity)
        applicable = [s for s in specs if s.quantities is None or quantity in s.quantities]
        for spec in applicable:
            issued[(spec.label, quantity)] = issue_forecasts(archive, weather, spec, quantity, train_end,
                                                             issues, leads)
        for spec in applicable:
            result = issued[(spec.label, quantity)]
            reference = issued[(REFERENCE, quantity)]
            for li, lead in enumerate(leads):
                pick = (slice(None), li, slice(None) if columns is None else columns)
                actual = result.actual[pick]
                mae = metrics.mae(result.mean[pick], actual)
                row: dict[str, Any] = {
                    "forecaster": spec.label,
                    "quantity": quantity,
                    "lead_h": float(lead * archive.step_s / 3600.0),
                    "mae": mae,
                    "rmse": metrics.rmse(result.mean[pick], actual),
                    "skill": metrics.skill(mae, metrics.mae(reference.mean[pick], actual)),
                    "coverage_80": float("nan"),
                    "pinball": float("nan"),
                    "fit_s": result.fit_s,
                    "forecast_ms": result.forecast_s * 1e3,
                }
                if result.lower is not None and result.upper is not None:
                    scores = metrics.interval_scores(result.lower[pick], result.upper[pick], actual)
                    row["coverage_80"], row["pinball"] = scores["coverage"], scores["pinball"]
                rows.append(row)
    return Evaluation(pd.DataFrame(rows), issued, issues, leads)
