"""Reading the large result tables in time windows, so that KPIs need memory for one window only.

A per-entity table (`buildings`, `batteries`, `buses`) has one row per entity and step: a year of
1,000 buildings at 15 minutes is ~35 million rows. `windows` cuts the run's steps into windows of
about `window_rows` rows of such a table, and `read_window` reads only the named columns of the
rows of one window (a pyarrow dataset scan with a filter on `time_s`: row groups outside the window
are skipped by their statistics). Tables are written step by step, so a window's rows lie in one
or two row groups of the compacted file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from cosim.results.writer import COMPACT_NAME, ROW_GROUP_ROWS

WINDOW_ROWS = ROW_GROUP_ROWS  # rows of a per-entity table per window (one row group of the compacted file)


def table_files(out_dir: Path, table: str) -> list[Path]:
    """The files of `table`: the compacted one and the parts of an unfinished run."""
    folder = Path(out_dir) / table
    compacted = [folder / COMPACT_NAME] if (folder / COMPACT_NAME).exists() else []
    return compacted + sorted(folder.glob("part-*.parquet"))


def dataset(out_dir: Path, table: str) -> ds.Dataset | None:
    """`table` as one pyarrow dataset (the parts' schemas unified as `read_table` does), or None."""
    files = table_files(out_dir, table)
    if not files:
        return None
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    return ds.dataset([str(f) for f in files], schema=schema, format="parquet")


def row_count(data: ds.Dataset) -> int:
    return int(data.count_rows())


def windows(step_times: Sequence[int] | np.ndarray, rows: int, window_rows: int = WINDOW_ROWS) -> list[
    tuple[float, float]
]:
    """Half-open windows [start, end) of `time_s` covering every step (the first from −∞, the last
    to +∞, so rows at times no step lists are counted too), each holding about `window_rows` of a
    table's `rows` rows."""
    times = np.unique(np.asarray(step_times, dtype=np.int64))
    if times.size == 0:
        return [(-np.inf, np.inf)]
    per_step = max(1.0, rows / times.size)
    steps = max(1, int(window_rows // per_step))
    starts = times[::steps]
    edges: list[float] = [-np.inf, *(float(t) for t in starts[1:]), np.inf]
    return list(itertools.pairwise(edges))


def read_window(data: ds.Dataset, columns: Sequence[str], start: float, end: float) -> pd.DataFrame:
    """The `columns` (those the table has) of the rows with start ≤ time_s < end."""
    names = [c for c in dict.fromkeys(["time_s", *columns]) if c in data.schema.names]
    condition = None
    if np.isfinite(start):
        condition = ds.field("time_s") >= int(start)
    if np.isfinite(end):
        upper = ds.field("time_s") < int(end)
        condition = upper if condition is None else condition & upper
    return data.to_table(columns=names, filter=condition).to_pandas()


def scan(
    data: ds.Dataset | None, columns: Sequence[str], bounds: list[tuple[float, float]]
) -> Iterator[pd.DataFrame | None]:
    """`read_window` for each window (None throughout for a table the run does not have)."""
    for start, end in bounds:
        yield None if data is None else read_window(data, columns, start, end)


def step_times(data: ds.Dataset) -> np.ndarray:
    """The distinct `time_s` of a table, sorted, read one record batch at a time (the column of a
    year of 1,000 buildings alone is ~280 MB)."""
    seen = [np.unique(batch.column(0).to_numpy()) for batch in batches(data, ["time_s"])]
    return np.unique(np.concatenate(seen)) if seen else np.empty(0, dtype=np.int64)


def table_windows(
    out_dir: Path, table: str, columns: Sequence[str], window_rows: int = WINDOW_ROWS
) -> Iterator[pd.DataFrame]:
    """The `columns` (and `time_s`) of `table`, window by window in time order (windows of about
    `window_rows` rows, never cutting a step); `FileNotFoundError` without the table. For figures
    that aggregate a large table per time step."""
    data = dataset(out_dir, table)
    if data is None:
        raise FileNotFoundError(f"{Path(out_dir) / table}: no results for table {table!r}")
    bounds = windows(step_times(data), row_count(data), window_rows)
    for frame in scan(data, columns, bounds):
        assert frame is not None
        yield frame


def distinct(out_dir: Path, table: str, column: str, valid: str | None = None) -> list[Any]:
    """The distinct values of `column` in `table` (of the rows where `valid` is not null, when
    given), sorted, read one record batch at a time; [] without the table."""
    data = dataset(out_dir, table)
    if data is None:
        return []
    condition = None if valid is None else ds.field(valid).is_valid()
    values: set[Any] = set()
    for batch in batches(data, [column], condition):
        values.update(pc.unique(batch.column(0)).to_pylist())
    return sorted(values)


def read_rows_of(out_dir: Path, table: str, columns: Sequence[str], entities: Sequence[str]) -> pd.DataFrame:
    """The `columns` (and `time_s`) of the rows of `table` whose `entity` is one of `entities` (a
    year of a few entities is small even when the table is not)."""
    data = dataset(out_dir, table)
    if data is None:
        raise FileNotFoundError(f"{Path(out_dir) / table}: no results for table {table!r}")
    names = [c for c in dict.fromkeys(["time_s", *columns]) if c in data.schema.names]
    condition = ds.field("entity").isin(list(entities))
    parts = [pa.Table.from_batches([b]) for b in batches(data, names, condition) if b.num_rows]
    found = pa.concat_tables(parts) if parts else data.to_table(columns=names, filter=condition)
    return found.to_pandas()


def batches(data: ds.Dataset, columns: Sequence[str], condition: ds.Expression | None = None) -> Iterator[
    pa.RecordBatch
]:
    """The record batches of a full scan of `columns` (the rows matching `condition`), in file
    order, reading ahead one batch (a scan's default reads ahead 16 batches of 4 files: ~30 MB for
    an 800,000-row table, however little passes the filter)."""
    scanner = data.scanner(columns=list(columns), filter=condition, batch_readahead=1, fragment_readahead=1)
    yield from scanner.to_batches()


def read_columns(out_dir: Path, table: str, columns: Sequence[str]) -> pd.DataFrame:
    """The `columns` (and `time_s`) of every row of `table`; `FileNotFoundError` without it. For
    figures that need a few columns of a large table (a year of `buildings` holds ~20 columns)."""
    data = dataset(out_dir, table)
    if data is None:
        raise FileNotFoundError(f"{Path(out_dir) / table}: no results for table {table!r}")
    return read_window(data, columns, -np.inf, np.inf)
