"""Source models built from plain specifications (dicts mirroring the scenario's `sources` section).

Everything here is pure Python/NumPy/pandas; the mosaik adapter is `sim.py`. Specs are plain
dicts so that they cross a process boundary unchanged when the simulator runs as its own process.

Weather spec: ``{"kind": "synthetic", "seed": 1}``, ``{"kind": "csv", "path": "w.csv"}`` (columns
`time, t_out_c, ghi_w_m2` and optionally `dni_w_m2, dhi_w_m2, wind_m_s`) or ``{"kind": "tmy", "path":
"year.epw"}`` (a typical-year file: TMY3, EPW or PVGIS TMY, `typical_year`). Prices spec:
``{"kind": "flat" | "tou" | "rtp" | "csv", "price_per_kwh": 0.30, "export_per_kwh": 0.08,
"co2_kg_per_kwh": 0.35, ...}`` (see `make_prices`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulators.sources.prices import PriceSeries, TouTariff, flat_prices, rtp_prices, tou_prices
from simulators.sources.series import SeriesError, read_series, resample_onto
from simulators.sources.typical_year import at_times, read_typical_year
from simulators.sources.weather import Site, WeatherSeries, split_irradiance, synthetic_weather

WEATHER_KINDS = ("synthetic", "csv", "tmy")
PRICE_KINDS = ("flat", "tou", "rtp", "csv")


def site_from(spec: dict[str, Any]) -> Site:
    """A Site from a dict with optional latitude_deg, longitude_deg, altitude_m, tz, climate."""
    keys = ("latitude_deg", "longitude_deg", "altitude_m", "tz", "climate")
    return Site(**{k: spec[k] for k in keys if k in spec})


def make_weather(times: pd.DatetimeIndex, spec: dict[str, Any], site: Site) -> WeatherSeries:
    """Weather on `times` from a synthetic generator or a CSV file."""
    kind = spec.get("kind", "synthetic")
    if kind == "synthetic":
        return synthetic_weather(times, site, int(spec.get("seed", 0)))
    if kind == "csv":
        path = Path(spec["path"])
        frame = read_series(path, site.tz, ["t_out_c", "ghi_w_m2"])
        on_axis = resample_onto(frame, times, str(path))
        ghi = np.clip(on_axis["ghi_w_m2"].to_numpy(), 0.0, None)
        optional = pd.read_csv(path, nrows=0).columns
        if {"dni_w_m2", "dhi_w_m2"} <= set(optional):
            parts = resample_onto(read_series(path, site.tz, ["dni_w_m2", "dhi_w_m2"]), times, str(path))
            dni, dhi = parts["dni_w_m2"].to_numpy(), parts["dhi_w_m2"].to_numpy()
        else:
            dni, dhi = split_irradiance(times, ghi, site)
        if "wind_m_s" in optional:
            wind = resample_onto(read_series(path, site.tz, ["wind_m_s"]), times, str(path))[
                "wind_m_s"
            ].to_numpy()
        else:
            wind = np.full(len(times), 2.0)
        return WeatherSeries(times, on_axis["t_out_c"].to_numpy(), ghi, dni, dhi, wind)
    if kind == "tmy":
        columns = at_times(read_typical_year(Path(spec["path"])), times)
        return WeatherSeries(times, columns["t_out_c"], columns["ghi_w_m2"], columns["dni_w_m2"],
                             columns["dhi_w_m2"], columns["wind_m_s"])  # fmt: skip
    raise ValueError(f"unknown weather kind {kind!r}; allowed: {', '.join(WEATHER_KINDS)}")


def make_prices(times: pd.DatetimeIndex, spec: dict[str, Any], tz: str) -> PriceSeries:
    """Import/export prices and carbon intensity on `times`.

    kinds: flat (`price_per_kwh`), tou (`tou`: TouTariff fields), rtp (`price_per_kwh` is the
    mean, `seed`), csv (`path` with columns `time, import_per_kwh` and optionally
    `export_per_kwh, co2_kg_per_kwh`). `export_per_kwh` and `co2_kg_per_kwh` are flat otherwise.
    """
    kind = spec.get("kind", "flat")
    n = len(times)
    export = np.full(n, float(spec.get("export_per_kwh", 0.0)))
    co2 = np.full(n, float(spec.get("co2_kg_per_kwh", 0.0)))
    if kind == "flat":
        imp = flat_prices(times, float(spec.get("price_per_kwh", 0.30)))
    elif kind == "tou":
        tou = spec.get("tou") or {}
        if "weekdays" in tou:
            tou = {**tou, "weekdays": tuple(tou["weekdays"])}
        imp = tou_prices(times, TouTariff(**tou))
    elif kind == "rtp":
        imp = rtp_prices(times, float(spec.get("price_per_kwh", 0.30)), int(spec.get("seed", 0)))
    elif kind == "csv":
        path = Path(spec["path"])
        frame = resample_onto(read_series(path, tz, ["import_per_kwh"]), times, str(path))
        imp = frame["import_per_kwh"].to_numpy()
        header = set(pd.read_csv(path, nrows=0).columns)
        for column, target in (("export_per_kwh", export), ("co2_kg_per_kwh", co2)):
            if column in header:
                target[:] = resample_onto(read_series(path, tz, [column]), times, str(path))[
                    column
                ].to_numpy()
    else:
        raise ValueError(f"unknown price kind {kind!r}; allowed: {', '.join(PRICE_KINDS)}")
    return PriceSeries(times, np.asarray(imp, dtype=float), export, co2)


__all__ = ["SeriesError", "make_prices", "make_weather", "site_from"]
