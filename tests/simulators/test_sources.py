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


def _weather_csv(path: Path, times: pd.DatetimeIndex | list[str], **columns: object) -> Path:
    data = {"time": times, "t_out_c": 5.0, "ghi_w_m2": 100.0, **columns}
    pd.DataFrame(data).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"t_out_c": 500.0}, r"line 2, column t_out_c: 500 is outside the plausible range -60 to 60"),
        ({"ghi_w_m2": -300.0}, r"line 2, column ghi_w_m2: -300 is outside the plausible range 0 to 1400"),
        ({"t_out_c": [5.0] * 10 + [float("nan")] * 50}, r"line 12, column t_out_c: empty is not a number"),
        ({"t_out_c": ["warm"] * 60}, r"line 2, column t_out_c: 'warm' is not a number"),
    ],
    ids=["hot", "negative-sun", "nan", "text"],
)
def test_csv_values_are_checked(tmp_path: Path, change: dict[str, object], message: str) -> None:
    hourly = pd.date_range("2024-06-01", periods=60, freq="h")
    path = _weather_csv(tmp_path / "w.csv", hourly, **change)
    with pytest.raises(SeriesError, match=r"w\.csv: " + message):
        make_weather(TIMES, {"kind": "csv", "path": str(path)}, Site())


def test_duplicate_and_unsorted_rows_are_reported(tmp_path: Path) -> None:
    hourly = list(pd.date_range("2024-06-01", periods=60, freq="h"))
    twice = _weather_csv(tmp_path / "twice.csv", hourly[:10] + hourly[9:59])
    with pytest.raises(SeriesError, match=r"twice\.csv: lines 11 and 12 both hold the time 2024-06-01 09:00"):
        make_weather(TIMES, {"kind": "csv", "path": str(twice)}, Site())
    swapped = [*hourly[:5], hourly[6], hourly[5], *hourly[7:]]
    shuffled = _weather_csv(tmp_path / "shuffled.csv", swapped)
    with pytest.raises(SeriesError, match=r"shuffled\.csv: line 8 .* comes before line 7 .*; sort the rows"):
        make_weather(TIMES, {"kind": "csv", "path": str(shuffled)}, Site())


def test_empty_and_headerless_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SeriesError, match=r"empty\.csv: the file is empty"):
        make_weather(TIMES, {"kind": "csv", "path": str(tmp_path / "empty.csv")}, Site())
    (tmp_path / "bare.csv").write_text("2024-06-01T00:00:00,5,100\n2024-06-01T01:00:00,5,100\n")
    with pytest.raises(SeriesError, match=r"bare\.csv: missing column\(s\) time, t_out_c, ghi_w_m2"):
        make_weather(TIMES, {"kind": "csv", "path": str(tmp_path / "bare.csv")}, Site())


def test_a_naive_local_year_is_usable_away_from_the_clock_changes(tmp_path: Path) -> None:
    """A whole year of naive local hours holds 02:00 on the spring night (no such time in Berlin)
    and 02:00 twice in autumn: days away from those nights read fine, a run across them is told
    which lines and what to give instead."""
    naive = pd.date_range("2024-01-01", "2024-12-31 23:00", freq="h")  # the naive wall-clock hours
    naive = naive.append(pd.DatetimeIndex(["2024-10-27 02:00"])).sort_values()  # 02:00 twice in October
    hours = np.asarray(naive.hour, dtype=float)
    path = _weather_csv(tmp_path / "year.csv", naive.strftime("%Y-%m-%dT%H:%M:%S"), t_out_c=hours)
    april = pd.date_range("2024-04-10", periods=96, freq="15min", tz=TZ)
    w = make_weather(april, {"kind": "csv", "path": str(path)}, Site())
    np.testing.assert_allclose(w.t_out_c[::4], np.arange(24.0))  # local hour k holds the value k
    spring = pd.date_range("2024-03-30 12:00", periods=96, freq="15min", tz=TZ)
    gap = r"year\.csv: line\(s\) 2164-2164 \(2024-03-31 02:00:00\) .* UTC offset"
    with pytest.raises(SeriesError, match=gap):
        make_weather(spring, {"kind": "csv", "path": str(path)}, Site())
    autumn = pd.date_range("2024-10-26 12:00", periods=96, freq="15min", tz=TZ)
    with pytest.raises(SeriesError, match=r"year\.csv: line\(s\) .* \(2024-10-27 02:00:00\) .* happen twice"):
        make_weather(autumn, {"kind": "csv", "path": str(path)}, Site())
