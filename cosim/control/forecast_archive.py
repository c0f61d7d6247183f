"""The observation archive of a scenario's district, produced by the simulators' own pure models.

What the meters and the weather station of the district record: per building the uncontrolled
electricity demand (`p_base_kw`: appliances and the hot-water heat pump), appliances alone, hot-water
heat and PV; for the site the outdoor temperature and global irradiance (and, when prices are
forecast, the published import price). The archive covers `history_days` before the run (the
history the forecasters train on) and the run plus one horizon (the realised values the forecasts
are scored against); forecasters only ever get a view of it truncated at their issue time
(`forecasting.history`).

The run's part equals what the simulators compute (same seeds, same step indices). The history
before the start uses the same buildings and weather generator with independent demand noise
(step indices past the run's), i.e. other days of the same district. With CSV weather the file must
cover the history too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pvlib

from cosim.scenario.model import Scenario
from forecasting import Archive, WeatherErrorParams, WeatherForecasts
from simulators.building.model import BuildingFleet, BuildingSpec, WeatherInputs
from simulators.clock import start_timestamp, time_axis
from simulators.sources.model import SeriesError, make_prices, make_weather, site_from
from simulators.sources.weather import Site, WeatherSeries

WEATHER_FIELDS = ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s")
BUILDING_SERIES = ("p_base_kw", "pv_kw", "p_appliances_kw", "dhw_th_kw")
SITE_ENTITY = "site"
PRICE_SERIES = "import_per_kwh"
WEATHER_SEED_STREAM = 7307


@dataclass(frozen=True)
class DistrictArchive:
    """The district's archive (truth), its weather-forecast service, and where the run starts in it."""

    archive: Archive
    weather: WeatherForecasts
    run_offset: int
    names: tuple[str, ...]
    zenith_deg: np.ndarray  # the sun's apparent zenith on the archive's axis (astronomy)
    wind_m_s: float  # mean wind over the history (climatology)


def site_of(scenario: Scenario) -> Site:
    spec = {**scenario.site.model_dump(exclude={"heating_degree_days_kd"}), "tz": scenario.timezone}
    return site_from(spec)


def weather_on(scenario: Scenario, times: pd.DatetimeIndex, site: Site) -> WeatherSeries:
    spec = {**scenario.sources.weather.model_dump(mode="json"), "seed": scenario.seed}
    return make_weather(times, spec, site)


def building_names_specs(scenario: Scenario) -> tuple[list[str], list[BuildingSpec]]:
    names: list[str] = []
    specs: list[BuildingSpec] = []
    for group in scenario.buildings:
        spec = BuildingSpec.from_dict(group.building_spec())
        for name in group.names():
            names.append(name)
            specs.append(spec)
    return names, specs


def prices_on(scenario: Scenario, times: pd.DatetimeIndex) -> np.ndarray:
    """The import price (per kWh) published for `times` (the scenario's tariff, as the prices
    simulator makes it)."""
    spec = scenario.sources.prices.model_dump(mode="json", exclude={"gas_per_kwh", "gas_co2_kg_per_kwh"})
    return np.asarray(make_prices(times, {**spec, "seed": scenario.seed}, scenario.timezone).import_per_kwh,
                      dtype=float)


def clear_sky_ghi(times: pd.DatetimeIndex, site: Site) -> np.ndarray:
    """Clear-sky global horizontal irradiance (W/m², pvlib's Haurwitz model): astronomy, not weather."""
    location = pvlib.location.Location(site.latitude_deg, site.longitude_deg, site.tz, site.altitude_m)
    return np.asarray(location.get_clearsky(times, model="haurwitz")["ghi"], dtype=float)


