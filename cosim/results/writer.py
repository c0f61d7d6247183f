"""Tidy, time-indexed result tables written incrementally as Parquet, by one writer.

Layout of a results folder: one sub-folder per table (`buildings/`, `batteries/`, `grid/`, `buses/`,
...), each holding Parquet parts `part-000000.parquet`, ... written as the run goes (by default
whenever two seconds of wall time have passed, or every N steps), so a killed run leaves every
flushed step readable; the runner also flushes on errors, Ctrl-C and SIGTERM, so only a SIGKILL
can lose the steps since the last flush. `close()` compacts each table's parts into `all.parquet`
(written under a temporary name, then renamed, then the parts removed); `read_table` reads
`all.parquet` when it exists, the parts otherwise. Rows are (time_s, timestamp, entity, columns...),
the other columns in alphabetical order (the order of a table's columns never depends on the order
its producer happened to hand them over in).

Reproducible tables: two runs of a scenario with the same seed write byte-identical files for every
table except the wall-time measurements. Those are kept apart: the tables `control_steps` and
`mqtt_messages` hold nothing else, and the writer moves every wall-time column it knows
(`WALL_TIME_COLUMNS`, e.g. the grid's `pf_time_ms`, the ADMM step's `wall_time_ms`) out of any
other table into a table of its own, `<table>_timing` (with the table's key columns), so that
`grid`, `admm_steps`, ... stay reproducible.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

COMPACT_NAME = "all.parquet"
META_NAME = "run.json"


KEY_COLUMNS = ("time_s", "timestamp", "entity")
WALL_TIME_COLUMNS = frozenset(
    {
        "pf_time_ms",  # grid: wall time of the power flow
        "solve_time_ms",  # heat_network: wall time of the pipe-flow solves
        "wall_time_ms", "rounds_wall_ms", "sum_solve_time_ms", "parallel_time_ms",  # admm_steps
        "coordinate_time_s", "max_solve_time_s", "sum_solve_time_s",  # admm_iterations
    }
)
WALL_TIME_TABLES = frozenset({"control_steps", "mqtt_messages"})  # timings and the message log only
TIMING_SUFFIX = "_timing"
_TIMING_KEYS = (*KEY_COLUMNS, "iteration")


def is_wall_time_table(name: str) -> bool:
    """Whether a table holds wall-time measurements (which differ between any two runs)."""
    return name in WALL_TIME_TABLES or name.endswith(TIMING_SUFFIX)


class ResultsExistError(FileExistsError):
    """The results folder already holds a run."""


def run_wrote_steps(out_dir: Path) -> bool:
    """Whether the run in `out_dir` (if any) wrote at least one step: any table besides `entities`,
    which is written before the first step."""
    return any(name != "entities" for name in list_tables(out_dir))


def check_results_folder(out_dir: Path, overwrite: bool = False) -> None:
    """Refuse a folder that holds the results of a run (unless `overwrite`), before anything starts.

    A run that wrote no step (it failed or was stopped before its first step) holds no results:
    its folder may be used again."""
    out = Path(out_dir)
    if (out / META_NAME).exists() and not overwrite and run_wrote_steps(out):
        raise ResultsExistError(
            f"{out} already holds the results of a run; choose another folder (--out), or replace "
            "them with --overwrite"
        )


def clear_results(out_dir: Path) -> None:
    """Remove a previous run's tables, JSON files and figures from `out_dir` (nothing else)."""
    out = Path(out_dir)
    for name in list_tables(out):
        shutil.rmtree(out / name)
    for name in (META_NAME, "kpis.json"):
        (out / name).unlink(missing_ok=True)
    if (out / "figures").is_dir():
        shutil.rmtree(out / "figures")


