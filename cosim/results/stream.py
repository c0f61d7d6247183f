"""Reading the large result tables in time windows, so that KPIs need memory for one window only.

A per-entity table (`buildings`, `batteries`, `buses`) has one row per entity and step: a year of
1,000 buildings at 15 minutes is ~35 million rows. `windows` cuts the run's steps into windows of
about `window_rows` rows of such a table, and `read_window` reads only the named columns of the
rows of one window (the row groups whose `time_s` statistics overlap the window, then the window's
rows). Tables are written step by step, so a window's rows lie in one or two row groups of the
compacted file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cosim.results.writer import COMPACT_NAME, ROW_GROUP_ROWS

WINDOW_ROWS = ROW_GROUP_ROWS  # rows of a per-entity table per window (one row group of the compacted file)


def table_files(out_dir: Path, table: str) -> list[Path]:
    """The files of `table`: the compacted one and the parts of an unfinished run."""
    folder = Path(out_dir) / table
    compacted = [folder / COMPACT_NAME] if (folder / COMPACT_NAME).exists() else []
    return compacted + sorted(folder.glob("part-*.parquet"))


@dataclass(frozen=True)
class _RowGroup:
    path: Path
    index: int
    rows: int
    t_min: float  # of `time_s` (−∞/+∞ without statistics: always read)
    t_max: float


class TableFiles:
    """A result table's files (the parts' schemas unified as `read_table` does), read row group by
    row group with `pyarrow.parquet.ParquetFile`. (A pyarrow dataset scan per window, as before,
    let the resident memory grow by ~150 MB over the first ~140 windows, outside pyarrow's memory
    pool, so the end of a run still grew with its length; reading row groups stays flat.)"""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
        self.groups: list[_RowGroup] = []
        for f in files:
            meta = pq.read_metadata(f)
            column = next((j for j in range(meta.num_columns)
                           if meta.schema.column(j).path == "time_s"), None)  # fmt: skip
            for i in range(meta.num_row_groups):
                group = meta.row_group(i)
                stats = None if column is None else group.column(column).statistics
                low, high = -np.inf, np.inf
                if stats is not None and stats.has_min_max:
                    low, high = float(stats.min), float(stats.max)
                self.groups.append(_RowGroup(f, i, group.num_rows, low, high))

    def count_rows(self) -> int:
        return sum(g.rows for g in self.groups)

    def read(
        self, columns: Sequence[str], start: float = -np.inf, end: float = np.inf
    ) -> Iterator[pa.Table]:
        """The `columns` (those the table has; missing in a part: null) of the row groups that may
        hold rows with start ≤ time_s < end, one table per file, in file order (not filtered)."""
        names = [c for c in dict.fromkeys(columns) if c in self.schema.names]
        wanted = [g for g in self.groups if g.t_max >= start and g.t_min < end]
        for path, groups in itertools.groupby(wanted, key=lambda g: g.path):
            _release()
            source = pq.ParquetFile(path)
            have = [n for n in names if n in source.schema_arrow.names]
            table = source.read_row_groups([g.index for g in groups], columns=have)
            source.close()
            fields = [self.schema.field(n) for n in names]
            yield pa.Table.from_arrays(
                [
                    table.column(f.name).cast(f.type) if f.name in have else pa.nulls(table.num_rows, f.type)
                    for f in fields
                ],
                schema=pa.schema(fields),
            )


def _release() -> None:
    """Hand the memory pyarrow's pool keeps for reuse back to the system before the next read: its
    allocator (mimalloc) otherwise keeps what each reading thread used, and over the ~50 windows of
    a year of district-100 the KPIs' resident memory grew by ~120 MB (measured: peak 342 → 239 MB
    for the KPIs of 3.7 million building rows; ~8 ms a call)."""
    pa.default_memory_pool().release_unused()


def dataset(out_dir: Path, table: str) -> TableFiles | None:
    """`table`'s files, or None without the table."""
    files = table_files(out_dir, table)
    return TableFiles(files) if files else None