def _fleet_series(fleet: BuildingFleet, times: pd.DatetimeIndex, indices: range,
                  weather: WeatherSeries) -> dict[str, np.ndarray]:
    n = fleet.n
    out = {name: np.empty((len(times), n)) for name in BUILDING_SERIES}
    for row, (time, index) in enumerate(zip(times, indices, strict=True)):
        w = WeatherInputs(*(np.full(n, getattr(weather, f)[row]) for f in WEATHER_FIELDS))
        ex = fleet.exogenous(time, index, w)
        for name in BUILDING_SERIES:
            out[name][row] = getattr(ex, name)
    return out


def district_archive(scenario: Scenario, history_days: int, horizon_steps: int,
                     weather_errors: WeatherErrorParams | None = None,
                     max_lead_steps: int | None = None, prices: bool = False) -> DistrictArchive:
    """The archive over `history_days` before the start, the run and one horizon after it (with
    `prices`, the published import price too)."""
    dt = scenario.step
    steps_per_day = 86400 // dt
    n_hist, n_run = history_days * steps_per_day, scenario.n_steps + horizon_steps
    run_times = time_axis(scenario.start, scenario.timezone, dt, n_run)
    start = start_timestamp(scenario.start, scenario.timezone)
    hist_times = pd.date_range(start - pd.Timedelta(seconds=dt * n_hist), periods=n_hist,
                               freq=pd.Timedelta(seconds=dt))
    site = site_of(scenario)
    names, specs = building_names_specs(scenario)
    fleet = BuildingFleet(specs, list(range(len(specs))), site, dt, scenario.seed,
                          scenario.site.heating_degree_days_kd)
    fleet.set_time_axis(run_times.append(hist_times))
    run_w = weather_on(scenario, run_times, site)
    try:
        hist_w = weather_on(scenario, hist_times, site)
    except SeriesError as exc:
        raise SeriesError(
            f"forecast.history_days = {history_days}: the forecasters train on the {history_days} days "
            f"before the start, and the weather does not cover them ({exc}); give a weather file that "
            "does, or lower forecast.history_days (at least 9)"
        ) from None
    hist = _fleet_series(fleet, hist_times, range(n_run, n_run + n_hist), hist_w)
    run = _fleet_series(fleet, run_times, range(n_run), run_w)
    times = hist_times.append(run_times)
    values: dict[str, Any] = {name: np.vstack([hist[name], run[name]]) for name in BUILDING_SERIES}
    for name in ("t_out_c", "ghi_w_m2"):
        values[name] = np.concatenate([getattr(hist_w, name), getattr(run_w, name)])[:, None]
    site_series = ["t_out_c", "ghi_w_m2"]
    if prices:
        try:
            history_prices = prices_on(scenario, hist_times)
        except SeriesError as exc:
            raise SeriesError(
                f"forecast.quantities.{PRICE_SERIES}: the price forecaster trains on the {history_days} "
                f"days before the start, and the price file does not cover them ({exc})"
            ) from None
        values[PRICE_SERIES] = np.concatenate([history_prices, prices_on(scenario, run_times)])[:, None]
        site_series.append(PRICE_SERIES)
    entities = {name: tuple(names) for name in BUILDING_SERIES}
    entities |= {name: (SITE_ENTITY,) for name in site_series}
    archive = Archive(pd.DatetimeIndex(times), dt, values, entities)
    weather = WeatherForecasts(
        truth={"t_out_c": values["t_out_c"][:, 0], "ghi_w_m2": values["ghi_w_m2"][:, 0]},
        ghi_clear_w_m2=clear_sky_ghi(pd.DatetimeIndex(times), site),
        step_s=dt,
        seed=scenario.seed * 1000 + WEATHER_SEED_STREAM,
        params=weather_errors or WeatherErrorParams(),
        max_lead_steps=max_lead_steps or max(horizon_steps, 2 * steps_per_day),
    )
    zenith = pvlib.solarposition.get_solarposition(
        times, site.latitude_deg, site.longitude_deg, site.altitude_m
    )["apparent_zenith"].to_numpy()
    return DistrictArchive(archive, weather, n_hist, tuple(names), zenith, float(np.mean(hist_w.wind_m_s)))
