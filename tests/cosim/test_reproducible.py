"""Two runs with the same seed write byte-identical Parquet files for every table except the
wall-time measurements (`control_steps`, `mqtt_messages` and the `<table>_timing` tables).

The runs are separate processes with different PYTHONHASHSEED: mosaik hands a simulator's inputs
over in an order that follows string hashing, which once changed the column order of `weather`,
`buildings`, `grid` and `setpoints` from one run to the next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cosim.results.writer import COMPACT_NAME, is_wall_time_table, list_tables

BASE: dict[str, Any] = {
    "start": "2024-03-20T10:00:00",
    "duration": "2h",
    "step": "15min",
    "seed": 11,
    "sources": {"prices": {"kind": "tou"}},
    "buildings": [
        {"name": "pv", "count": 2, "pv_kwp": 8, "flex_share": 0.1},
        {"name": "bat", "pv_kwp": 10, "battery": {"capacity_kwh": 6}},
        {"name": "tank", "pv_kwp": 4, "tank": {"capacity_kwh": 5}},
    ],
    "grid": {"network": "kerber_landnetz_kabel_1", "transformer_limit_kw": 15},
}
CONTROLLERS: dict[str, dict[str, Any]] = {
    "rule_based": {"kind": "rule_based", "transport": "inprocess", "dsm_start_h": 10, "dsm_end_h": 11},
    "admm": {"kind": "admm", "transport": "inprocess", "admm": {"horizon": "1h"}},
    "mqtt": {"kind": "rule_based", "dsm_start_h": 10, "dsm_end_h": 11},  # lockstep over a broker of its own
}


def _run(tmp_path: Path, name: str, hash_seed: str) -> Path:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(yaml.safe_dump({**BASE, "name": name, "controller": CONTROLLERS[name]}))
    out = tmp_path / f"{name}-{hash_seed}"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-m", "cosim", "run", str(scenario), "--out", str(out), "-q"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize(
    "name", [n if n == "rule_based" else pytest.param(n, marks=pytest.mark.slow) for n in CONTROLLERS]
)
def test_same_seed_writes_identical_files(tmp_path: Path, name: str) -> None:
    first, second = _run(tmp_path, name, "1"), _run(tmp_path, name, "2")
    tables = list_tables(first)
    assert tables == list_tables(second)
    reproducible = [t for t in tables if not is_wall_time_table(t)]
    assert {"weather", "buildings", "grid", "setpoints", "batteries", "tanks"} <= set(reproducible)
    if name == "admm":
        assert {"admm_steps", "admm_iterations", "admm_steps_timing"} <= set(tables)
    if name == "mqtt":
        assert {"control_steps", "mqtt_messages"} <= set(tables) - set(reproducible)
    different = [t for t in reproducible
                 if (first / t / COMPACT_NAME).read_bytes() != (second / t / COMPACT_NAME).read_bytes()]
    assert different == []
    assert (first / "grid_timing" / COMPACT_NAME).is_file()  # the power flow's wall time is kept, apart
