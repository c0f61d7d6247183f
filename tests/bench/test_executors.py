"""The same benchmark through Dask (a local cluster of a worker process) gives the same table as
the runs in process: every reproducible KPI equal to 1e-5 relative. Not bit for bit: lightsim2grid's
power flow in a Dask worker differs from the same solve in any other process by ~1e-8 relative
(docs/dev/benchmarking-2026-12-07.md). (Local worker processes, `--executor local --workers 2`, run
in benchmarks/bench_suite.py.)"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.bench.conftest import BenchRun, run_bench

pytestmark = pytest.mark.slow
KEY = ["scenario", "controller", "kpi"]
# wall-clock measurements are not reproducible; everything else must be equal
NOT_REPRODUCIBLE = {"compute_per_real_time", "score"}


def _reproducible(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[~table["kpi"].isin(NOT_REPRODUCIBLE)]
    return rows[[*KEY, "value", "baseline", "normalised", "normalisation", "status"]].reset_index(drop=True)


def test_dask_gives_the_same_table(tiny_bench: BenchRun, tmp_path: Path) -> None:
    # one worker process: the cost of a test is its start (importing the platform); two and their
    # speed-up are in benchmarks/bench_suite.py
    engine = run_bench(tmp_path / "dask", "tiny", "--controllers", "none,admm", "--executor", "dask",
                       "--workers", "1")
    assert "1 at a time (dask)" in engine.output
    assert set(engine.table["cached"]) == {False}  # run again on the cluster, not reused
    local = tiny_bench.table[tiny_bench.table["controller"].isin(["none", "admm"])]
    pd.testing.assert_frame_equal(_reproducible(engine.table), _reproducible(local), rtol=1e-5, atol=1e-9)
    # the score does not use the wall-time KPI: equal too
    score = engine.table[engine.table["kpi"] == "score"]["value"].to_numpy()
    assert score == pytest.approx(local[local["kpi"] == "score"]["value"].to_numpy())
