"""Tidy, time-indexed result tables written incrementally as Parquet, by one writer.

Layout of a results folder: one sub-folder per table (`buildings/`, `storage/`, `grid/`, `buses/`,
...), each holding Parquet parts `part-000000.parquet`, ... written as the run goes, so a killed
run leaves every flushed step readable. `close()` compacts each table's parts into `all.parquet`
(written under a temporary name, then renamed, then the parts removed); `read_table` reads
`all.parquet` when it exists, the parts otherwise. Rows are (time_s, timestamp, entity, columns...).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

COMPACT_NAME = "all.parquet"
META_NAME = "run.json"


class ResultsWriter:
    """Buffers rows per table and flushes them as Parquet parts."""

    def __init__(self, out_dir: Path, flush_every_steps: int = 1) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.flush_every_steps = flush_every_steps
        self._rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._parts: dict[str, int] = defaultdict(int)
        self._steps_buffered = 0
        self._schemas: dict[str, pa.Schema] = {}
        self.closed = False

    def add_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Queue rows (dicts of column → scalar) for `table`."""
        self._rows[table].extend(rows)

    def end_step(self) -> None:
        """Mark the end of a simulation step; flushes every `flush_every_steps` steps."""
        self._steps_buffered += 1
        if self._steps_buffered >= self.flush_every_steps:
            self.flush()

    def flush(self) -> None:
        """Write every buffered table as a new part (atomically: temporary name, then rename)."""
        for table, rows in self._rows.items():
            if not rows:
                continue
            folder = self.out_dir / table
            folder.mkdir(exist_ok=True)
            frame = pa.Table.from_pylist(rows)
            schema = self._schemas.setdefault(table, frame.schema)
            if frame.schema != schema:
                frame = _conform(frame, schema)
            target = folder / f"part-{self._parts[table]:06d}.parquet"
            tmp = target.with_suffix(".tmp")
            pq.write_table(frame, tmp)
            os.replace(tmp, target)
            self._parts[table] += 1
        self._rows.clear()
        self._steps_buffered = 0

    def write_json(self, name: str, payload: dict[str, Any]) -> Path:
        """Write a JSON side file (e.g. run metadata, KPIs) atomically."""
        target = self.out_dir / name
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, target)
        return target

    def close(self) -> None:
        """Flush what is left and compact each table into one file."""
        if self.closed:
            return
        self.flush()
        for table in list(self._parts):
            compact_table(self.out_dir / table)
        self.closed = True


def _conform(frame: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a later part to the first part's schema (e.g. a column that was all None then)."""
    columns = []
    for field in schema:
        if field.name in frame.column_names:
            column = frame.column(field.name)
            columns.append(column if column.type == field.type or pa.types.is_null(field.type) else column.cast(field.type))
        else:
            columns.append(pa.nulls(frame.num_rows, type=field.type))
    extra = [n for n in frame.column_names if n not in schema.names]
    names = list(schema.names) + extra
    columns += [frame.column(n) for n in extra]
    return pa.table(columns, names=names)


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def compact_table(folder: Path) -> None:
    """Merge a table's parts into `all.parquet`; safe to interrupt at any point."""
    parts = _parts(folder)
    if not parts:
        return
    frames = [pd.read_parquet(p) for p in parts]
    if (folder / COMPACT_NAME).exists():
        frames.insert(0, pd.read_parquet(folder / COMPACT_NAME))
    merged = pd.concat(frames, ignore_index=True)
    tmp = folder / (COMPACT_NAME + ".tmp")
    merged.to_parquet(tmp, index=False)
    os.replace(tmp, folder / COMPACT_NAME)
    for p in parts:
        p.unlink()


def read_table(out_dir: Path, table: str) -> pd.DataFrame:
    """A result table, from the compacted file or from the parts of an unfinished run."""
    folder = Path(out_dir) / table
    files = ([folder / COMPACT_NAME] if (folder / COMPACT_NAME).exists() else []) + _parts(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no results for table {table!r}; tables here: {list_tables(out_dir)}")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def list_tables(out_dir: Path) -> list[str]:
    """Names of the tables in a results folder."""
    return sorted(
        p.name for p in Path(out_dir).iterdir() if p.is_dir() and (any(p.glob("*.parquet")))
    ) if Path(out_dir).is_dir() else []
