"""The one registry of agent kinds: kind name → agent class or `"module:Class"` string.

Strings are imported only when the kind is asked for, so registering a kind costs nothing and
a broken plug-in fails with a clear message naming the kind, not at import of this module.
"""

from __future__ import annotations

import importlib
from typing import Any

from controllers.runtime.agent import Agent

_KINDS: dict[str, str | type[Agent]] = {
    "echo": "controllers.runtime.builtin:EchoAgent",
    "constant": "controllers.runtime.builtin:ConstantAgent",
    "silent": "controllers.runtime.builtin:SilentAgent",
    "baseline": "controllers.baseline_agent:BaselineAgent",
    "admm": "controllers.admm.mqtt:AdmmBuildingAgent",
    "admm-coordinator": "controllers.admm.mqtt:AdmmCoordinatorAgent",
    "admm-compromised": "controllers.admm.mqtt:CompromisedAdmmAgent",
}


def register_agent_kind(kind: str, target: str | type[Agent], *, replace: bool = False) -> None:
    """Register `target` (a class or "module:Class") under `kind`."""
    if not replace and kind in _KINDS and _KINDS[kind] != target:
        raise ValueError(f"agent kind {kind!r} is already registered as {_KINDS[kind]!r}")
    if isinstance(target, str) and target.count(":") != 1:
        raise ValueError(f"agent kind {kind!r}: target {target!r} must look like 'package.module:Class'")
    _KINDS[kind] = target


def agent_kinds() -> tuple[str, ...]:
    """Every registered kind, sorted."""
    return tuple(sorted(_KINDS))


def agent_class(kind: str) -> type[Agent]:
    """The class of `kind`; `KeyError` listing the kinds, or `ImportError` naming the target."""
    if kind not in _KINDS:
        raise KeyError(f"unknown agent kind {kind!r}; registered: {', '.join(agent_kinds())}")
    target = _KINDS[kind]
    if not isinstance(target, str):
        return target
    module_name, class_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"agent kind {kind!r} ({target}) cannot be loaded: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise TypeError(f"agent kind {kind!r} ({target}) is not a subclass of controllers.runtime.Agent")
    _KINDS[kind] = cls
    return cls


def create_agent(kind: str, agent_id: str, **params: Any) -> Agent:
    """An agent of `kind` named `agent_id`, built with `params`."""
    return agent_class(kind)(agent_id, **params)
