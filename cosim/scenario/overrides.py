"""Changes to a scenario given on the command line: `--set key=value`, `--seed`, `--duration`,
`--controller`. The changed scenario is validated like the file itself; an error names the option
and the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cosim.cli.errors import InputError, clean_message
from cosim.scenario.model import Scenario, format_errors


def _parse(change: str) -> tuple[list[str], Any]:
    key, sep, raw = change.partition("=")
    if not sep or not key.strip():
        raise InputError(
            f"--set {change}: expected KEY=VALUE, e.g. --set duration=2d or --set buildings.0.count=3"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise InputError(f"--set {change}: the value is not valid YAML ({exc})") from None
    if isinstance(value, dt.date):  # YAML reads 2024-03-20T06:00:00 as a timestamp; the scenario wants text
        value = raw.strip()
    return key.strip().split("."), value


def _put(data: dict[str, Any], keys: list[str], value: Any, change: str) -> None:
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise InputError(f"--set {change}: {where}: no item {key}; the list has {len(node)} item(s)")
            node = node[int(key)]
            continue
        if not isinstance(node, dict):
            raise InputError(f"--set {change}: {where}: not a section with keys")
        if node.get(key) is None:
            node[key] = {}
        node = node[key]
    last = keys[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise InputError(f"--set {change}: no item {last}; the list has {len(node)} item(s)")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise InputError(f"--set {change}: {'.'.join(keys[:-1])} is not a section with keys")


def _validated(data: dict[str, Any], path: Path, what: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        message = clean_message(format_errors(path, exc))
        raise InputError(message.replace("invalid scenario", f"invalid scenario with {what}", 1)) from None


def _data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data with only the keys that were set (defaults stay defaults)."""
    data: dict[str, Any] = scenario.model_dump(mode="json", exclude_unset=True)
    return data


def apply_overrides(scenario: Scenario, changes: list[str], path: Path, what: str | None = None) -> Scenario:
    """`scenario` with each `key=value` change applied (dotted keys, list items by number); errors
    name the changes as `what` (default: the --set options)."""
    data = _data(scenario)
    for change in changes:
        keys, value = _parse(change)
        _put(data, keys, value, change)
    return _validated(data, path, what or " ".join(f"--set {c}" for c in changes))


def with_controller(scenario: Scenario, kind: str, path: Path) -> Scenario:
    """The scenario with another controller kind (`--controller`), validated like the file itself."""
    if kind == "admm" and scenario.controller.admm is None:
        raise InputError(
            f"--controller admm: {path} has no `controller.admm` section, which ADMM needs (horizon and "
            "settings); add e.g. `controller: {kind: admm, admm: {horizon: 6h}}` to the file, or pass "
            "--set controller.admm.horizon=6h"
            + ("" if scenario.grid.transformer_limit_kw is not None else
               ", and the shared limit ADMM coordinates: --set grid.transformer_limit_kw=40 (kW)")
        )
    data = _data(scenario)
    controller = data.get("controller")
    data["controller"] = {**(controller if isinstance(controller, dict) else {}), "kind": kind}
    if kind != "admm":
        data.pop("plan", None)  # only the ADMM agents track plans
    return _validated(data, path, f"--controller {kind}")
