"""KPIs read the per-entity tables in time windows (issue 22): any window size gives the KPIs of
the whole tables."""

from __future__ import annotations

import math
from typing import Any

from cosim.results.kpis import compute_kpis
from cosim.results.stream import windows
from cosim.run import RunSummary


def _same(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), path
    else:
        assert a == b, path


def test_windowed_kpis_equal_the_whole_tables(small_run: RunSummary) -> None:
    args = (small_run.out_dir, 900, 0.95, 1.05, 0.1, 0.2, 12.0)
    whole = compute_kpis(*args, window_rows=10**12)
    assert whole["limit"]["exceeded_h"] > 0  # a limit that binds: the district series is compared too
    for rows in (1, 7, 50):
        _same(whole, compute_kpis(*args, window_rows=rows))


def test_windows_cover_every_time_once() -> None:
    bounds = windows([0, 900, 1800, 2700, 3600], rows=50, window_rows=20)  # 10 rows a step: 2 steps
    assert bounds[0][0] == -math.inf and bounds[-1][1] == math.inf
    assert [b[1] for b in bounds[:-1]] == [b[0] for b in bounds[1:]] == [1800.0, 3600.0]
    assert windows([], rows=0) == [(-math.inf, math.inf)]
