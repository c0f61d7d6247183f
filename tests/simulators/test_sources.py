"""Sources: seeded determinism, price kinds, CSV loading and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulators.sources.model import make_prices, make_weather
from simulators.sources.series import SeriesError
from simulators.sources.weather import Site

TZ = "Europe/Berlin"
TIMES = pd.date_range("2024-06-01", periods=96 * 2, freq="15min", tz=TZ)


def test_synthetic_weather_is_seeded() -> None:
    a = make_weather(TIMES, {"kind": "synthetic", "seed": 1}, Site())
    b = make_weather(TIMES, {"kind": "synthetic", "seed": 1}, Site())
    c = make_weather(TIMES, {"kind": "synthetic", "seed": 2}, Site())
    np.testing.assert_array_equal(a.t_out_c, b.t_out_c)
    np.testing.assert_array_equal(a.ghi_w_m2, b.ghi_w_m2)
    assert not np.allclose(a.t_out_c, c.t_out_c)


def test_synthetic_weather_is_physical() -> None:
    w = make_weather(TIMES, {"kind": "synthetic", "seed": 3}, Site())
    night = np.asarray(TIMES.hour < 3)
    assert np.all(w.ghi_w_m2[night] == 0)
    assert w.ghi_w_m2.max() > 300  # June noon
    assert np.all(w.ghi_w_m2 >= 0) and np.all(w.dni_w_m2 >= 0) and np.all(w.dhi_w_m2 >= 0)
    assert 0 < w.t_out_c.mean() < 30


def test_weather_does_not_depend_on_the_run_start() -> None:
    full = make_weather(TIMES, {"kind": "synthetic", "seed": 4}, Site())
    later = make_weather(TIMES[96:], {"kind": "synthetic", "seed": 4}, Site())
    np.testing.assert_allclose(full.t_out_c[96:], later.t_out_c)


def test_price_kinds() -> None:
    flat = make_prices(TIMES, {"kind": "flat", "price_per_kwh": 0.3, "export_per_kwh": 0.1}, TZ)
    assert np.all(flat.import_per_kwh == 0.3) and np.all(flat.export_per_kwh == 0.1)
    tou = make_prices(TIMES, {"kind": "tou"}, TZ)  # 2024-06-01 is a Saturday: day tariff 6-22 h
    hours = np.asarray(TIMES.hour)
    assert np.all(tou.import_per_kwh[(hours >= 6) & (hours < 22)][:10] == 0.27)
    assert np.all(tou.import_per_kwh[hours < 6] == 0.14)
    rtp = make_prices(TIMES, {"kind": "rtp", "price_per_kwh": 0.2, "seed": 1}, TZ)
    year = pd.date_range("2024-01-01", periods=8760, freq="h", tz=TZ)
    yearly = make_prices(year, {"kind": "rtp", "price_per_kwh": 0.2, "seed": 1}, TZ).import_per_kwh
    assert yearly.mean() == pytest.approx(0.2, rel=0.03)  # the mean holds over a year, not a day
    assert rtp.import_per_kwh.std() > 0.01
    with pytest.raises(ValueError, match="allowed"):
        make_prices(TIMES, {"kind": "auction"}, TZ)


def test_csv_weather_and_prices(tmp_path: Path) -> None:
    hourly = pd.date_range("2024-06-01", periods=60, freq="h")
    pd.DataFrame({"time": hourly, "t_out_c": np.linspace(10, 20, 60), "ghi_w_m2": 100.0}).to_csv(
        tmp_path / "w.csv", index=False
    )
    w = make_weather(TIMES, {"kind": "csv", "path": str(tmp_path / "w.csv")}, Site())
    assert w.t_out_c[0] == pytest.approx(10.0) and w.t_out_c[4] == pytest.approx(10 + 10 / 59)
    pd.DataFrame({"time": hourly, "import_per_kwh": 0.25, "co2_kg_per_kwh": 0.4}).to_csv(
        tmp_path / "p.csv", index=False
    )
    p = make_prices(TIMES, {"kind": "csv", "path": str(tmp_path / "p.csv"), "export_per_kwh": 0.05}, TZ)
    assert np.all(p.import_per_kwh == 0.25) and np.all(p.co2_kg_per_kwh == 0.4)
    assert np.all(p.export_per_kwh == 0.05)


def test_csv_errors_name_the_file(tmp_path: Path) -> None:
    short = pd.date_range("2024-06-01", periods=5, freq="h")
    pd.DataFrame({"time": short, "t_out_c": 1.0, "ghi_w_m2": 0.0}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(SeriesError, match=r"short\.csv: covers"):
        make_weather(TIMES, {"kind": "csv", "path": str(tmp_path / "short.csv")}, Site())
    pd.DataFrame({"time": short, "temp": 1.0}).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(SeriesError, match=r"cols\.csv: missing column"):
        make_weather(TIMES, {"kind": "csv", "path": str(tmp_path / "cols.csv")}, Site())
    with pytest.raises(SeriesError, match="not found"):
        make_weather(TIMES, {"kind": "csv", "path": str(tmp_path / "nope.csv")}, Site())


def test_weather_and_prices_do_not_depend_on_the_run_length() -> None:
    """A forecaster asks for the same times with a longer horizon: it must see the same weather."""
    short, long_ = TIMES[:96], pd.date_range(TIMES[0], periods=96 * 3, freq="15min")
    for field in ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s"):
        a = getattr(make_weather(short, {"kind": "synthetic", "seed": 9}, Site()), field)
        b = getattr(make_weather(long_, {"kind": "synthetic", "seed": 9}, Site()), field)[:96]
        np.testing.assert_array_equal(a, b, err_msg=field)
    spec = {"kind": "rtp", "price_per_kwh": 0.2, "seed": 3}
    rtp_short = make_prices(short, spec, TZ).import_per_kwh
    rtp_long = make_prices(long_, spec, TZ).import_per_kwh
    np.testing.assert_array_equal(rtp_short, rtp_long[:96])
