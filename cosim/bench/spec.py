"""What a benchmark runs: suites, sweep files and controllers, as a list of `RunSpec`.

A suite file (scenarios/bench/suites.yaml, or a user's own YAML file with the same `scenarios:` list)
names scenario files, each optionally under another `name` and with changes (`set`, as
`cosim run --set`). A sweep file varies fields of one scenario:

    sweep:
      scenario: ../scenarios/bench/dsm-day.yaml    # relative to the sweep file
      controllers: [none, rule_based]              # optional; --controllers wins
      grid:                                        # every combination ...
        buildings.0.flex_share: [0.0, 0.05, 0.1]
      # list:                                      # ... or the listed points
      #   - {buildings.0.flex_share: 0.05, controller.admm.rho: 0.1}

Controllers (`--controllers`, comma-separated): `none`, `rule_based`, `mpc`, `admm`, a plug-in
(`package.module:Class` or `path/to/file.py:Class`, with its default parameters), or
`external:PROGRAM`: a program of yours that speaks MQTT and takes `--broker URL --run ID --agents
A,B,...` (like examples/external_controller.py; a `.py` file runs with this Python).

The baseline of the normalisation is `none`: it is added when the list does not have it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cosim.cli.errors import InputError, clean_message
from cosim.scenario.model import Scenario, ScenarioError, format_errors, load_scenario
from cosim.scenario.overrides import apply_overrides

BUILTIN = ("none", "rule_based", "mpc", "admm")
BASELINE = "none"
SUITES_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "bench" / "suites.yaml"
# packages whose code decides a run's results (the cache key's code version)
RUN_PACKAGES = ("cosim", "controllers", "simulators", "planner", "forecasting")
NOT_RUN_CODE = ("cosim/bench/", "cosim/cli/")


@dataclass(frozen=True)
class ControllerSpec:
    """One controller of a benchmark: its label in the table, kind, parameters, external program."""

    label: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    program: str | None = None  # external:PROGRAM


@dataclass(frozen=True)
class ScenarioCase:
    """One scenario of a suite (or one point of a sweep): label, file and changes."""

    label: str
    file: Path
    changes: tuple[str, ...] = ()
    variant: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class RunSpec:
    """One run: scenario × controller, the validated scenario as data, and its cache key."""

    scenario: str
    controller: str
    data: dict[str, Any]
    key: str
    program: str | None = None
    variant: tuple[tuple[str, Any], ...] = ()
    not_applied: tuple[str, ...] = ()  # the scenario's attacks and detection this controller cannot have


@dataclass(frozen=True)
class Bench:
    """A suite or sweep resolved to runs."""

    name: str
    runs: list[RunSpec]
    controllers: list[ControllerSpec]
    scenarios: list[ScenarioCase]
    baseline_added: bool = False


def suite_names() -> list[str]:
    return list(_read_yaml(SUITES_FILE)["suites"])


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read it as YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with `scenarios:` (a suite) or `sweep:` (a sweep)")
    return data


def _changes(values: dict[str, Any]) -> tuple[str, ...]:
    return tuple(f"{k}={json.dumps(v)}" for k, v in values.items())


def _cases(entries: Any, base: Path, where: str) -> list[ScenarioCase]:
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{where}: `scenarios` must be a non-empty list of "
                         "{file: ..., name: ..., set: ...}")
    cases = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"file": entry}
        if not isinstance(entry, dict) or "file" not in entry:
            raise InputError(f"{where}: scenarios.{i}: give at least `file`")
        unknown = set(entry) - {"file", "name", "set"}
        if unknown:
            raise InputError(f"{where}: scenarios.{i}: unknown key(s) {', '.join(sorted(unknown))}; "
                             "allowed: file, name, set")
        file = (base / str(entry["file"])).resolve()
        if not file.is_file():
            raise InputError(f"{where}: scenarios.{i}.file: {file} not found")
        label = str(entry.get("name") or file.stem)
        cases.append(ScenarioCase(label, file, _changes(dict(entry.get("set") or {}))))
    labels = [c.label for c in cases]
    if len(set(labels)) != len(labels):
        raise InputError(f"{where}: two scenarios have the same name; give each its own `name`")
    return cases


def _sweep_cases(sweep: Any, base: Path, where: str) -> list[ScenarioCase]:
    if not isinstance(sweep, dict) or "scenario" not in sweep:
        raise InputError(f"{where}: sweep: give `scenario` (a file) and `grid` or `list`")
    unknown = set(sweep) - {"scenario", "controllers", "grid", "list"}
    if unknown:
        raise InputError(f"{where}: sweep: unknown key(s) {', '.join(sorted(unknown))}; "
                         "allowed: scenario, controllers, grid, list")
    file = (base / str(sweep["scenario"])).resolve()
    if not file.is_file():
        raise InputError(f"{where}: sweep.scenario: {file} not found")
    if ("grid" in sweep) == ("list" in sweep):
        raise InputError(f"{where}: sweep: give either `grid` (every combination) or `list` (the points)")
    if "grid" in sweep:
        grid = sweep["grid"]
        lists = isinstance(grid, dict) and all(isinstance(v, list) and v for v in grid.values())
        if not grid or not lists:
            raise InputError(f"{where}: sweep.grid: map each field to a non-empty list of values")
        points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    else:
        points = sweep["list"]
        if not isinstance(points, list) or not points or not all(isinstance(p, dict) and p for p in points):
            raise InputError(f"{where}: sweep.list: give a list of {{field: value, ...}} points")
    stem = file.stem
    return [
        ScenarioCase(
            f"{stem}[" + ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in point.items()) + "]",
            file,
            _changes(point),
            tuple(point.items()),
        )
        for point in points
    ]


def parse_controllers(text: str, base: Path | None = None) -> list[ControllerSpec]:
    """The `--controllers` list; plug-in files relative to `base` (default: the working folder)."""
    from controllers.plugin import ControllerError, controller_class, resolve_kind_path

    base = base or Path.cwd()
    specs: list[ControllerSpec] = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        if raw in BUILTIN:
            specs.append(ControllerSpec(raw, raw))
            continue
        if raw.startswith("external:"):
            program = Path(raw.removeprefix("external:")).expanduser()
            program = program if program.is_absolute() else (base / program).resolve()
            if not program.is_file():
                raise InputError(f"--controllers {raw}: the external controller program {program} not found")
            specs.append(ControllerSpec(f"external:{program.stem}", "none", program=str(program)))
            continue
        if ":" not in raw:
            raise InputError(f"--controllers {raw}: not a controller; give none, rule_based, mpc, admm, "
                             "package.module:Class, path/to/file.py:Class or external:PROGRAM")
        kind = resolve_kind_path(raw, base)
        try:
            controller_class(kind)
        except ControllerError as exc:
            raise InputError(f"--controllers {raw}: {exc}") from None
        specs.append(ControllerSpec(raw.rpartition(":")[2], kind))
    if not specs:
        raise InputError("--controllers: give at least one controller, e.g. none,rule_based,mpc,admm")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise InputError(f"--controllers {text}: a controller is listed twice ({', '.join(labels)})")
    return specs


def with_baseline(controllers: list[ControllerSpec]) -> tuple[list[ControllerSpec], bool]:
    if any(c.label == BASELINE for c in controllers):
        return controllers, False
    return [ControllerSpec(BASELINE, BASELINE), *controllers], True


def without_inapplicable(data: dict[str, Any], kind: str) -> tuple[str, ...]:
    """Take out of the scenario `data` (in place) what controller `kind` cannot have: the attacks of a
    kind that needs another controller (`needs_controller`: the ADMM insiders, the round messages) and
    the `detection` section (its checks watch ADMM agents). The sensors keep the noise the attacked
    scenario has (on by default with attacks or detection), so every controller measures alike.
    Returns what was taken out, e.g. `attacks.0 admm_bias (needs admm)`."""
    from cosim.attacks import ATTACKS

    dropped: list[str] = []
    attacks = list(data.get("attacks") or [])
    attacked = bool(attacks) or data.get("detection") is not None
    kept = []
    for i, attack in enumerate(attacks):
        needs = ATTACKS[attack["kind"]].needs_controller
        if needs is not None and needs != kind:
            dropped.append(f"attacks.{i} {attack['kind']} (needs {needs})")
        else:
            kept.append(attack)
    if data.get("detection") is not None and kind != "admm":
        dropped.append("detection (watches ADMM agents)")
        data.pop("detection")
    if not dropped:
        return ()
    data["attacks"] = kept
    if attacked and not (data.get("sensors") or {}).get("noise"):
        data["sensors"] = {"noise": {}}  # the default noise of an attacked scenario (SensorNoise)
    return tuple(dropped)


def controlled(scenario: Scenario, c: ControllerSpec, where: str) -> Scenario:
    """`scenario` run by controller `c`, validated; an error names the scenario and the controller.
    Attacks and detection `c` cannot have are left out (`without_inapplicable`)."""
    return controlled_run(scenario, c, where)[0]


def controlled_run(scenario: Scenario, c: ControllerSpec, where: str) -> tuple[Scenario, tuple[str, ...]]:
    """`controlled`, and what of the scenario's attacks and detection was left out for `c`."""
    data: dict[str, Any] = scenario.model_dump(mode="json", exclude_unset=True)
    not_applied = without_inapplicable(data, "external" if c.program is not None else c.kind)
    section = dict(data.get("controller") or {})
    section["kind"] = c.kind
    section.pop("params", None)
    if c.params:
        section["params"] = c.params
    if c.kind == "mpc":
        section["transport"] = "inprocess"
    if c.program is not None:  # an external program takes the agents' place over MQTT
        section |= {"transport": "mqtt", "agents": "external", "batch": False}
        section.setdefault("ready_timeout_s", 60)
    if c.kind != "admm":
        data.pop("plan", None)  # only the ADMM agents track plans
    data["controller"] = section
    data.pop("outputs", None)
    try:
        return Scenario.model_validate(data), not_applied
    except ValidationError as exc:
        message = clean_message(format_errors(Path(where), exc))
        raise InputError(message.replace("invalid scenario", f"invalid scenario with controller {c.label}", 1)
                         + _hint(c)) from None