class ResultsWriter:
    """Buffers rows per table and flushes them as Parquet parts.

    A folder that already holds a run (a `run.json`) is refused unless `overwrite` is set, in which
    case the previous run's results are removed first: two runs never mix in one folder.
    """

    def __init__(
        self,
        out_dir: Path,
        flush_every_steps: int | None = None,
        overwrite: bool = False,
        flush_interval_s: float = 2.0,
    ) -> None:
        self.out_dir = Path(out_dir)
        check_results_folder(self.out_dir, overwrite)
        if (self.out_dir / META_NAME).exists():
            clear_results(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.flush_every_steps = flush_every_steps
        self.flush_interval_s = flush_interval_s
        self._last_flush = time.monotonic()
        self._rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._columns: dict[str, dict[str, list[Any]]] = {}
        self._tz: dict[str, str | None] = {}
        self._parts: dict[str, int] = defaultdict(int)
        self._steps_buffered = 0
        self._finished: dict[str, int] = {}  # buffered rows per table up to the last end_step / flush
        self._schemas: dict[str, pa.Schema] = {}
        self.closed = False

    def add_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Queue rows (dicts of column → scalar) for `table` (ignored once the writer is closed)."""
        if not self.closed:
            self._rows[table].extend(rows)

    def add_columns(
        self, table: str, columns: dict[str, list[Any]], timestamp: pd.Timestamp | None = None
    ) -> None:
        """Queue equally long columns for `table` (the fast path for per-step tables: lists are
        extended now and converted to Arrow once per flush); with `timestamp`, a `timestamp`
        column holding it on every row is added. A table's column names must not change. Ignored
        once the writer is closed: a simulator that still steps while a failed or interrupted run
        shuts down (mosaik resumes its tasks) must not add a half step after the last one."""
        if self.closed:
            return
        n = len(next(iter(columns.values()))) if columns else 0
        buffer = self._columns.get(table)
        if buffer is None:
            buffer = self._columns[table] = {name: [] for name in columns}
            if timestamp is not None:
                buffer["timestamp"] = []
                self._tz[table] = str(timestamp.tz) if timestamp.tz is not None else None
        for name, values in columns.items():
            target = buffer.get(name)
            if target is None:  # a column that appears later: earlier rows are null
                target = buffer[name] = [None] * (len(next(iter(buffer.values()))) if buffer else 0)
            target.extend(values)
        if timestamp is not None:
            buffer["timestamp"].extend([timestamp.value] * n)
        length = len(buffer["timestamp"]) if "timestamp" in buffer else max(len(v) for v in buffer.values())
        for values in buffer.values():  # columns missing this step are null for its rows
            if len(values) < length:
                values.extend([None] * (length - len(values)))

    def end_step(self) -> None:
        """Mark the end of a simulation step; flushes every `flush_every_steps` steps when set,
        otherwise once `flush_interval_s` of wall time has passed since the last flush."""
        if self.closed:
            return
        self._steps_buffered += 1
        self._mark_finished()
        if self.flush_every_steps is not None:
            due = self._steps_buffered >= self.flush_every_steps
        else:
            due = time.monotonic() - self._last_flush >= self.flush_interval_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Write every buffered table as a new part (atomically: temporary name, then rename).

        SIGINT and SIGTERM are held back while parts are written, so an interrupt can never leave
        a step half written or written twice; the signal takes effect right after."""
        with _signals_deferred():
            tables: dict[str, list[pa.Table]] = defaultdict(list)
            for table, rows in self._rows.items():
                if rows:
                    tables[table].append(rows_to_arrow(rows))
            for table, buffer in self._columns.items():
                if buffer and any(buffer.values()):
                    tables[table].append(self._columns_to_arrow(table, buffer))
            self._rows.clear()
            self._columns.clear()
            for table, parts in tables.items():
                frame = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")
                for name, part in split_wall_time(table, frame):
                    self._write_part(name, part)
            self._steps_buffered = 0
            self._finished = {}
            self._last_flush = time.monotonic()

    def _columns_to_arrow(self, table: str, buffer: dict[str, list[Any]]) -> pa.Table:
        arrays = {}
        for name, values in buffer.items():
            if name == "timestamp":
                arrays[name] = pa.array(values, pa.timestamp("ns", tz=self._tz.get(table)))
            else:
                arrays[name] = pa.array(values)
        return pa.table({n: arrays[n] for n in column_order(arrays)})

    def _write_part(self, table: str, frame: pa.Table) -> None:
        folder = self.out_dir / table
        folder.mkdir(exist_ok=True)
        schema = self._schemas.setdefault(table, frame.schema)
        if frame.schema != schema:
            frame = _conform(frame, schema)
        target = folder / f"part-{self._parts[table]:06d}.parquet"
        tmp = target.with_suffix(".tmp")
        pq.write_table(frame, tmp)
        os.replace(tmp, target)
        self._parts[table] += 1

    def write_json(self, name: str, payload: dict[str, Any]) -> Path:
        """Write a JSON side file (e.g. run metadata, KPIs) atomically."""
        target = self.out_dir / name
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, target)
        return target

    def _mark_finished(self) -> None:
        self._finished = {t: len(r) for t, r in self._rows.items()} | {
            "columns:" + t: _buffered(b) for t, b in self._columns.items()
        }

    def _drop_unfinished(self) -> None:
        """Forget rows queued after the last `end_step` or `flush`: a step an error or interrupt
        cut short (some of its tables queued, others not) is not written half."""
        for table, rows in self._rows.items():
            del rows[self._finished.get(table, 0):]
        for table, buffer in self._columns.items():
            keep = self._finished.get("columns:" + table, 0)
            for values in buffer.values():
                del values[keep:]

    def close(self) -> None:
        """Flush what is left (the finished steps; see `_drop_unfinished`) and compact each table
        into one file."""
        if self.closed:
            return
        with _signals_deferred():  # compaction swaps files: never leave parts beside their compacted copy
            self._drop_unfinished()
            self.flush()
            for table in list(self._parts):
                compact_table(self.out_dir / table)
            self.closed = True


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends (main thread only; elsewhere a no-op).

    The Python handlers are swapped for one that only remembers the signal, and the remembered
    signals are handed to the original handlers afterwards. (Blocking them with `pthread_sigmask`
    is not enough: the kernel then delivers a process-wide signal to another thread — pyarrow's,
    a bridge's — and Python still raises KeyboardInterrupt in the main thread.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def remember(signum: int, _frame: object) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in caught[:1]:  # one is enough: the first ends the run
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


def _buffered(buffer: dict[str, list[Any]]) -> int:
    return max((len(v) for v in buffer.values()), default=0)


def column_order(names: Iterable[str]) -> list[str]:
    """The key columns (time_s, timestamp, entity) first, then the others alphabetically: mosaik
    hands a simulator's inputs over in an order that changes with Python's string hashing
    (`World.connect` puts the attribute pairs in a set), so the order they arrive in is no order."""
    names = list(names)
    return [n for n in KEY_COLUMNS if n in names] + sorted(n for n in names if n not in KEY_COLUMNS)


def split_wall_time(table: str, frame: pa.Table) -> list[tuple[str, pa.Table]]:
    """`frame` without its wall-time columns, and those columns with the table's keys as the table
    `<table>_timing` (nothing to split in a wall-time table)."""
    timing = [n for n in frame.column_names if n in WALL_TIME_COLUMNS]
    if not timing or is_wall_time_table(table):
        return [(table, frame)]
    keys = [n for n in _TIMING_KEYS if n in frame.column_names]
    return [(table, frame.drop_columns(timing)), (table + TIMING_SUFFIX, frame.select(keys + timing))]


def rows_to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """Columns from row dicts (missing keys become nulls). pandas Timestamps become a tz-aware
    timestamp column built from their integer nanoseconds: `pa.Table.from_pylist` would drop the
    time zone, and going through pandas costs more than the rest of a step."""
    names = list(dict.fromkeys(key for row in rows for key in row))
    arrays = []
    for name in names:
        column = [row.get(name) for row in rows]
        first = next((v for v in column if v is not None), None)
        if isinstance(first, pd.Timestamp):
            tz = str(first.tz) if first.tz is not None else None
            arrays.append(
                pa.array([None if v is None else v.value for v in column], pa.timestamp("ns", tz=tz))
            )
        else:
            arrays.append(pa.array(column))
    return pa.table(arrays, names=names)


def _conform(frame: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a later part to the first part's schema (e.g. a column that was all None then)."""
    columns = []
    for field in schema:
        if field.name in frame.column_names:
            column = frame.column(field.name)
            columns.append(
                column
                if column.type == field.type or pa.types.is_null(field.type)
                else column.cast(field.type)
            )
        else:
            columns.append(pa.nulls(frame.num_rows, type=field.type))
    extra = [n for n in frame.column_names if n not in schema.names]
    names = list(schema.names) + extra
    columns += [frame.column(n) for n in extra]
    return pa.table(columns, names=names)


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


# the compacted file's row groups (pyarrow's default for `write_table` is 1 Mi rows): the end of a
# run (compaction, KPIs, figures) holds about one row group of a table at a time, so it must be
# smaller than a short run's largest table for the memory not to grow with the run (64 Ki rows:
# ~13 MB of `buildings`, 65 steps of 1,000 buildings; a month of district-100 is 288,000 rows)
ROW_GROUP_ROWS = 1 << 16


def compact_table(folder: Path, row_group_rows: int = ROW_GROUP_ROWS) -> None:
    """Merge a table's parts into `all.parquet`; safe to interrupt at any point.

    Streamed: the parts are read one row group at a time and written as row groups of
    `row_group_rows` rows, so memory holds at most about one row group, however long the run (a
    year of 1,000 buildings is ~35 million rows). The file is the one `pq.write_table` would write
    from all parts at once (same schema, same row groups), whatever the flushes' part boundaries."""
    parts = _parts(folder)
    if not parts:
        return
    files = ([folder / COMPACT_NAME] if (folder / COMPACT_NAME).exists() else []) + parts
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    tmp = folder / (COMPACT_NAME + ".tmp")
    pending: list[pa.Table] = []
    rows = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for f in files:
            source = pq.ParquetFile(f)
            for i in range(source.num_row_groups):
                group = _unified(source.read_row_group(i), schema)
                pending.append(group)
                rows += group.num_rows
                while rows >= row_group_rows:
                    merged = pa.concat_tables(pending)
                    writer.write_table(merged.slice(0, row_group_rows), row_group_size=row_group_rows)
                    rest = merged.slice(row_group_rows)
                    pending, rows = ([rest] if rest.num_rows else []), rest.num_rows
            # pyarrow's allocator keeps what each reading thread used: without this, compacting
            # 3.7 million rows of 1,000 buildings peaked at +213 MB instead of +146 MB
            pa.default_memory_pool().release_unused()
        if rows:
            writer.write_table(pa.concat_tables(pending), row_group_size=row_group_rows)
    os.replace(tmp, folder / COMPACT_NAME)
    for p in parts:
        p.unlink()


def _unified(frame: pa.Table, schema: pa.Schema) -> pa.Table:
    """`frame` with the columns and types of `schema` (a unified schema of every part): missing
    columns null, promoted types cast, as `pa.concat_tables(promote_options="permissive")` does."""
    columns = [
        frame.column(field.name).cast(field.type)
        if field.name in frame.column_names
        else pa.nulls(frame.num_rows, type=field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def read_table(out_dir: Path, table: str) -> pd.DataFrame:
    """A result table, from the compacted file or from the parts of an unfinished run."""
    folder = Path(out_dir) / table
    files = ([folder / COMPACT_NAME] if (folder / COMPACT_NAME).exists() else []) + _parts(folder)
    if not files:
        raise FileNotFoundError(
            f"{folder}: no results for table {table!r}; tables here: {list_tables(out_dir)}"
        )
    table_ = pa.concat_tables([pq.read_table(f) for f in files], promote_options="permissive")
    return table_.to_pandas()


def list_tables(out_dir: Path) -> list[str]:
    """Names of the tables in a results folder."""
    return (
        sorted(p.name for p in Path(out_dir).iterdir() if p.is_dir() and (any(p.glob("*.parquet"))))
        if Path(out_dir).is_dir()
        else []
    )


def steps_written(out_dir: Path, table: str = "grid") -> int:
    """How many simulation steps a run wrote (the distinct times of one of its per-step tables)."""
    folder = Path(out_dir) / table
    files = ([folder / COMPACT_NAME] if (folder / COMPACT_NAME).exists() else []) + _parts(folder)
    if not files:
        return 0
    times = pa.concat_tables([pq.read_table(f, columns=["time_s"]) for f in files]).column("time_s")
    return len(pc.unique(times))
