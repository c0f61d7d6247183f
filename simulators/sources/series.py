"""Loading users' own time series from CSV files.

A series file has a time column (ISO 8601 timestamps; naive ones are read in the scenario's
time zone) and one or more value columns. Series are interpolated linearly onto the simulation's
time axis; a simulation that runs outside the file's time range is an error that names the file
and the range it covers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


class SeriesError(ValueError):
    """A series file that cannot be used, with the file and the reason in the message."""


def read_series(path: Path, tz: str, columns: list[str], time_column: str = "time") -> pd.DataFrame:
    """Read `columns` from a CSV series file, indexed by tz-aware time, sorted."""
    if not path.is_file():
        raise SeriesError(f"{path}: series file not found")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SeriesError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in [time_column, *columns] if c not in frame.columns]
    if missing:
        raise SeriesError(f"{path}: missing column(s) {missing}; the file has {list(frame.columns)}")
    try:
        times = pd.DatetimeIndex(pd.to_datetime(frame[time_column]))
    except (ValueError, TypeError) as exc:
        raise SeriesError(f"{path}: column {time_column!r} does not hold timestamps ({exc})") from exc
    times = times.tz_localize(tz) if times.tz is None else times.tz_convert(tz)
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        bad = values.columns[values.isna().any()].tolist()
        raise SeriesError(f"{path}: non-numeric or empty values in column(s) {bad}")
    return pd.DataFrame(values.to_numpy(), index=times, columns=columns).sort_index()


def resample_onto(frame: pd.DataFrame, times: pd.DatetimeIndex, source: str) -> pd.DataFrame:
    """Linear interpolation of every column onto `times`; `times` must lie inside the frame's range."""
    if len(frame) < 2:
        raise SeriesError(f"{source}: needs at least two rows")
    if times[0] < frame.index[0] or times[-1] > frame.index[-1]:
        raise SeriesError(
            f"{source}: covers {frame.index[0]} to {frame.index[-1]}, but the simulation needs "
            f"{times[0]} to {times[-1]}"
        )
    x_src = frame.index.asi8.astype(float)
    x_dst = times.asi8.astype(float)
    data = {c: np.interp(x_dst, x_src, frame[c].to_numpy(dtype=float)) for c in frame.columns}
    return pd.DataFrame(data, index=times)