def _hint(c: ControllerSpec) -> str:
    if c.kind == "admm":
        return ("\n(ADMM needs a `controller.admm` section and grid.transformer_limit_kw in the scenario; "
                "the files in scenarios/bench/ have both)")
    if c.kind == "mpc":
        return ("\n(MPC needs a `controller.mpc` section in the scenario; the files in scenarios/bench/ "
                "have one)")
    return ""


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the source of every package that decides a run's results (not the bench or CLI code)."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in RUN_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(NOT_RUN_CODE):
                continue
            digest.update(rel.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _source_hash(kind: str, program: str | None) -> str:
    """The plug-in's or external program's own source (outside the project's packages)."""
    file: str | None = program
    if file is None and ":" in kind:
        import inspect

        from controllers.plugin import controller_class

        try:
            file = inspect.getsourcefile(controller_class(kind))
        except TypeError:
            file = None
    if not file or not Path(file).is_file():
        return ""
    return hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16]


def run_key(data: dict[str, Any], c: ControllerSpec) -> str:
    """Cache key: the scenario as run (controller and its parameters included), the controller's own
    source, and the code version."""
    key = {"scenario": data, "source": _source_hash(c.kind, c.program), "code": code_version()}
    payload = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _load_case(case: ScenarioCase, where: str) -> Scenario:
    try:
        scenario = load_scenario(case.file)
    except ScenarioError as exc:
        raise InputError(str(exc)) from None
    if case.changes:
        scenario = apply_overrides(scenario, list(case.changes), case.file, f"{where}: {case.label}")
    return scenario


