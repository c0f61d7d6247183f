"""`cosim security init` and `cosim run --security` end to end: the demo scenario secured gives the
same KPIs as without security, no secret lands in the results, and mistakes end with one message."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from controllers.plans import AssetPlan, PlanSet
from cosim.cli.app import app
from cosim.cli.errors import ExitCode
from cosim.mqtt.brokers import BrokerSecurity, start_mosquitto
from cosim.scenario.model import Scenario
from cosim.security import SecurityDir
from simulators.clock import start_timestamp

pytestmark = pytest.mark.network

DEMO = Path(__file__).parents[2] / "scenarios" / "demo.yaml"
ADMM_FEEDER = Path(__file__).parents[2] / "scenarios" / "admm-feeder.yaml"
TIMING_KPIS = {"step_ms_median", "step_ms_p99"}


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, re.sub(r"\s+", " ", result.output)


@pytest.fixture(scope="module")
def demo_security(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "security"
    code, output = _invoke("security", "init", str(DEMO), "--out", str(folder))
    assert code == 0, output
    return folder


def test_init_writes_the_folder_with_private_secrets(demo_security: Path) -> None:
    manifest = json.loads((demo_security / "security.json").read_text())
    agents = sorted(p["name"] for p in manifest["principals"] if p["role"] == "agent")
    assert agents == sorted([*(f"house-{k:03d}" for k in range(1, 6)), "house-bat-001", "house-bat-002",
                             "house-tank", "old-house", "flats"])
    principals = demo_security / "principals"
    secrets = [*principals.glob("*/password"), *principals.glob("*/*.key"), demo_security / "ca.key",
               demo_security / "server.key"]
    assert len(secrets) > 3 * len(agents)
    for path in secrets:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    passwords = [p.read_text() for p in principals.glob("*/password")]
    shared = "".join((demo_security / name).read_text() for name in ("security.json", "mosquitto/passwd"))
    assert not any(password in shared for password in passwords)  # the password file holds hashes only
    acl = (demo_security / "mosquitto" / "acl").read_text()
    assert "topic write ucosim/+/setpoint/house-001" in acl and "pattern" not in acl


def test_a_secured_run_gives_the_kpis_of_a_plain_one(demo_security: Path, tmp_path: Path) -> None:
    plain, secured = tmp_path / "plain", tmp_path / "secured"
    for out, extra in ((plain, []), (secured, ["--security", str(demo_security)])):
        code, output = _invoke("run", str(DEMO), "--duration", "1h", "-q", "--out", str(out), *extra)
        assert code == 0, output
    a, b = (json.loads((out / "kpis.json").read_text()) for out in (plain, secured))
    for group, values in a.items():
        if group in ("run", "mqtt"):
            continue
        for name, value in values.items():
            if name not in TIMING_KPIS:
                assert b[group][name] == value, (group, name)
    assert b["control"]["late_agent_steps"] == 0
    assert b["mqtt"]["rejected"] == {}  # the bridge refused nothing of its own run
    run_json = (secured / "run.json").read_text()
    assert json.loads(run_json)["mqtt"]["broker"].startswith("mqtts://")
    secrets = [p.read_text() for p in (demo_security / "principals").glob("*/password")]
    secrets += [p.read_text() for p in (demo_security / "principals").glob("*/hmac.key")]
    for path in secured.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(secret.encode() in content for secret in secrets), path


def test_a_missing_or_foreign_security_folder_is_one_message(demo_security: Path, tmp_path: Path) -> None:
    code, output = _invoke("run", str(DEMO), "--security", str(tmp_path / "nowhere"), "-q",
                           "--out", str(tmp_path / "r1"))
    assert code == ExitCode.INPUT and "cosim security init" in output and "Traceback" not in output
    other = tmp_path / "other.yaml"
    other.write_text(DEMO.read_text().replace("name: house\n", "name: villa\n"))
    code, output = _invoke("run", str(other), "--security", str(demo_security), "-q",
                           "--out", str(tmp_path / "r2"))
    assert code == ExitCode.INPUT and "villa-001" in output and "Traceback" not in output
    code, output = _invoke("security", "init", str(DEMO), "--out", str(demo_security))
    assert code == ExitCode.INPUT and "already holds" in output


def test_a_secured_run_on_an_external_broker_given_by_url(demo_security: Path, tmp_path: Path) -> None:
    """A broker of the user's (here a Mosquitto the test starts with the folder's files), reached by
    `--broker mqtts://host:port?ca=...`: every principal logs in with its own password from the
    folder; a plain mqtt:// URL is refused for a secured run."""
    folder = SecurityDir(demo_security)
    security = BrokerSecurity(folder.ca_file, folder.server_cert, folder.server_key, folder.password_file,
                              folder.acl_file)
    with start_mosquitto(security=security) as broker:
        url = f"mqtts://127.0.0.1:{broker.port}?ca={folder.ca_file}"
        code, output = _invoke("run", str(DEMO), "--duration", "30min", "-q", "--out", str(tmp_path / "ext"),
                               "--broker", url, "--security", str(demo_security))
        assert code == 0, output
        assert "external at mqtts://127.0.0.1" in output
        kpis = json.loads((tmp_path / "ext" / "kpis.json").read_text())
        assert kpis["control"]["late_agent_steps"] == 0 and kpis["mqtt"]["rejected"] == {}
        plain = f"mqtt://127.0.0.1:{broker.port}"
        code, output = _invoke("run", str(DEMO), "-q", "--out", str(tmp_path / "plain"), "--broker", plain,
                               "--security", str(demo_security))
        assert code == ExitCode.INPUT and "needs a TLS broker" in output and "Traceback" not in output


