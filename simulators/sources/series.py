"""Loading users' own time series from CSV files.

A series file has a time column (ISO 8601 timestamps; naive ones are read in the scenario's
time zone) and one or more value columns. Series are interpolated linearly onto the simulation's
time axis. Every problem is an error that names the file, and the row or column, and what to change:
a missing file or column, an empty or non-numeric value, a value outside the plausible range of its
column (`PLAUSIBLE`), two rows with the same time, rows out of time order, a simulation that runs
outside the file's time range.

Naive local times and daylight saving: a file of naive local times over a whole year has an hour
in spring that does not exist and one in autumn that happens twice. Such rows are set aside; only
a simulation whose times fall between the rows around them is an error (it names the rows and
asks for times with a UTC offset, or in UTC).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PLAUSIBLE: dict[str, tuple[float, float]] = {
    "t_out_c": (-60.0, 60.0),
    "ghi_w_m2": (0.0, 1400.0),
    "dni_w_m2": (0.0, 1400.0),
    "dhi_w_m2": (0.0, 1000.0),
    "wind_m_s": (0.0, 80.0),
    "import_per_kwh": (-10.0, 10.0),
    "export_per_kwh": (-10.0, 10.0),
    "co2_kg_per_kwh": (0.0, 2.0),
}
"""Range of plausible values per known column (units in the names); a value outside is an error."""


class SeriesError(ValueError):
    """A series file that cannot be used, with the file and the reason in the message."""


def _row(position: int) -> int:
    """The line number of a data row in the file (line 1 is the header)."""
    return position + 2


def read_series(path: Path, tz: str, columns: list[str], time_column: str = "time") -> pd.DataFrame:
    """Read `columns` from a CSV series file, indexed by tz-aware time in `tz`, in time order."""
    frame = _read_csv(path)
    missing = [c for c in [time_column, *columns] if c not in frame.columns]
    if missing:
        raise SeriesError(
            f"{path}: missing column(s) {', '.join(missing)}; the file has "
            f"{', '.join(map(str, frame.columns))} (the first line must name the columns: "
            f"{', '.join([time_column, *columns])})"
        )
    naive, times = _times(path, frame[time_column], time_column)
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    for column in columns:
        bad = np.flatnonzero(values[column].isna().to_numpy())
        if bad.size:
            raw = frame[column].iloc[bad[0]]
            shown = "empty" if pd.isna(raw) else repr(raw)
            raise SeriesError(
                f"{path}: line {_row(int(bad[0]))}, column {column}: {shown} is not a number "
                f"({bad.size} such value(s)); fill in every value"
            )
        _plausible(path, column, values[column].to_numpy(dtype=float))
    result = pd.DataFrame(values.to_numpy(dtype=float), index=times, columns=columns)
    lines = np.arange(len(result))
    if naive:
        result, lines = _localize(path, result, tz)
    else:
        result.index = pd.DatetimeIndex(result.index).tz_convert(tz)
    _in_order(path, pd.DatetimeIndex(result.index), lines, time_column)
    return result


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SeriesError(f"{path}: series file not found; correct the path (relative to the scenario file)")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise SeriesError(
            f"{path}: the file is empty; it needs a header line and at least two rows"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SeriesError(f"{path}: not a readable CSV file ({exc})") from None
    return frame


def _times(path: Path, column: pd.Series, name: str) -> tuple[bool, pd.DatetimeIndex]:
    """The time column parsed; naive (True) or all with a UTC offset (False, as UTC)."""
    try:
        parsed = pd.to_datetime(column, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(column, format="ISO8601", utc=True, errors="coerce")
        if parsed.isna().any():
            bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise SeriesError(
                f"{path}: line {_row(bad)}, column {name}: {column.iloc[bad]!r} is not an ISO 8601 timestamp "
                "(e.g. 2024-03-20T06:00:00, or with its UTC offset 2024-03-20T06:00:00+01:00)"
            ) from None
        return False, pd.DatetimeIndex(parsed)
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise SeriesError(f"{path}: line {_row(bad)}, column {name}: the time is empty")
    index = pd.DatetimeIndex(parsed)
    return index.tz is None, index


def _plausible(path: Path, column: str, values: np.ndarray) -> None:
    if column not in PLAUSIBLE:
        return
    low, high = PLAUSIBLE[column]
    outside = np.flatnonzero((values < low) | (values > high))
    if outside.size:
        k = int(outside[0])
        raise SeriesError(
            f"{path}: line {_row(k)}, column {column}: {values[k]:g} is outside the plausible range "
            f"{low:g} to {high:g} ({outside.size} such value(s)); check the unit and the column"
        )


def _in_order(path: Path, index: pd.DatetimeIndex, lines: np.ndarray, name: str) -> None:
    """Duplicate times and rows out of order are errors naming the lines (`lines`: the data row
    of each entry of `index`)."""
    steps = np.diff(index.asi8)
    same = np.flatnonzero(steps == 0)
    if same.size:
        k = int(same[0])
        raise SeriesError(
            f"{path}: lines {_row(int(lines[k]))} and {_row(int(lines[k + 1]))} both hold the time "
            f"{index[k].tz_localize(None)}; every time must appear once"
        )
    back = np.flatnonzero(steps < 0)
    if back.size:
        k = int(back[0])
        raise SeriesError(
            f"{path}: line {_row(int(lines[k + 1]))} ({index[k + 1].tz_localize(None)}) comes before line "
            f"{_row(int(lines[k]))} ({index[k].tz_localize(None)}); sort the rows by the {name} column"
        )


def _localize(path: Path, frame: pd.DataFrame, tz: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Naive local times in `tz`: the times that do not exist or happen twice are set aside (a
    gap `resample_onto` refuses to interpolate across). Returns the rows kept and their data rows."""
    index = pd.DatetimeIndex(frame.index)
    local = index.tz_localize(tz, nonexistent="NaT", ambiguous="NaT")
    unusable = np.asarray(local.isna())
    if not unusable.any():
        return frame.set_axis(local), np.arange(len(frame))
    kept = frame.set_axis(local)[~unusable]
    kept.attrs["gaps"] = _gaps(path, index, local, unusable, tz)
    return kept, np.flatnonzero(~unusable)


