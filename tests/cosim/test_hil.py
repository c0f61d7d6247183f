"""Hardware in the loop: an external building played by `cosim emulate-device` in its own process
replaces the simulated one; the run's results are those of the fully simulated run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cosim.mqtt.brokers import MosquittoBroker
from cosim.results.writer import read_table
from cosim.run import run_scenario
from cosim.scenario.model import load_scenario

pytestmark = [pytest.mark.slow, pytest.mark.network]


def _scenario(tmp: Path, external: bool) -> Path:
    data = {
        "name": "hil",
        "start": "2024-01-16T06:00:00",
        "duration": "3h",
        "step": "15min",
        "seed": 2,
        "buildings": [
            {"name": "sim", "count": 2, "pv_kwp": 4},
            {
                "name": "lab",
                "pv_kwp": 5,
                "flex_share": 0.1,
                "battery": {"capacity_kwh": 6},
                "external": external,
            },
        ],
        "grid": {"network": "kerber_landnetz_kabel_1"},
        "controller": {"kind": "rule_based", "dsm_start_h": 7, "dsm_end_h": 8, "step_timeout_s": 5},
    }
    path = tmp / f"hil-{'external' if external else 'simulated'}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_emulated_device_replaces_the_building(tmp_path: Path, mosquitto_broker: MosquittoBroker) -> None:
    simulated = run_scenario(
        load_scenario(_scenario(tmp_path, False)), tmp_path / "simulated", echo=lambda _t: None
    )
    path = _scenario(tmp_path, True)
    device = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosim",
            "emulate-device",
            str(path),
            "--device",
            "lab",
            "--broker",
            mosquitto_broker.url,
            "--run-id",
            "hil-test",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        hil = run_scenario(
            load_scenario(path),
            tmp_path / "hil",
            broker_url=mosquitto_broker.url,
            run_id="hil-test",
            echo=lambda _t: None,
        )
        device.wait(timeout=60)  # the device ends with the run's final tick
    finally:
        if device.poll() is None:
            device.kill()
            device.wait()
        if device.stderr is not None:
            device.stderr.close()
    assert device.returncode == 0
    for table in ("buildings", "batteries", "grid", "setpoints"):
        a = read_table(simulated.out_dir, table).drop(columns=["pf_time_ms"], errors="ignore")
        b = read_table(hil.out_dir, table).drop(columns=["pf_time_ms"], errors="ignore")
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=table)
    entities = read_table(hil.out_dir, "entities").set_index("name")
    assert entities.loc["lab", "kind"] == "device"
    assert hil.kpis["run"]["external_devices"] == 1


def test_missing_device_is_a_clear_error(tmp_path: Path, mosquitto_broker: MosquittoBroker) -> None:
    scenario = load_scenario(_scenario(tmp_path, True))
    scenario = scenario.model_copy(
        update={"controller": scenario.controller.model_copy(update={"ready_timeout_s": 2.0})}
    )
    said: list[str] = []
    expected = r"lab\.device did not come online.*cosim emulate-device \S+ --device lab "
    with pytest.raises(TimeoutError, match=expected):
        run_scenario(scenario, tmp_path / "out", broker_url=mosquitto_broker.url, echo=said.append)
    assert any("--device lab " in line for line in said)  # the waiting message names the device
