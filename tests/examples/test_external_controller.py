"""examples/external_controller.py, a plain MQTT client that imports nothing of the platform, controls
a run end to end as a separate process; its decisions (battery self-consumption) give the same
results as the built-in rule-based controller without DSM in process."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario, load_scenario
from tests.comparisons import comparable_kpis

pytestmark = [pytest.mark.slow, pytest.mark.network]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROJECT_PACKAGES = ("cosim", "controllers", "simulators", "planner")
# runs the example as its own __main__ and then checks that nothing of the platform was imported
RUN_ISOLATED = (
    "import runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "else:\n"
    "    code = 0\n"
    f"leaked = sorted(m for m in sys.modules if m.split('.')[0] in {PROJECT_PACKAGES!r})\n"
    "print('imported from the platform:', leaked)\n"
    "sys.exit(3 if leaked else code)\n"
)




def test_an_external_process_controls_the_run(tmp_path: Path, session_mosquitto_url: str) -> None:
    scenario = load_scenario(EXAMPLES / "external-controller.yaml")
    scenario = scenario.model_copy(
        update={
            "duration": 8 * 3600,
            "controller": scenario.controller.model_copy(update={"ready_timeout_s": 30.0}),
        }
    )
    agents = [f"house-bat-{i:03d}" for i in (1, 2)] + ["house"]
    run_id = f"ext-{uuid.uuid4().hex[:8]}"
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["summary"] = run_scenario(
                scenario,
                tmp_path / "external",
                broker_url=session_mosquitto_url,
                run_id=run_id,
                echo=lambda _t: None,
            )
        except BaseException as exc:  # reported below
            result["error"] = exc

    runner = threading.Thread(target=run)
    runner.start()
    external = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_ISOLATED,
            str(EXAMPLES / "external_controller.py"),
            "--broker",
            session_mosquitto_url,
            "--run",
            run_id,
            "--agents",
            ",".join(agents),
            "--timeout-s",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    runner.join(timeout=180)
    assert "error" not in result, result.get("error")
    assert external.returncode == 0, external.stdout + external.stderr
    assert "imported from the platform: []" in external.stdout
    assert f"answered {len(agents) * scenario.n_steps} measurements; run finished" in external.stdout

    summary: RunSummary = result["summary"]
    steps = read_table(summary.out_dir, "control_steps")
    assert len(steps) == scenario.n_steps and (steps["late_agents"] == 0).all()
    controller = scenario.controller.model_copy(
        update={"kind": "rule_based", "dsm": False, "transport": "inprocess", "agents": "tasks"}
    )
    reference = run_scenario(
        scenario.model_copy(update={"controller": controller}), tmp_path / "reference", echo=lambda _t: None
    )
    assert comparable_kpis(summary.kpis) == comparable_kpis(reference.kpis)
    setpoints = read_table(summary.out_dir, "setpoints")
    batteries = setpoints[setpoints["entity"].str.startswith("house-bat")]
    assert (batteries["battery_p_set_kw"].abs() > 0.1).any()  # the external decisions were applied


def test_an_external_run_needs_mqtt() -> None:
    with pytest.raises(ValueError, match="transport: mqtt"):
        Scenario.model_validate(
            {
                "name": "x",
                "buildings": [{"name": "b"}],
                "controller": {"agents": "external", "transport": "inprocess"},
            }
        )
