"""Forecasts issued from past data only: forecaster plug-ins, weather-forecast errors, metrics.

A forecaster sees a `HistoryView` (the observations before its issue time, copied) and never the
archive itself; `perfect` is the named exception kept for comparison. Kinds: `perfect`,
`persistence`, `seasonal_naive`, `gbt` (gradient-boosted trees with quantiles). See
docs/forecasting.md.
"""

from forecasting import gbt, simple
from forecasting.base import REGISTRY, Forecast, Forecaster, ForecasterParams, build_forecaster, register
from forecasting.history import Archive, HistoryView, LookAheadError
from forecasting.weather import WeatherErrorParams, WeatherForecasts

KINDS = tuple(sorted(REGISTRY))

__all__ = [
    "KINDS",
    "REGISTRY",
    "Archive",
    "Forecast",
    "Forecaster",
    "ForecasterParams",
    "HistoryView",
    "LookAheadError",
    "WeatherErrorParams",
    "WeatherForecasts",
    "build_forecaster",
    "gbt",
    "register",
    "simple",
]
