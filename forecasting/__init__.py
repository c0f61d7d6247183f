"""Forecasts issued from past data only: forecaster plug-ins, weather-forecast errors, metrics."""
