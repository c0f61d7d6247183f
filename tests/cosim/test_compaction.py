"""Streamed compaction of a table's parts (`cosim.results.writer.compact_table`, issue 22): the same
file as writing all parts at once, whatever the part boundaries, holding one row group at a time."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosim.results.writer import COMPACT_NAME, compact_table


def _parts(rows: pa.Table, sizes: list[int]) -> list[pa.Table]:
    out, start = [], 0
    for n in sizes:
        out.append(rows.slice(start, n))
        start += n
    assert start == rows.num_rows
    return out


def _write_parts(folder: Path, parts: list[pa.Table]) -> None:
    folder.mkdir(parents=True)
    for i, part in enumerate(parts):
        pq.write_table(part, folder / f"part-{i:06d}.parquet")


def _rows(n: int) -> pa.Table:
    return pa.table(
        {
            "time_s": pa.array(range(n), pa.int64()),
            "entity": pa.array([f"b{i % 7}" for i in range(n)]),
            "p_kw": pa.array([0.5 * i for i in range(n)], pa.float64()),
        }
    )


@pytest.mark.parametrize("row_group_rows", [1 << 20, 7])
def test_compaction_does_not_depend_on_the_parts(tmp_path: Path, row_group_rows: int) -> None:
    rows = _rows(50)
    files = []
    for name, sizes in (("a", [50]), ("b", [3, 20, 1, 26]), ("c", [10] * 5)):
        _write_parts(tmp_path / name, _parts(rows, sizes))
        compact_table(tmp_path / name, row_group_rows)
        assert not list((tmp_path / name).glob("part-*"))
        files.append((tmp_path / name / COMPACT_NAME).read_bytes())
    reference = tmp_path / "reference.parquet"
    pq.write_table(rows, reference, row_group_size=row_group_rows)
    assert files[0] == files[1] == files[2] == reference.read_bytes()
    assert pq.ParquetFile(tmp_path / "b" / COMPACT_NAME).num_row_groups == -(-50 // row_group_rows)


def test_compaction_promotes_types_and_columns_as_the_concatenation_did(tmp_path: Path) -> None:
    first = pa.table({"time_s": pa.array([0, 1], pa.int64()), "x": pa.nulls(2)})
    second = pa.table(
        {"time_s": pa.array([2], pa.int64()), "x": pa.array([1.5]), "late": pa.array(["on"])}
    )
    third = pa.table({"time_s": pa.array([3], pa.int64()), "x": pa.array([None], pa.float64())})
    _write_parts(tmp_path / "t", [first, second, third])
    expected = pa.concat_tables(
        [pq.read_table(tmp_path / "t" / f"part-{i:06d}.parquet") for i in range(3)],
        promote_options="permissive",
    )
    compact_table(tmp_path / "t")
    got = pq.read_table(tmp_path / "t" / COMPACT_NAME)
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()
    reference = tmp_path / "reference.parquet"
    pq.write_table(expected, reference)
    assert (tmp_path / "t" / COMPACT_NAME).read_bytes() == reference.read_bytes()


def test_a_resumed_compaction_keeps_the_compacted_rows(tmp_path: Path) -> None:
    """Parts written after an earlier compaction (a resumed close) are appended to all.parquet."""
    rows = _rows(30)
    _write_parts(tmp_path / "t", _parts(rows.slice(0, 20), [10, 10]))
    compact_table(tmp_path / "t")
    pq.write_table(rows.slice(20), tmp_path / "t" / "part-000002.parquet")
    compact_table(tmp_path / "t")
    assert pq.read_table(tmp_path / "t" / COMPACT_NAME).equals(rows)
