"""The results writer: round trip, time zones, compaction, refusal to mix runs, killed runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cosim.results.writer import (
    COMPACT_NAME,
    ResultsExistError,
    ResultsWriter,
    check_results_folder,
    is_wall_time_table,
    list_tables,
    read_table,
    run_wrote_steps,
)


def test_round_trip_keeps_values_and_time_zone(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, flush_every_steps=1)
    times = pd.date_range("2024-03-20 06:00", periods=3, freq="15min", tz="Europe/Berlin")
    for k, t in enumerate(times):
        writer.add_rows(
            "things",
            [
                {"time_s": k * 900, "timestamp": t, "entity": "a", "p_kw": 1.5 * k, "flag": None},
                {"time_s": k * 900, "timestamp": t, "entity": "b", "p_kw": -k, "flag": 1.0},
            ],
        )
        writer.end_step()
    assert len(list((tmp_path / "things").glob("part-*.parquet"))) == 3
    parts = read_table(tmp_path, "things")  # readable before close, from the parts
    writer.close()
    assert (tmp_path / "things" / COMPACT_NAME).exists()
    assert not list((tmp_path / "things").glob("part-*.parquet"))
    compact = read_table(tmp_path, "things")
    pd.testing.assert_frame_equal(parts, compact)
    assert list(compact["timestamp"].dt.tz_convert("Europe/Berlin")) == [t for t in times for _ in "ab"]
    assert compact["p_kw"].tolist() == [0.0, 0.0, 1.5, -1.0, 3.0, -2.0]


def test_refuses_a_folder_with_a_run(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "old").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "old" / "part-000000.parquet")
    with pytest.raises(ResultsExistError, match="--overwrite"):
        check_results_folder(tmp_path)  # what `cosim run` asks before it starts anything
    with pytest.raises(ResultsExistError):
        ResultsWriter(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    ResultsWriter(tmp_path, overwrite=True)
    assert not (tmp_path / "old").exists() and (tmp_path / "notes.txt").exists()  # only results are removed


def test_a_run_that_wrote_no_step_may_be_replaced(tmp_path: Path) -> None:
    """A run that failed before its first step left run.json and the entities table, no results."""
    (tmp_path / "run.json").write_text('{"status": "failed: ConnectionError: ..."}')
    (tmp_path / "entities").mkdir()
    pd.DataFrame({"name": ["a"]}).to_parquet(tmp_path / "entities" / "part-000000.parquet")
    assert not run_wrote_steps(tmp_path)
    check_results_folder(tmp_path)
    ResultsWriter(tmp_path)
    assert not (tmp_path / "run.json").exists() and not (tmp_path / "entities").exists()


def test_column_order_does_not_depend_on_arrival_order(tmp_path: Path) -> None:
    t = pd.Timestamp("2024-03-20 06:00", tz="Europe/Berlin")
    for k, names in enumerate((["b_kw", "a_kw", "c"], ["c", "a_kw", "b_kw"])):
        writer = ResultsWriter(tmp_path / str(k), flush_every_steps=1)
        writer.add_columns("t", {"time_s": [0], "entity": ["x"], **{n: [1.0] for n in names}}, t)
        writer.end_step()
        writer.close()
    first, second = (tmp_path / "0" / "t" / COMPACT_NAME, tmp_path / "1" / "t" / COMPACT_NAME)
    columns = read_table(tmp_path / "0", "t").columns.tolist()
    assert columns == ["time_s", "timestamp", "entity", "a_kw", "b_kw", "c"]
    assert first.read_bytes() == second.read_bytes()


def test_wall_time_columns_go_to_a_table_of_their_own(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, flush_every_steps=1)
    t = pd.Timestamp("2024-03-20 06:00", tz="Europe/Berlin")
    for k in range(2):
        grid = {"time_s": [k], "entity": ["grid"], "p_ext_kw": [1.0], "pf_time_ms": [3.2]}
        writer.add_columns("grid", grid, t)
        writer.add_rows("admm_iterations", [{"time_s": k, "entity": "c", "iteration": 1.0, "rho": 0.1,
                                             "coordinate_time_s": 0.01}])
        writer.add_rows("control_steps", [{"time_s": k, "entity": "bridge", "step_ms": 2.0}])
        writer.end_step()
    writer.close()
    assert "pf_time_ms" not in read_table(tmp_path, "grid")
    timing = read_table(tmp_path, "grid_timing")
    assert timing.columns.tolist() == ["time_s", "timestamp", "entity", "pf_time_ms"]
    rounds = read_table(tmp_path, "admm_iterations")
    assert rounds.columns.tolist() == ["time_s", "entity", "iteration", "rho"]
    assert read_table(tmp_path, "admm_iterations_timing")["coordinate_time_s"].tolist() == [0.01, 0.01]
    assert read_table(tmp_path, "control_steps")["step_ms"].tolist() == [2.0, 2.0]  # a wall-time table
    assert [t for t in list_tables(tmp_path) if is_wall_time_table(t)] == [
        "admm_iterations_timing", "control_steps", "grid_timing"]


def _scenario(tmp_path: Path) -> Path:
    data = {
        "name": "long",
        "duration": "60d",  # far longer than the test lets it run: it must not finish before the kill
        "step": "15min",
        "buildings": [{"name": "b", "count": 3, "pv_kwp": 5}],
        "grid": {"network": "kerber_landnetz_kabel_1"},
        "outputs": {"flush_every_steps": 1},
        "controller": {"transport": "inprocess"},  # this test is about the results files
    }
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start(tmp_path: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cosim", "run", str(_scenario(tmp_path)), "--out", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for_steps(out: Path, steps: int, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        folder = out / "buildings"
        if folder.is_dir() and len(list(folder.glob("part-*.parquet"))) >= steps:
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.2)  # polling the file system for progress, not synchronising on an event
    raise AssertionError("the run did not reach the expected step in time")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_killed_run_leaves_readable_results(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "out"
    proc = _start(tmp_path, out)
    try:
        _wait_for_steps(out, 5, proc)
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    buildings = read_table(out, "buildings")
    steps = buildings["time_s"].nunique()
    assert steps >= 5 and steps < 60 * 96
    assert (buildings.groupby("time_s").size() == 3).all()  # every written step is complete
    grid = read_table(out, "grid")
    assert grid["time_s"].nunique() >= steps - 1
    status = (out / "run.json").read_text()
    if sig == signal.SIGTERM:
        assert '"status": "failed: Terminated' in status  # flushed, compacted and marked on the way out
        assert (out / "buildings" / COMPACT_NAME).exists()


def test_a_step_cut_short_is_not_written_half(tmp_path: Path) -> None:
    """An interrupt between two tables of a step: close() writes the finished steps only."""
    writer = ResultsWriter(tmp_path, flush_every_steps=10)
    t = pd.Timestamp("2024-03-20 06:00", tz="Europe/Berlin")
    for k in range(2):
        writer.add_columns("grid", {"time_s": [k], "entity": ["grid"], "p_ext_kw": [1.0]}, t)
        writer.add_columns("buildings", {"time_s": [k], "entity": ["b"], "p_kw": [1.0]}, t)
        writer.add_rows("events", [{"time_s": k, "entity": "grid", "kind": "x"}])
        writer.end_step()
    writer.add_columns("grid", {"time_s": [2], "entity": ["grid"], "p_ext_kw": [1.0]}, t)  # then: Ctrl-C
    writer.add_rows("events", [{"time_s": 2, "entity": "grid", "kind": "x"}])
    writer.close()
    for table in ("grid", "buildings", "events"):
        assert read_table(tmp_path, table)["time_s"].tolist() == [0, 1], table
