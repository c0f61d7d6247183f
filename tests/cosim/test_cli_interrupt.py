"""Ctrl-C on `cosim run`: one line saying at which step, exit code 130, and `cosim kpis` computes
the KPIs of the finished steps, marked partial."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.cli.errors import ExitCode
from cosim.results.kpis import partial_kpis
from cosim.results.writer import read_table

LONG = {
    "name": "long",
    "duration": "60d",  # far longer than the test lets it run
    "step": "15min",
    "buildings": [{"name": "b", "count": 3, "pv_kwp": 5}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"transport": "inprocess"},
    "outputs": {"flush_every_steps": 1},
}


@pytest.mark.slow
def test_ctrl_c_says_where_it_stopped_and_kpis_cover_the_finished_steps(tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(yaml.safe_dump(LONG))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cosim", "run", str(scenario), "--out", str(out), "-q"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 120.0
            while len(list((out / "buildings").glob("part-*.parquet"))) < 5 and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise AssertionError(f"the run ended early: {proc.communicate()[1]}")
                time.sleep(0.2)  # polling the file system for progress, not synchronising on an event
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    pattern = r"interrupted at step (\d+) of 5760; the finished steps are in (.+) \(`cosim kpis .+"
    match = re.fullmatch(pattern, lines[0])
    assert match is not None, lines[0]
    steps = int(match.group(1))
    assert 5 <= steps < 5760
    assert read_table(out, "buildings")["time_s"].nunique() == steps  # every step it counted is written
    assert json.loads((out / "run.json").read_text())["status"].startswith("failed: KeyboardInterrupt")
    kpis = partial_kpis(out)
    assert kpis is not None and kpis["run"]["partial"] is True
    assert kpis["run"]["steps"] == steps and kpis["run"]["planned_steps"] == 5760
    assert kpis["energy"]["heat_pump_kwh"] > 0  # a January night: heat, no sun
    result = CliRunner().invoke(app, ["kpis", str(out)])
    assert result.exit_code == 0
    assert f"partial: {steps} of 5760 steps" in re.sub(r"\s+", " ", result.output)