def row_count(data: TableFiles) -> int:
    return data.count_rows()


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


def read_window(data: TableFiles, columns: Sequence[str], start: float, end: float) -> pd.DataFrame:
    """The `columns` (those the table has) of the rows with start ≤ time_s < end."""
    names = [c for c in dict.fromkeys(["time_s", *columns]) if c in data.schema.names]
    pieces = []
    for table in data.read(names, start, end):
        keep = None
        if np.isfinite(start):
            keep = pc.greater_equal(table.column("time_s"), int(start))
        if np.isfinite(end):
            upper = pc.less(table.column("time_s"), int(end))
            keep = upper if keep is None else pc.and_(keep, upper)
        pieces.append(table if keep is None else table.filter(keep))
    found = pa.concat_tables(pieces) if pieces else data.schema.empty_table().select(names)
    return found.to_pandas()


def scan(
    data: TableFiles | None, columns: Sequence[str], bounds: list[tuple[float, float]]
) -> Iterator[pd.DataFrame | None]:
    """`read_window` for each window (None throughout for a table the run does not have)."""
    for start, end in bounds:
        yield None if data is None else read_window(data, columns, start, end)


def step_times(data: TableFiles) -> np.ndarray:
    """The distinct `time_s` of a table, sorted, read one record batch at a time (the column of a
    year of 1,000 buildings alone is ~280 MB)."""
    seen = [np.unique(t.column(0).to_numpy()) for t in batches(data, ["time_s"])]
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
    values: set[Any] = set()
    for t in batches(data, [column] if valid is None else [column, valid]):
        picked = t.column(column) if valid is None else t.column(column).filter(pc.is_valid(t.column(valid)))
        values.update(pc.unique(picked).to_pylist())
    return sorted(values)


def read_rows_of(out_dir: Path, table: str, columns: Sequence[str], entities: Sequence[str]) -> pd.DataFrame:
    """The `columns` (and `time_s`) of the rows of `table` whose `entity` is one of `entities` (a
    year of a few entities is small even when the table is not)."""
    data = dataset(out_dir, table)
    if data is None:
        raise FileNotFoundError(f"{Path(out_dir) / table}: no results for table {table!r}")
    names = [c for c in dict.fromkeys(["time_s", *columns]) if c in data.schema.names]
    chosen = pa.array(list(entities), pa.string())
    parts = [
        t.filter(pc.is_in(t.column("entity"), value_set=chosen)) for t in batches(data, [*names, "entity"])
    ]
    found = pa.concat_tables(parts).select(names) if parts else data.schema.empty_table().select(names)
    return found.to_pandas()


def batches(data: TableFiles, columns: Sequence[str]) -> Iterator[pa.Table]:
    """The `columns` of every row, one row group at a time, in file order."""
    for g in data.groups:
        _release()
        source = pq.ParquetFile(g.path)
        have = [n for n in dict.fromkeys(columns) if n in source.schema_arrow.names]
        table = source.read_row_group(g.index, columns=have)
        source.close()
        fields = [data.schema.field(n) for n in dict.fromkeys(columns) if n in data.schema.names]
        yield pa.Table.from_arrays(
            [table.column(f.name).cast(f.type) if f.name in have else pa.nulls(table.num_rows, f.type)
             for f in fields],
            schema=pa.schema(fields),
        )


def read_columns(out_dir: Path, table: str, columns: Sequence[str]) -> pd.DataFrame:
    """The `columns` (and `time_s`) of every row of `table`; `FileNotFoundError` without it. For
    figures that need a few columns of a large table (a year of `buildings` holds ~20 columns)."""
    data = dataset(out_dir, table)
    if data is None:
        raise FileNotFoundError(f"{Path(out_dir) / table}: no results for table {table!r}")
    return read_window(data, columns, -np.inf, np.inf)
