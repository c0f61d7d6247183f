"""The end of a run reads the large per-entity tables in time windows (issue 22): the figures' data
and the KPIs equal those of the whole tables for any window, and their memory does not grow with
the table (a synthetic table several times larger than the budget is read within it)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosim.results.plots import (
    TemperatureBand,
    storage_soc,
    summed_per_step,
    temperatures,
    voltage_stats,
)
from cosim.results.writer import COMPACT_NAME, read_table
from cosim.run import RunSummary

WINDOWS = (1, 7, 50, 10**12)  # rows per window: one step at a time, a few steps, everything


@pytest.mark.parametrize("window_rows", WINDOWS)
def test_figure_data_equal_the_whole_tables(small_run: RunSummary, window_rows: int) -> None:
    out = small_run.out_dir
    buildings = read_table(out, "buildings")
    expected_sum = buildings.groupby("timestamp")["p_kw"].sum()
    pd.testing.assert_series_equal(summed_per_step(out, "buildings", window_rows=window_rows), expected_sum)

    expected_v = read_table(out, "buses").groupby("timestamp")["v_pu"].describe(percentiles=[0.05, 0.5, 0.95])
    got_v = voltage_stats(out, window_rows)
    assert got_v is not None
    pd.testing.assert_frame_equal(got_v, expected_v)

    wide = buildings.pivot_table(index="timestamp", columns="entity", values="t_in_c")
    assert wide.shape[1] == 6  # the small scenario's buildings: both paths of the figure are taken
    few = temperatures(out, max_lines=10, window_rows=window_rows)
    assert isinstance(few, pd.DataFrame)
    pd.testing.assert_frame_equal(few, wide, check_names=False)
    band = temperatures(out, max_lines=3, window_rows=window_rows)
    assert isinstance(band, TemperatureBand)
    _same_band(band, TemperatureBand.of(wide))

    storage = pd.concat([read_table(out, "batteries"), read_table(out, "tanks")])
    soc_wide = storage.pivot_table(index="timestamp", columns="entity", values="soc")
    soc = storage_soc(out, max_lines=2, window_rows=window_rows)
    assert soc is not None
    assert soc[1] == soc_wide.shape[1] > 2
    pd.testing.assert_frame_equal(soc[0], soc_wide.iloc[:, :2])


def _same_band(a: TemperatureBand, b: TemperatureBand) -> None:
    for name in ("low", "high", "q10", "q90", "mean", "coldest_c", "warmest_c"):
        pd.testing.assert_series_equal(getattr(a, name), getattr(b, name), check_names=False)
    assert (a.coldest, a.warmest, a.buildings) == (b.coldest, b.warmest, b.buildings)


# --- memory: a synthetic run folder whose buildings table is far larger than the budget -------------

STEPS, BUILDINGS, ROW_GROUP = 2000, 400, 1 << 14  # 800,000 rows (~2 days of 1,000 buildings' rows)


def _synthetic_run(out: Path) -> None:
    """Just the tables `compute_kpis` and the temperature figure read, compacted into row groups of
    `ROW_GROUP` rows as the writer does."""
    rng = np.random.default_rng(0)
    times = np.arange(STEPS, dtype=np.int64) * 900
    stamps = pd.Timestamp("2024-01-01", tz="Europe/Berlin") + pd.to_timedelta(times, unit="s")
    names = [f"b{i:04d}" for i in range(BUILDINGS)]
    n = STEPS * BUILDINGS
    tables = {
        "entities": pa.table({"name": names, "kind": ["building"] * BUILDINGS,
                              "building": [None] * BUILDINGS}),
        "grid": pa.table({"time_s": times, "timestamp": stamps, "p_ext_kw": rng.normal(50, 20, STEPS),
                          "losses_kw": rng.uniform(0, 2, STEPS), "converged": np.ones(STEPS, bool)}),
        "prices": pa.table({"time_s": times, "timestamp": stamps,
                            "import_per_kwh": rng.uniform(0.2, 0.4, STEPS),
                            "export_per_kwh": np.full(STEPS, 0.08), "co2_kg_per_kwh": np.full(STEPS, 0.35)}),
        "buildings": pa.table({
            "time_s": np.repeat(times, BUILDINGS),
            "timestamp": np.repeat(stamps, BUILDINGS),
            "entity": pa.array(names * STEPS).dictionary_encode().cast(pa.string()),
            **{c: rng.normal(1.0, 1.0, n)
               for c in ("p_kw", "comfort_violation_k", "gas_kw", "pv_kw", "hp_p_kw")},
            "t_in_c": rng.normal(20.5, 1.0, n),
        }),
    }  # fmt: skip
    for name, table in tables.items():
        (out / name).mkdir(parents=True)
        pq.write_table(table, out / name / COMPACT_NAME, row_group_size=ROW_GROUP)


MEASURE = r"""
import json, sys, tracemalloc
from pathlib import Path
import pyarrow as pa
out, what, window_rows = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
from cosim.results.kpis import compute_kpis
from cosim.results.plots import TemperatureBand, temperatures
tracemalloc.start()
if what == "kpis":
    value = compute_kpis(out, 900, window_rows=window_rows)
    value = {k: value[k] for k in ("energy", "cost", "co2", "comfort", "peak")}
