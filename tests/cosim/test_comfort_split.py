"""The comfort KPIs split into heating and cooling discomfort (issue 17): `kpis.json` has both keys,
each is the time integral of the buildings' distance below / above their comfort band, and they add
up to `discomfort_kh`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cosim.results.kpis import _comfort
from cosim.run import RunSummary


def test_kpis_json_has_heating_and_cooling_discomfort(small_run: RunSummary) -> None:
    comfort = json.loads((small_run.out_dir / "kpis.json").read_text())["comfort"]
    heating, cooling = comfort["heating_discomfort_kh"], comfort["cooling_discomfort_kh"]
    assert np.isfinite(heating) and np.isfinite(cooling)
    assert heating >= 0.0 and cooling >= 0.0
    assert heating + cooling == pytest.approx(comfort["discomfort_kh"], rel=1e-9, abs=1e-12)


def test_split_sends_cold_to_heating_and_hot_to_cooling() -> None:
    """Two buildings over two 15-minute steps: one too cold (1 K, then 0.5 K), one too warm (2 K once)."""
    buildings = pd.DataFrame({
        "entity": ["a", "b", "a", "b"],
        "comfort_cold_k": [1.0, 0.0, 0.5, 0.0],
        "comfort_hot_k": [0.0, 2.0, 0.0, 0.0],
        "comfort_violation_k": [1.0, 2.0, 0.5, 0.0],
        "t_in_c": [19.0, 26.0, 19.5, 23.0],
    })  # fmt: skip
    out = _comfort(buildings, 0.25)
    assert out["heating_discomfort_kh"] == pytest.approx(1.5 * 0.25)
    assert out["cooling_discomfort_kh"] == pytest.approx(2.0 * 0.25)
    assert out["discomfort_kh"] == pytest.approx(3.5 * 0.25)
