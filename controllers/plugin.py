"""Controller plug-ins: a small base class, a typed parameter model per kind, and one registry.

A plug-in controls one building. Write a subclass of `BuildingController` with a `Params` model
(pydantic, the kind's parameters as the scenario gives them under `controller.params`) and a
`step` that turns a `BuildingMeasurement` into `BuildingSetpoints`:

    class PeakShaver(BuildingController):
        class Params(ControllerParams):
            import_limit_kw: PositiveFloat = 3.0

        params: Params

        def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
            excess_kw = m.p_kw - self.params.import_limit_kw
            return BuildingSetpoints(battery_p_kw=-excess_kw if excess_kw > 0 else None)

A scenario names it by `controller.kind`:
- a built-in or registered name (`none`, `rule_based`, or one given to `register_controller`),
- an installed package's entry point in the group `urban_cosim.controllers`,
- `package.module:Class` (importable), or `path/to/file.py:Class` (relative to the scenario file).

`controller_class` resolves any of these before a run starts (`cosim validate` does it too), so a
missing module, a typo in the class name or a class that is no `BuildingController` is an error
naming the kind, never a failure in the middle of a run. The same class decides in process and
inside an MQTT agent (`controllers.baseline_agent`), on the same measurement: the decisions are
identical whatever the transport.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from controllers.measurements import BuildingMeasurement, BuildingSetpoints

__all__ = [
    "ENTRY_POINT_GROUP", "BuildingController", "ControllerContext", "ControllerError", "ControllerParams",
    "build_controller", "controller_class", "controller_kinds", "is_path_kind", "params_error_lines",
    "register_controller", "resolve_kind_path", "validate_params",
]

ENTRY_POINT_GROUP = "urban_cosim.controllers"


class ControllerError(ValueError):
    """A controller kind that cannot be used, or parameters it does not accept (the message says why)."""


class ControllerParams(BaseModel):
    """Base of every kind's parameter model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ControllerContext:
    """What a controller knows about its place in the run: its agent (building or storage unit)
    name, the control step in seconds, and its role: "building" (a building, with its battery and
    tank when it has them) or "storage" (a standalone storage unit, which sees the district's net
    load; see `controllers.measurements`)."""

    agent_id: str
    step_s: int
    role: Literal["building", "storage"] = "building"


class BuildingController(ABC):
    """One building's controller. Subclass it, give it a `Params` model and a `step`.

    `params` holds the validated parameters (an instance of `Params`), `context` the agent's name
    and control step. `step` is called once per control step with the building's measurement and
    returns its setpoints (None fields: not set). Keep state on `self` if you need it (one
    instance per building, for the whole run).
    """

    kind: ClassVar[str] = ""
    Params: ClassVar[type[ControllerParams]] = ControllerParams

    def __init__(
        self, params: ControllerParams | None = None, context: ControllerContext | None = None
    ) -> None:
        self.params = params if params is not None else self.Params()
        self.context = context if context is not None else ControllerContext("building", 0)

    @classmethod
    def build(cls, params: ControllerParams, context: ControllerContext) -> BuildingController:
        """A controller of this kind from its validated parameters (override for another constructor)."""
        return cls(params, context)

    @abstractmethod
    def step(self, m: BuildingMeasurement) -> BuildingSetpoints:
        """Setpoints for measurement `m`."""


_BUILTIN: dict[str, str] = {
    "none": "controllers.baseline:NoControl",
    "rule_based": "controllers.baseline:RuleBased",
}
_REGISTERED: dict[str, str | type[BuildingController]] = {}
_LOADED: dict[str, type[BuildingController]] = {}


def register_controller(kind: str, target: str | type[BuildingController], *, replace: bool = False) -> None:
    """Register `target` (a `BuildingController` subclass or "module:Class") under the name `kind`."""
    if ":" in kind or not kind:
        raise ControllerError(f"controller kind name {kind!r}: use a plain name (no ':')")
    if not replace and (kind in _BUILTIN or kind in _REGISTERED):
        raise ControllerError(f"controller kind {kind!r} is already registered")
    _REGISTERED[kind] = target
    _LOADED.pop(kind, None)


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def controller_kinds() -> tuple[str, ...]:
    """The names a scenario can use without `module:Class`: built-in, registered, entry points."""
    return tuple(sorted({*_BUILTIN, *_REGISTERED, *_entry_points()}))