else:
    band = temperatures(out, max_lines=10, window_rows=window_rows)
    assert isinstance(band, TemperatureBand)
    value = {"low": band.low.tolist(), "q90": band.q90.tolist(), "mean": band.mean.tolist(),
             "coldest": band.coldest, "warmest_c": band.warmest_c.tolist()}
_, peak = tracemalloc.get_traced_memory()  # numpy and Python objects
print(json.dumps({"peak_mb": (peak + pa.default_memory_pool().max_memory()) / 2**20, "value": value}))
"""


def _measure(out: Path, what: str, window_rows: int) -> tuple[float, Any]:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(out), what, str(window_rows)],
                          check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["peak_mb"]), result["value"]


def _close(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            _close(a[key], b[key])
    elif isinstance(a, list):
        assert len(a) == len(b)
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12)
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    else:
        assert a == b


@pytest.mark.parametrize("what", ["kpis", "temperatures"])
def test_end_of_run_memory_does_not_grow_with_the_table(tmp_path: Path, what: str) -> None:
    """Windows of 16 Ki rows (40 of the table's 2,000 steps) need a fraction of the memory of one
    window as large as the table (measured here: KPIs 8 against 185 MB, the temperature band 36
    against 141 MB), and give the same values."""
    _synthetic_run(tmp_path)
    whole_mb, whole = _measure(tmp_path, what, 10**12)
    windowed_mb, windowed = _measure(tmp_path, what, ROW_GROUP)
    _close(windowed, whole)
    table_mb = STEPS * BUILDINGS * 8 / 2**20  # one float column of the table: ~6 MB
    assert whole_mb > 4 * table_mb  # the in-memory path holds several columns of the whole table
    assert windowed_mb < whole_mb / 4, (windowed_mb, whole_mb)


def test_per_step_statistics_equal_pandas_describe() -> None:
    """The voltage figure's per-step statistics from pandas' compiled group reductions equal its
    per-group `describe`: rows in any order, one value a step, uneven counts, a missing value, and
    percentiles whose labels have decimals."""
    from cosim.results.plots import describe_per_step

    rng = np.random.default_rng(3)
    stamps = pd.date_range("2024-03-31", periods=40, freq="15min", tz="Europe/Berlin")  # across DST
    rows = pd.DataFrame({"timestamp": np.repeat(stamps, 9), "v_pu": rng.normal(1.0, 0.02, 360)})
    shuffled = rows.sample(frac=1.0, random_state=1)
    uneven = rows.drop(index=[3, 4, 100])
    missing = rows.copy()
    missing.loc[7, "v_pu"] = np.nan
    for case in (rows, shuffled, shuffled.groupby("timestamp").head(1), uneven, missing):
        for percentiles in ((0.05, 0.5, 0.95), (0.025, 0.5)):
            expected = case.groupby("timestamp")["v_pu"].describe(percentiles=list(percentiles))
            pd.testing.assert_frame_equal(describe_per_step(case, "v_pu", percentiles), expected)
