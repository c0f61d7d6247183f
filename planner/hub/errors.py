"""Errors raised by the hub planner, each naming the cause."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError


class PlannerError(Exception):
    """Base class of the planner's errors."""


class PlannerInputError(PlannerError, ValueError):
    """Input data (case file, catalogue, policy, time series) is malformed or inconsistent."""


class PlannerInfeasibleError(PlannerError):
    """The optimisation problem has no solution; the message names the probable causes."""


class PlannerUnboundedError(PlannerError):
    """The cost can decrease without limit; the message names the probable causes."""


class PlannerSolverError(PlannerError):
    """The solver stopped without an optimal solution for another reason."""


def _models_in(annotation: Any) -> list[Any]:
    """The types an annotation may hold (members of unions, values of dicts, items of lists)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _models_in(arg)]
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    return [annotation]


def allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str] | None:
    """The field names allowed where an unknown key ``loc[-1]`` was found, or None if unknown."""
    current: list[Any] = [model]
    for part in loc[:-1]:
        following: list[Any] = []
        for candidate in current:
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                field = candidate.model_fields.get(str(part))
                if field is not None:
                    following += _models_in(field.annotation)
            elif origin is dict:
                following += _models_in(typing.get_args(candidate)[1])
            elif origin in (list, tuple) and isinstance(part, int):
                following += _models_in(typing.get_args(candidate)[0])
        current = following
    for candidate in current:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return None


def format_validation_error(source: str | Path, exc: ValidationError,
                            model: type[BaseModel] | None = None) -> PlannerInputError:
    """One error naming the file and, for each problem, the field path and the message; an unknown
    key also gets the allowed keys at its place (when ``model``, the validated class, is given)."""
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden" and model is not None:
            allowed = allowed_keys(model, tuple(error["loc"]))
            if allowed:
                message += f" (unknown key; allowed here: {', '.join(allowed)})"
        lines.append(f"  {source}: {path}: {message}")
    return PlannerInputError(f"{source}: invalid input\n" + "\n".join(lines))