def is_path_kind(kind: str) -> bool:
    """True for `path/to/file.py:Class` (as opposed to a name or `package.module:Class`)."""
    module, sep, _ = kind.rpartition(":")
    return bool(sep) and module.endswith(".py")


def resolve_kind_path(kind: str, base: Path) -> str:
    """`file.py:Class` with a relative file made absolute against `base` (the scenario's folder)."""
    if not is_path_kind(kind):
        return kind
    file, _, name = kind.rpartition(":")
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = (base / path).resolve()
    return f"{path}:{name}"


def _load_file(file: str) -> ModuleType:
    path = Path(file)
    if not path.is_file():
        raise ControllerError(f"controller file {file} not found")
    # one module per file, named after its path, so two files called alike do not collide
    name = f"urban_cosim_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ControllerError(f"controller file {file} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ControllerError(
            f"controller file {file} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _import_target(kind: str, target: str) -> object:
    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        names = ", ".join(repr(k) for k in sorted({*controller_kinds(), "admm"}))
        raise ControllerError(
            f"unknown controller kind {kind!r}; allowed: {names}, or a plug-in as "
            "'package.module:Class' or 'path/to/file.py:Class'"
        )
    if module_name.endswith(".py"):
        module = _load_file(module_name)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ControllerError(f"controller kind {kind!r}: cannot import {module_name!r} ({exc})") from exc
        except Exception as exc:
            raise ControllerError(
                f"controller kind {kind!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ControllerError(f"controller kind {kind!r}: {module_name} has no {attr!r}") from None


def controller_class(kind: str) -> type[BuildingController]:
    """The class of `kind` (see the module docstring for the forms); `ControllerError` if it cannot be had."""
    cached = _LOADED.get(kind)
    if cached is not None:
        return cached
    target: object
    if kind in _REGISTERED:
        target = _REGISTERED[kind]
        if isinstance(target, str):
            target = _import_target(kind, target)
    elif kind in _BUILTIN:
        target = _import_target(kind, _BUILTIN[kind])
    elif ":" not in kind and kind in (points := _entry_points()):
        try:
            target = points[kind].load()
        except Exception as exc:
            raise ControllerError(f"controller kind {kind!r} (entry point) failed to load: {exc}") from exc
    else:
        target = _import_target(kind, kind)
    if not (isinstance(target, type) and issubclass(target, BuildingController)):
        raise ControllerError(
            f"controller kind {kind!r} is {target!r}, not a subclass of controllers.plugin.BuildingController"
        )
    if not (isinstance(target.Params, type) and issubclass(target.Params, BaseModel)):
        raise ControllerError(f"controller kind {kind!r}: its Params must be a pydantic model")
    _LOADED[kind] = target
    return target


def params_error_lines(exc: ValidationError) -> list[str]:
    """One `field: message` line per problem of a parameter model's validation."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(parameters)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown parameter"
        elif err["type"] == "missing":
            message = "required parameter is missing"
        lines.append(f"{where}: {message}")
    return lines


def validate_params(kind: str, params: Mapping[str, Any]) -> ControllerParams:
    """`params` validated against the `Params` model of `kind`; `ControllerError` naming each field."""
    cls = controller_class(kind)
    try:
        return cls.Params.model_validate(dict(params))
    except ValidationError as exc:
        allowed = ", ".join(cls.Params.model_fields) or "none"
        raise ControllerError(
            "; ".join(params_error_lines(exc)) + f" (parameters of kind {kind!r}: {allowed})"
        ) from None


def build_controller(kind: str, params: Mapping[str, Any], context: ControllerContext) -> BuildingController:
    """A controller of `kind` for one building, with `params` validated."""
    return controller_class(kind).build(validate_params(kind, params), context)