def resolve(suite: str, controllers_text: str | None) -> Bench:
    """A shipped suite's name or a suite/sweep file, and the `--controllers` list, as runs."""
    path = Path(suite)
    sweep_controllers: Any = None
    if suite in suite_names():
        entry = _read_yaml(SUITES_FILE)["suites"][suite]
        cases = _cases(entry.get("scenarios"), SUITES_FILE.parent, f"{SUITES_FILE} suites.{suite}")
        name = suite
    elif path.suffix in (".yaml", ".yml") and path.is_file():
        data = _read_yaml(path)
        if "sweep" in data:
            cases = _sweep_cases(data["sweep"], path.parent, str(path))
            sweep_controllers = data["sweep"].get("controllers")
        else:
            cases = _cases(data.get("scenarios"), path.parent, str(path))
        name = path.stem
    else:
        raise InputError(f"SUITE {suite}: not a suite ({', '.join(suite_names())}) nor a suite or sweep "
                         "YAML file")
    if controllers_text is None:
        if isinstance(sweep_controllers, list):
            controllers_text = ",".join(str(c) for c in sweep_controllers)
        else:
            controllers_text = ",".join(BUILTIN)
    base = path.parent.resolve() if sweep_controllers is not None and path.is_file() else None
    controllers, added = with_baseline(parse_controllers(controllers_text, base))
    from cosim.scenario.checks import check_scenario

    runs = []
    for case in cases:
        scenario = _load_case(case, f"SUITE {suite}")
        for c in controllers:
            run, not_applied = controlled_run(scenario, c, str(case.file))
            check_scenario(run, f"{case.file} ({case.label}, controller {c.label})")  # as `cosim run` would
            data = run.model_dump(mode="json")
            runs.append(RunSpec(case.label, c.label, data, run_key(data, c), c.program, case.variant,
                                not_applied))
    return Bench(name, runs, controllers, cases, added)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")[:60] or "x"
