"""Hardware in the loop in a secured run: `cosim security init` gives each external device and the
device plane's bridge a principal; `cosim emulate-device --security DIR` logs in as its device over
TLS and signs its outputs, the device bridge signs its inputs and clock; the run's results are those
of the fully simulated run, nothing rejected; and a device cannot publish another device's outputs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from controllers.messages import MessageFactory, encode
from controllers.runtime.mqtt_client import MqttSession
from controllers.topics import Kind, TopicScheme
from cosim.mqtt.brokers import start_mosquitto
from cosim.mqtt.emulator import DEVICE_PREFIX
from cosim.results.writer import read_table
from cosim.run import run_scenario
from cosim.scenario.model import load_scenario
from cosim.security import SecurityDir
from cosim.security.run import RunSecurity
from tests.security.test_secure_run import _invoke

pytestmark = [pytest.mark.slow, pytest.mark.network]


def _scenario(tmp: Path, external: bool) -> Path:
    data = {
        "name": "hil",
        "start": "2024-01-16T06:00:00",
        "duration": "2h",
        "step": "15min",
        "seed": 2,
        "buildings": [
            {"name": "sim", "count": 1, "pv_kwp": 4},
            {"name": "lab", "count": 2, "pv_kwp": 5, "battery": {"capacity_kwh": 6}, "external": external},
        ],
        "grid": {"network": "kerber_landnetz_kabel_1"},
        "controller": {"kind": "rule_based", "transport": "mqtt", "step_timeout_s": 10},
    }
    path = tmp / f"hil-{'external' if external else 'simulated'}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_emulated_devices_in_a_secured_run(tmp_path: Path) -> None:
    path = _scenario(tmp_path, True)
    code, output = _invoke("security", "init", str(path), "--out", str(tmp_path / "sec"))
    assert code == 0 and "2 external devices" in output, output
    folder = SecurityDir(tmp_path / "sec")
    assert {"devices", "lab-001.device", "lab-002.device"} <= set(folder.names())
    simulated = run_scenario(load_scenario(_scenario(tmp_path, False)), tmp_path / "simulated",
                             echo=lambda _t: None)
    security = RunSecurity(folder)
    with start_mosquitto(security=security.broker()) as broker:
        url = f"mqtts://127.0.0.1:{broker.port}"
        devices = [subprocess.Popen(
            [sys.executable, "-m", "cosim", "emulate-device", str(path), "--device", name, "--broker", url,
             "--run-id", "hil-sec", "--security", str(folder.path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for name in ("lab-001", "lab-002")]
        try:
            hil = run_scenario(load_scenario(path), tmp_path / "hil", broker_url=f"{url}?ca={folder.ca_file}",
                               run_id="hil-sec", echo=lambda _t: None, security=security)
            for device in devices:
                device.wait(timeout=60)  # a device ends with the run's final tick
            forged = asyncio.run(_forge_outputs(broker.port, folder))
        finally:
            for device in devices:
                if device.poll() is None:
                    device.kill()
                    device.wait()
    for device in devices:
        assert device.returncode == 0, device.stderr.read() if device.stderr else ""
        if device.stderr is not None:
            device.stderr.close()
    for table in ("buildings", "batteries", "grid", "setpoints"):
        a = read_table(simulated.out_dir, table).drop(columns=["pf_time_ms"], errors="ignore")
        b = read_table(hil.out_dir, table).drop(columns=["pf_time_ms"], errors="ignore")
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=table)
    assert hil.kpis["run"]["external_devices"] == 2
    assert hil.kpis["mqtt"]["rejected"] == {}
    assert not (tmp_path / "hil" / "security_rejections.parquet").exists() or read_table(
        tmp_path / "hil", "security_rejections").empty
    assert forged == "disconnected"


async def _forge_outputs(port: int, folder: SecurityDir) -> str:
    """lab-001's login publishes on lab-002's output topic: Mosquitto drops it and disconnects it."""
    me = folder.client("lab-001.device").broker_url(f"mqtts://127.0.0.1:{port}")
    session = await MqttSession.open(me.host, me.port, client_id="forger", on_message=lambda _m: None,
                                     username=me.username, password=me.password, tls=me.ssl_context())
    topic = TopicScheme("hil-sec", DEVICE_PREFIX).topic(Kind.SETPOINT, "lab-002.device")
    message = MessageFactory("hil-sec", "lab-002.device").setpoint(0, {"p_kw": 9.0})
    session.publish(topic, encode(message), qos=1)
    try:
        await asyncio.wait_for(asyncio.shield(session.closed), 5.0)
    except TimeoutError:
        await session.disconnect()
        return "still connected"
    return "disconnected"
