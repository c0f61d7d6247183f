"""Synthetic weather against its reference climates: monthly and annual irradiation, the daily
clearness distribution and persistence against a measured typical year, temperatures consistent
with the cloudiness, the irradiance split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulators.sources.climate import CLIMATES, nearest_climate
from simulators.sources.validation import (
    clearness_stats,
    daily_clearness,
    synthetic_clearness,
    tmy_reference,
    tmy_site,
)
from simulators.sources.weather import Site, degree_days_kd, solar_zenith_deg, synthetic_weather

TZ = {
    "munich": "Europe/Berlin",
    "paris": "Europe/Paris",
    "madrid": "Europe/Madrid",
    "greensboro": "Etc/GMT+5",
}


def _year(name: str, seed: int, year: int = 2023) -> tuple[pd.DatetimeIndex, Site, np.ndarray, np.ndarray]:
    c = CLIMATES[name]
    site = Site(c.latitude_deg, c.longitude_deg, 300.0, TZ[name], name)
    times = pd.date_range(f"{year}-01-01", periods=8760, freq="h", tz=site.tz)
    w = synthetic_weather(times, site, seed)
    return times, site, w.ghi_w_m2, w.t_out_c


@pytest.mark.parametrize("name", sorted(CLIMATES))
@pytest.mark.parametrize("seed", [1, 7])
def test_monthly_and_annual_irradiation_match_the_climate(name: str, seed: int) -> None:
    times, _, ghi, t_out = _year(name, seed)
    c = CLIMATES[name]
    monthly = pd.Series(ghi, index=times).groupby(times.month).sum().to_numpy() / 1000.0
    np.testing.assert_allclose(monthly, c.ghi_kwh_m2_month, rtol=0.15)
    assert ghi.sum() / 1000.0 == pytest.approx(c.ghi_kwh_m2_a, rel=0.05)
    t_monthly = pd.Series(t_out, index=times).groupby(times.month).mean().to_numpy()
    np.testing.assert_allclose(t_monthly, c.t_mean_c_month, atol=0.5)


def test_daily_clearness_distribution_and_persistence_match_a_measured_year() -> None:
    """The greensboro preset is fitted to pvlib's TMY3 only through monthly totals; the shape of
    the daily clearness distribution and its day-to-day persistence are the generator's own."""
    times, ghi = tmy_reference()
    site = tmy_site()
    measured = daily_clearness(times, ghi, site)
    ref = clearness_stats(measured)
    for seed in (1, 2):
        k = synthetic_clearness(site, seed)
        got = clearness_stats(k)
        assert got.mean == pytest.approx(ref.mean, abs=0.02)
        assert got.std == pytest.approx(ref.std, abs=0.03)
        assert got.p10 == pytest.approx(ref.p10, abs=0.05) and got.p90 == pytest.approx(ref.p90, abs=0.05)
        assert got.lag1 == pytest.approx(ref.lag1, abs=0.12)
        assert stats.ks_2samp(k, measured).statistic < 0.15


def test_temperature_follows_the_cloudiness() -> None:
    """Clear summer days are warmer and have a wider daily range than overcast ones; clear winter
    days are colder."""
    times, site, _, t_out = _year("munich", 3)
    k = synthetic_clearness(site, 3)  # mid-hour axis of the same year and seed: the same days
    daily_t = t_out.reshape(-1, 24)
    mean_t, range_t = daily_t.mean(axis=1), daily_t.max(axis=1) - daily_t.min(axis=1)
    month = np.asarray(times[::24].month)
    for months, sign in (([6, 7, 8], 1), ([12, 1, 2], -1)):
        days = np.isin(month, months)
        clear = days & (k > np.percentile(k[days], 70))
        cloudy = days & (k < np.percentile(k[days], 30))
        assert sign * (mean_t[clear].mean() - mean_t[cloudy].mean()) > 0.5
        assert range_t[clear].mean() > range_t[cloudy].mean() + 1.0
    assert 3400 < degree_days_kd(t_out, 1.0) < 4100  # Munich: ~3,700-3,900 K·d (20/15)


def test_irradiance_split_closes() -> None:
    times = pd.date_range("2023-05-01", periods=24 * 14, freq="h", tz="Europe/Berlin")
    site = Site()
    w = synthetic_weather(times, site, 2)
    zenith, _ = solar_zenith_deg(times, site)
    day = zenith < 85
    closure = w.dni_w_m2 * np.cos(np.radians(zenith)) + w.dhi_w_m2
    np.testing.assert_allclose(closure[day], w.ghi_w_m2[day], rtol=1e-6, atol=1e-6)
    assert np.all(w.dhi_w_m2 <= w.ghi_w_m2 + 1e-9)
    assert w.dni_w_m2.max() > 600  # clear hours have a strong beam


def test_climate_presets() -> None:
    assert Site().climate_params.name == "munich"
    assert nearest_climate(48.85, 2.35).name == "paris"
    assert Site(40.0, -3.0).climate_params.name == "madrid"
    with pytest.raises(ValueError, match="allowed: munich"):
        Site(climate="atlantis")


def test_weather_across_new_year_uses_each_years_draw() -> None:
    site = Site()
    both = pd.date_range("2023-12-31", periods=48, freq="h", tz=site.tz)
    second = pd.date_range("2024-01-01", periods=24, freq="h", tz=site.tz)
    a, b = synthetic_weather(both, site, 5), synthetic_weather(second, site, 5)
    np.testing.assert_allclose(a.t_out_c[24:], b.t_out_c)
    np.testing.assert_allclose(a.ghi_w_m2[24:], b.ghi_w_m2)


def test_typical_year_file_over_any_year(tmp_path: Path) -> None:
    """pvlib's TMY3 (Greensboro) laid over 2025: the file's annual irradiation and mean
    temperature, each hour's value at its mid-hour, across New Year; bad files are named."""
    import pvlib

    from simulators.sources.model import make_weather
    from simulators.sources.series import SeriesError

    path = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    data, _ = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    site = tmy_site()
    times = pd.date_range("2025-01-01", periods=8760, freq="h", tz="America/New_York")
    w = make_weather(times, {"kind": "tmy", "path": str(path)}, site)
    assert w.ghi_w_m2.sum() == pytest.approx(data["ghi"].sum(), rel=1e-3)
    assert w.t_out_c.mean() == pytest.approx(data["temp_air"].mean(), abs=0.01)
    noon = pd.DatetimeIndex([pd.Timestamp("2025-06-21 12:30", tz="Etc/GMT+5")])  # mid of the row ending 13:00
    row = data[(data.index.month == 6) & (data.index.day == 21) & (data.index.hour == 13)]
    got = make_weather(noon, {"kind": "tmy", "path": str(path)}, site)
    assert got.ghi_w_m2[0] == pytest.approx(float(row["ghi"].iloc[0]))
    assert got.dni_w_m2[0] == pytest.approx(float(row["dni"].iloc[0]))
    new_year = pd.date_range("2025-12-31 20:00", periods=8, freq="h", tz="America/New_York")
    assert np.all(np.isfinite(make_weather(new_year, {"kind": "tmy", "path": str(path)}, site).t_out_c))
    (tmp_path / "bad.csv").write_text("time,t_out_c\n2025-01-01T00:00,1\n")
    with pytest.raises(SeriesError, match=r"bad\.csv: not a typical-year file"):
        make_weather(times, {"kind": "tmy", "path": str(tmp_path / "bad.csv")}, site)
    with pytest.raises(SeriesError, match="not found"):
        make_weather(times, {"kind": "tmy", "path": str(tmp_path / "none.epw")}, site)
