"""A district with a gas-boiler building runs ADMM over MQTT as in process (issue: a gas boiler's
heat-pump COP is NaN, which no MQTT message may carry; it now travels as None)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cosim.results.writer import read_table
from cosim.run import run_scenario
from cosim.scenario.model import Scenario

pytestmark = [pytest.mark.slow, pytest.mark.network]

DISTRICT = {
    "name": "gas",
    "start": "2024-01-15T00:00:00",
    "duration": "2h",
    "step": "15min",
    "buildings": [
        {"name": "hp", "count": 3, "pv_kwp": 4},
        {"name": "old", "count": 1, "heating": "gas_boiler"},
    ],
    "grid": {"network": "kerber_landnetz_kabel_1", "transformer_limit_kw": 20},
}


@pytest.mark.parametrize("kind", ["admm", "rule_based"])
def test_a_gas_boiler_runs_over_mqtt_as_in_process(tmp_path: Path, kind: str) -> None:
    controller = {"kind": kind, **({"admm": {"horizon": "6h"}} if kind == "admm" else {})}
    runs = {
        transport: run_scenario(
            Scenario.model_validate({**DISTRICT, "controller": {**controller, "transport": transport}}),
            tmp_path / transport,
            echo=lambda _t: None,
        )
        for transport in ("inprocess", "mqtt")
    }
    tables = {
        t: read_table(r.out_dir, "setpoints").sort_values(["time_s", "entity"]) for t, r in runs.items()
    }
    columns = ["time_s", "entity", "battery_p_set_kw", "hp_p_set_kw"]
    pd.testing.assert_frame_equal(
        tables["mqtt"][columns].reset_index(drop=True), tables["inprocess"][columns].reset_index(drop=True)
    )
    steps = read_table(runs["mqtt"].out_dir, "control_steps")
    assert (steps["late_agents"] == 0).all()
