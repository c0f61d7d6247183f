"""Weather from a typical meteorological year file (TMY3, EnergyPlus EPW, PVGIS TMY), read with
pvlib's readers and laid over any calendar year.

A typical year has 8,760 hourly rows taken from different real years; a run in any year sees, at
each time, the file's value at the same hour of the year (linear interpolation between the rows'
mid-hours; the year wraps around, so a run may cross New Year; in a leap year the hours after
28 February shift by a day). Times in TMY3 and EPW files are local standard time (their UTC offset
comes from the file's header), PVGIS times are UTC.

Readers by file name: `*.epw` (`pvlib.iotools.read_epw`), `*.json` (PVGIS JSON), other files TMY3
CSV (`read_tmy3`, e.g. the ones pvlib ships: `pvlib/data/723170TYA.CSV`), and if that fails PVGIS
CSV (`read_pvgis_tmy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

from simulators.sources.series import SeriesError

HOURS = 8760
COLUMNS = ("temp_air", "ghi", "dni", "dhi", "wind_speed")


@dataclass(frozen=True)
class TypicalYear:
    """Hourly rows of a typical year; row k applies at `first_mid_utc_h` + k hours after
    1 January 00:00 UTC."""

    t_out_c: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray
    wind_m_s: np.ndarray
    first_mid_utc_h: float


def _read(path: Path) -> tuple[pd.DataFrame, float]:
    """The file's data and the mid-hour of its first row in hours after 1 January 00:00 UTC: TMY3
    and EPW rows end at their time stamp in local standard time (first row 00:00-01:00 local),
    PVGIS rows start at theirs in UTC."""
    suffix = path.suffix.lower()
    if suffix == ".epw":
        data, meta = pvlib.iotools.read_epw(str(path))
        return data, 0.5 - float(meta["TZ"])
    if suffix == ".json":
        data, *_ = pvlib.iotools.read_pvgis_tmy(str(path), pvgis_format="json")
        return data, 0.5
    try:
        data, meta = pvlib.iotools.read_tmy3(str(path), map_variables=True)
        return data, 0.5 - float(meta["TZ"])
    except Exception:  # not TMY3: try PVGIS's CSV next
        data, *_ = pvlib.iotools.read_pvgis_tmy(str(path), pvgis_format="csv")
        return data, 0.5


@lru_cache(maxsize=8)
def read_typical_year(path: Path) -> TypicalYear:
    """A typical-year file's hourly weather (cached per path; the arrays are shared)."""
    if not path.is_file():
        raise SeriesError(
            f"{path}: typical-year file not found; correct the path (relative to the scenario file)"
        )
    try:
        data, first_mid = _read(path)
    except Exception as exc:  # pvlib's readers raise many kinds
        raise SeriesError(
            f"{path}: not a typical-year file pvlib can read (TMY3 CSV, EnergyPlus EPW, PVGIS TMY CSV or "
            f"JSON): {exc}"
        ) from None
    missing = [c for c in COLUMNS if c not in data.columns]
    if missing:
        raise SeriesError(f"{path}: the file has no {', '.join(missing)} column(s)")
    index = pd.DatetimeIndex(data.index)
    keep = ~((index.month == 2) & (index.day == 29))  # a leap-day typical year: drop 29 February
    values = data.loc[keep, list(COLUMNS)].to_numpy(dtype=float)
    if values.shape[0] != HOURS:
        raise SeriesError(f"{path}: {values.shape[0]} hourly rows; a typical year has {HOURS}")
    if not np.isfinite(values).all():
        raise SeriesError(f"{path}: missing values in {', '.join(COLUMNS)}")
    ghi = np.clip(values[:, 1], 0.0, None)
    return TypicalYear(values[:, 0], ghi, np.clip(values[:, 2], 0.0, None), np.clip(values[:, 3], 0.0, None),
                       np.clip(values[:, 4], 0.0, None), first_mid)  # fmt: skip


def at_times(year: TypicalYear, times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """The typical year's columns at `times` (any year; hour of the year, wrapping periodically)."""
    utc = times.tz_convert("UTC")
    year_start = pd.DatetimeIndex(pd.to_datetime([f"{y}-01-01" for y in utc.year], utc=True))
    hours = np.asarray((utc - year_start) / pd.Timedelta(hours=1), dtype=float)
    position = np.mod(hours - year.first_mid_utc_h, HOURS)
    grid = np.arange(HOURS + 1, dtype=float)

    def at(values: np.ndarray) -> np.ndarray:
        result: np.ndarray = np.interp(position, grid, np.append(values, values[0]))
        return result

    return {"t_out_c": at(year.t_out_c), "ghi_w_m2": at(year.ghi_w_m2), "dni_w_m2": at(year.dni_w_m2),
            "dhi_w_m2": at(year.dhi_w_m2), "wind_m_s": at(year.wind_m_s)}  # fmt: skip
