"""A table of everyday mistakes (scenario, data files, command-line flags, broker URLs, results
folders) run through `cosim validate` and `cosim run`.

For each: the documented exit code (docs/cli.md), one message naming the file, field or flag and
what to change, no traceback; and `validate` rejects everything `run` rejects before its first
step, with the same message. Mistakes that only a run can find (a broker that is not there, a
device that never comes, a folder that holds a run) go through `run` alone, and their exit code
tells them apart from mistakes in the input.

The commands run in process (typer's CliRunner): the same code as the `cosim` script, without
starting an interpreter per case.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cosim.cli.app import app
from cosim.cli.errors import ExitCode
from cosim.results.writer import list_tables

BASE: dict[str, Any] = {
    "name": "mistake",
    "start": "2024-03-20T06:00:00",
    "duration": "1h",
    "step": "15min",
    "buildings": [{"name": "house", "count": 2, "pv_kwp": 5}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"kind": "rule_based", "transport": "inprocess"},
}


def _weather(folder: Path, name: str = "weather.csv", **change: Any) -> None:
    """An hourly weather file around the run; `change` replaces columns or the time list."""
    times = pd.date_range("2024-03-20T00:00:00", periods=24, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    data = {"time": list(times), "t_out_c": np.linspace(2.0, 12.0, 24), "ghi_w_m2": 100.0} | change
    pd.DataFrame({k: v for k, v in data.items() if v is not None}).to_csv(folder / name, index=False)


def _with_weather(**change: Any) -> Callable[[Path], None]:
    return lambda folder: _weather(folder, **change)


def _nan_at(k: int) -> np.ndarray:
    values = np.linspace(2.0, 12.0, 24)
    values[k] = np.nan
    return values


@dataclass(frozen=True)
class Mistake:
    """One mistake: the scenario (BASE updated by `scenario`, or `text` as the file), files to
    write beside it, extra command-line arguments, and what the message must say."""

    id: str
    says: tuple[str, ...]
    scenario: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    files: Callable[[Path], None] | None = None
    args: tuple[str, ...] = ()
    code: ExitCode = ExitCode.INPUT


CSV = {"sources": {"weather": {"kind": "csv", "path": "weather.csv"}}}
PRICES = {"sources": {"prices": {"kind": "csv", "path": "prices.csv"}}}

INPUT_MISTAKES = [
    Mistake("empty-file", ("scenario.yaml", "the file is empty", "name", "buildings"), text=""),
    Mistake("not-yaml", ("scenario.yaml", "not valid YAML"), text="name: x\nbuildings: [\n"),
    Mistake("typo-key", ("bulidings", "unknown key", "allowed here", "buildings"),
            scenario={"bulidings": [{"name": "x"}]}),
    Mistake("negative-seed", ("seed", "0 or greater|greater than or equal to 0"), scenario={"seed": -1}),
    Mistake("bus-not-in-network", ("buildings.0.buses.0", "bus 999", "kerber_landnetz_kabel_1", "3, 5, 7"),
            scenario={"buildings": [{"name": "house", "count": 1, "buses": [999]}]}),
    Mistake("storage-on-mv-bus", ("storage.0.bus", "bus 0", "10 kV", "low-voltage"),
            scenario={"storage": [{"name": "bess", "capacity_kwh": 20, "bus": 0}]}),
    Mistake("start-does-not-exist", ("start", "2024-03-31T02:30:00", "does not exist in Europe/Berlin"),
            scenario={"start": "2024-03-31T02:30:00"}),
    Mistake("start-ambiguous", ("start", "happens twice in Europe/Berlin", "+02:00", "+01:00"),
            scenario={"start": "2024-10-27T02:30:00"}),
    Mistake("step-does-not-divide", ("duration", "multiple of step"), scenario={"duration": "1000s"}),
    Mistake("comfort-band", ("buildings.0", "t_min_c (23.0) must be below t_max_c (22.0)"),
            scenario={"buildings": [{"name": "house", "t_min_c": 23, "t_max_c": 22}]}),
    Mistake("unknown-network", ("grid.network", "unknown network", "kerber_dorfnetz"),
            scenario={"grid": {"network": "kerber_landnet"}}),
    Mistake("scenario-broker-scheme", ("controller.broker",),
            scenario={"controller": {"kind": "rule_based", "broker": "localhost:1883"}}),
    Mistake("weather-file-missing", ("weather.csv", "not found", "sources.weather.path"), scenario=CSV),
    Mistake("typical-year-file-missing", ("tmy.csv", "not found", "sources.weather.path"),
            scenario={"sources": {"weather": {"kind": "tmy", "path": "tmy.csv"}}}),
    Mistake("weather-nan", ("weather.csv", "line 7, column t_out_c", "not a number"), scenario=CSV,
            files=_with_weather(t_out_c=_nan_at(5))),
    Mistake("weather-no-temperature", ("weather.csv", "missing column(s) t_out_c"), scenario=CSV,
            files=_with_weather(t_out_c=None)),
    Mistake("weather-too-hot", ("weather.csv", "t_out_c", "500", "plausible range -60 to 60"), scenario=CSV,
            files=_with_weather(t_out_c=np.full(24, 500.0))),
    Mistake("weather-negative-sun", ("weather.csv", "ghi_w_m2", "-300", "plausible range 0 to 1400"),
            scenario=CSV, files=_with_weather(ghi_w_m2=-300.0)),
    Mistake("weather-duplicate-time", ("weather.csv", "lines 3 and 4 both hold the time"), scenario=CSV,
            files=lambda f: (tmp := pd.read_csv(_write(f)), tmp.assign(time=_dup(tmp["time"]))
                             .to_csv(f / "weather.csv", index=False))),
    Mistake("weather-unsorted", ("weather.csv", "sort the rows by the time column"), scenario=CSV,
            files=lambda f: (tmp := pd.read_csv(_write(f)), tmp.iloc[[0, 2, 1, *range(3, 24)]]
                             .to_csv(f / "weather.csv", index=False))),
    Mistake("weather-too-short", ("weather.csv", "covers", "the simulation needs"), scenario=CSV,
            files=lambda f: pd.read_csv(_write(f)).head(4).to_csv(f / "weather.csv", index=False)),
    Mistake("prices-no-import-column", ("prices.csv", "missing column(s) import_per_kwh"), scenario=PRICES,
            files=lambda f: pd.DataFrame({"time": ["2024-03-20T00:00:00", "2024-03-21T00:00:00"],
                                          "price": [0.3, 0.3]}).to_csv(f / "prices.csv", index=False)),
    Mistake("broker-without-scheme", ("--broker", "localhost:1883", "mqtt://localhost:1883"),
            args=("--broker", "localhost:1883")),
    Mistake("admm-without-section", ("--controller admm", "no `controller.admm` section", "horizon",
                                     "transformer_limit_kw"), args=("--controller", "admm")),
    Mistake("controller-flag-unknown", ("--controller rule-based", "controller.kind", "rule_based"),
            args=("--controller", "rule-based")),
    Mistake("set-list-item", ("--set buildings.5.count=2", "no item 5", "1 item(s)"),
            args=("--set", "buildings.5.count=2")),
    Mistake("set-without-value", ("--set seed", "KEY=VALUE"), args=("--set", "seed")),
    Mistake("set-unknown-key", ("--set grid.limit_kw=3", "grid.limit_kw", "unknown key",
                                "transformer_limit_kw"), args=("--set", "grid.limit_kw=3")),
    Mistake("seed-flag-negative", ("seed", "0 or greater|greater than or equal to 0"), args=("--seed", "-1")),
    Mistake("duration-flag", ("--duration", "duration", "'5x'"), args=("--duration", "5x")),
]


def _write(folder: Path) -> Path:
    _weather(folder)
    return folder / "weather.csv"


def _dup(times: pd.Series) -> pd.Series:
    copy = times.copy()
    copy.iloc[2] = copy.iloc[1]
    return copy


def _scenario(folder: Path, mistake: Mistake) -> Path:
    path = folder / "scenario.yaml"
    if mistake.text is not None:
        path.write_text(mistake.text)
    else:
        path.write_text(yaml.safe_dump({**BASE, **mistake.scenario}))
    if mistake.files is not None:
        mistake.files(folder)
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _one_message(output: str, says: tuple[str, ...]) -> str:
    """The output is one message (no traceback, no pydantic prefixes) that says all of `says`."""
    assert "Traceback" not in output and "╭─" not in output, output  # rich tracebacks draw boxes
    assert "Value error," not in output and "NoneType" not in output, output
    flat = re.sub(r"\s+", " ", output)
    for part in says:  # "a|b": either wording
        assert any(alt in flat for alt in part.split("|")), f"{part!r} not in {output!r}"
    return flat


@pytest.mark.parametrize("mistake", INPUT_MISTAKES, ids=[m.id for m in INPUT_MISTAKES])
def test_validate_and_run_reject_the_mistake_alike(tmp_path: Path, mistake: Mistake) -> None:
    path = _scenario(tmp_path, mistake)
    out = tmp_path / "out"
    code_validate, said_validate = _invoke("validate", str(path), *mistake.args)
    code_run, said_run = _invoke("run", str(path), "--out", str(out), "-q", *mistake.args)
    assert code_validate == code_run == mistake.code
    assert _one_message(said_validate, mistake.says) == _one_message(said_run, mistake.says)
    assert list_tables(out) == []  # refused before its first step (before anything was written)


def test_there_are_at_least_twenty_mistakes() -> None:
    assert len(INPUT_MISTAKES) >= 20


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens there


def test_a_closed_broker_port_is_reported_before_the_run_starts(tmp_path: Path) -> None:
    path = tmp_path / "mqtt.yaml"
    path.write_text(yaml.safe_dump({**BASE, "controller": {"kind": "rule_based"}}))
    url = f"mqtt://127.0.0.1:{_closed_port()}"
    assert _invoke("validate", str(path), "--broker", url)[0] == ExitCode.OK  # a well-formed URL
    code, said = _invoke("run", str(path), "--out", str(tmp_path / "out"), "--broker", url)
    assert code == ExitCode.UNREACHABLE
    _one_message(said, ("--broker", url, "nothing accepts connections"))
    assert "attempt" not in said  # no reconnect noise before the message


@pytest.mark.slow
def test_a_device_that_never_comes_ends_the_run_with_exit_code_3(tmp_path: Path) -> None:
    data = {**BASE, "buildings": [{"name": "dev", "external": True}, {"name": "sim"}],
            "controller": {"kind": "rule_based", "ready_timeout_s": 1}}
    path = tmp_path / "hil.yaml"
    path.write_text(yaml.safe_dump(data))
    assert _invoke("validate", str(path))[0] == ExitCode.OK
    code, said = _invoke("run", str(path), "--out", str(tmp_path / "out"), "-q")
    assert code == ExitCode.UNREACHABLE
    _one_message(said, ("dev.device", "did not come online", "cosim emulate-device"))
    assert list_tables(tmp_path / "out") == []
    again = _invoke("run", str(path), "--out", str(tmp_path / "out"), "-q")  # the folder may be used again
    assert again[0] == ExitCode.UNREACHABLE


def _fake_run(folder: Path, steps: bool) -> None:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text('{"status": "completed"}')
    if steps:
        (folder / "grid").mkdir()
        pd.DataFrame({"time_s": [0]}).to_parquet(folder / "grid" / "part-000000.parquet")


def test_a_folder_with_results_is_refused_before_the_progress_bar(tmp_path: Path) -> None:
    path = _scenario(tmp_path, Mistake("ok", ()))
    _fake_run(tmp_path / "out", steps=True)
    code, said = _invoke("run", str(path), "--out", str(tmp_path / "out"))
    assert code == ExitCode.INPUT
    _one_message(said, ("already holds the results of a run", "--overwrite"))
    assert "steps" not in said and "0/4" not in said  # no progress bar was shown


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (lambda d: None, ("nothere", "no such folder", "no run there")),
        (lambda d: d.mkdir(), ("there is no run here", "run.json")),
        (lambda d: _fake_run(d, steps=False), ("the run wrote no step",)),
    ],
    ids=["missing", "no-run-json", "no-step"],
)
def test_kpis_says_what_is_not_there(
    tmp_path: Path, setup: Callable[[Path], None], says: tuple[str, ...]
) -> None:
    folder = tmp_path / "nothere"
    setup(folder)
    code, said = _invoke("kpis", str(folder))
    assert code == ExitCode.INPUT
    _one_message(said, says)


def test_emulator_with_a_closed_port_or_no_run_gives_up(tmp_path: Path, session_mosquitto_url: str) -> None:
    data = {**BASE, "buildings": [{"name": "dev", "external": True}], "controller": {"kind": "none"}}
    path = tmp_path / "hil.yaml"
    path.write_text(yaml.safe_dump(data))
    closed = f"mqtt://127.0.0.1:{_closed_port()}"
    code, said = _invoke("emulate-device", str(path), "--device", "dev", "--broker", closed, "--run-id", "r")
    assert code == ExitCode.UNREACHABLE
    _one_message(said, ("--broker", "nothing accepts connections"))
    code, said = _invoke("emulate-device", str(path), "--device", "dev", "--broker", session_mosquitto_url,
                         "--run-id", "nosuchrun", "--wait-s", "1")
    assert code == ExitCode.UNREACHABLE
    _one_message(said, ("no run 'nosuchrun'", "dev.device", "--run-id"))
    code, said = _invoke("emulate-device", str(path), "--device", "nobody", "--broker", closed,
                         "--run-id", "r")
    assert code == ExitCode.INPUT
    _one_message(said, ("--device nobody", "buildings: dev"))


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = _scenario(tmp_path, Mistake("seed", (), scenario={"seed": -1}))
    result = CliRunner().invoke(app, ["--debug", "validate", str(path)])
    assert result.exception is not None and not isinstance(result.exception, SystemExit)




REAL = ["negative-seed", "bus-not-in-network", "start-does-not-exist", "weather-nan"]
_LIBRARY_RUN = """
import sys
from pathlib import Path
from cosim.run import run_scenario
from cosim.scenario.model import load_scenario
for folder in sys.argv[1:]:
    try:
        scenario = load_scenario(Path(folder) / "scenario.yaml")
        run_scenario(scenario, Path(folder) / "out", echo=lambda _t: None)
    except Exception as exc:
        print(Path(folder).name, type(exc).__name__)
    else:
        print(Path(folder).name, "ran")
"""


def test_the_checks_catch_what_the_run_itself_would_stumble_on(tmp_path: Path) -> None:
    """The pre-run checks invent no rules: without them (the library call, no CLI) the run fails on
    these too, before its first step, with a traceback instead of a message. (In a process of its
    own: a failed run leaves mosaik's event loop unclosed, which would warn in a later test.)"""
    import subprocess
    import sys

    folders = []
    for name in REAL:
        folder = tmp_path / name
        folder.mkdir()
        _scenario(folder, next(m for m in INPUT_MISTAKES if m.id == name))
        folders.append(str(folder))
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", _LIBRARY_RUN, *folders],
                          capture_output=True, text=True, timeout=300, check=False)
    outcomes = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert set(outcomes) == set(REAL), done.stderr
    assert "ran" not in outcomes.values(), outcomes
    for name in REAL:
        assert "buildings" not in list_tables(tmp_path / name / "out"), name