def _plan_file(scenario: dict[str, Any], path: Path, p_kw: float = 0.5) -> Path:
    """Every building asked to hold its meter at `p_kw` for 4 h from the scenario's start."""
    model = Scenario.model_validate(scenario)
    start = start_timestamp(model.start, model.timezone).to_pydatetime()
    plans = {name: AssetPlan(asset=name, kind="grid", start=start, step_s=3600, series={"p_kw": [p_kw] * 4})
             for group in model.buildings for name in group.names()}
    path.write_text(PlanSet(plans=plans).to_json(), encoding="utf-8")
    return path


def test_a_secured_admm_run_gives_the_kpis_of_a_plain_one(tmp_path: Path) -> None:
    """The ADMM feeder, made small (4 houses, a 2 h horizon, two steps), with plans handed down:
    building agents and the coordinator sign their rounds (HMAC for the updates, Ed25519 for the
    coordinator's broadcasts), the planner its retained plans (Ed25519), which the agents check and
    track; the decisions and so every KPI are those of the plain run."""
    scenario = yaml.safe_load(ADMM_FEEDER.read_text())
    scenario["buildings"][0]["count"], scenario["buildings"][1]["count"] = 3, 1
    scenario["controller"]["admm"]["horizon"] = "2h"
    scenario["outputs"] = {"dir": str(tmp_path / "unused")}
    scenario["plan"] = {"file": str(_plan_file(scenario, tmp_path / "plans.json")), "weight_per_kw2": 1.0}
    path = tmp_path / "admm-small.yaml"
    path.write_text(yaml.safe_dump(scenario))
    assert _invoke("security", "init", str(path), "--out", str(tmp_path / "security"))[0] == 0
    plain, secured = tmp_path / "plain", tmp_path / "secured"
    for out, extra in ((plain, []), (secured, ["--security", str(tmp_path / "security")])):
        code, output = _invoke("run", str(path), "--duration", "30min", "-q", "--out", str(out), *extra)
        assert code == 0, output
    a, b = (json.loads((out / "kpis.json").read_text()) for out in (plain, secured))
    assert b["mqtt"]["rejected"] == {} and b["control"]["late_agent_steps"] == 0
    assert (secured / "plans.json").is_file()
    compared = [(group, name) for group, values in a.items() if group not in ("run", "mqtt")
                for name in values if name not in TIMING_KPIS | {"step_wall_time_ms_mean"}]
    assert ("admm", "iterations_mean") in compared and ("grid", "trafo_loading_max_pct") in compared
    assert [b[g][n] for g, n in compared] == [a[g][n] for g, n in compared]


def test_without_mosquitto_a_secured_run_is_refused_before_it_starts(
        demo_security: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded broker cannot enforce passwords and an ACL: without a Mosquitto binary (hidden
    here; it cannot be uninstalled for a test) a secured run is refused with one message."""
    monkeypatch.setattr("cosim.security.run.find_mosquitto", lambda: None)
    code, output = _invoke("run", str(DEMO), "-q", "--out", str(tmp_path / "r"),
                           "--security", str(demo_security))
    assert code == ExitCode.INPUT and "needs Mosquitto" in output and "Traceback" not in output