def _gaps(
    path: Path, naive: pd.DatetimeIndex, local: pd.DatetimeIndex, unusable: np.ndarray, tz: str
) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    """(time before, time after, message) around each run of rows set aside."""
    gaps = []
    positions = np.flatnonzero(unusable)
    starts = positions[np.r_[True, np.diff(positions) > 1]]
    ends = positions[np.r_[np.diff(positions) > 1, True]]
    for first, last in zip(starts, ends, strict=True):
        before = local[first - 1] if first > 0 else None
        after = local[last + 1] if last + 1 < len(local) else None
        message = (
            f"{path}: line(s) {_row(int(first))}-{_row(int(last))} ({naive[first]}) are local times that "
            f"do not exist or happen twice in {tz} (daylight saving), and the simulation needs them; give "
            "the times with their UTC offset (e.g. 2024-03-31T01:00:00+01:00) or in UTC"
        )
        gaps.append((before, after, message))
    return gaps


def resample_onto(frame: pd.DataFrame, times: pd.DatetimeIndex, source: str) -> pd.DataFrame:
    """Linear interpolation of every column onto `times`; `times` must lie inside the frame's range
    and not across rows set aside (see `_localize`)."""
    if len(frame) < 2:
        raise SeriesError(f"{source}: needs at least two rows")
    if times[0] < frame.index[0] or times[-1] > frame.index[-1]:
        raise SeriesError(
            f"{source}: covers {frame.index[0]} to {frame.index[-1]}, but the simulation needs "
            f"{times[0]} to {times[-1]}; give a file that covers the simulated period or change "
            "start and duration"
        )
    for before, after, message in frame.attrs.get("gaps", []):
        low = times[0] if before is None else before
        high = times[-1] if after is None else after
        if ((times > low) & (times < high)).any():
            raise SeriesError(message)
    x_src = frame.index.asi8.astype(float)
    x_dst = times.asi8.astype(float)
    data = {c: np.interp(x_dst, x_src, frame[c].to_numpy(dtype=float)) for c in frame.columns}
    return pd.DataFrame(data, index=times)
