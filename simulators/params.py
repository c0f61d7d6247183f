"""Parameter models of the simulators: building them from plain dicts with readable errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["from_dict"]

M = TypeVar("M", bound=BaseModel)


def from_dict(model: type[M], values: dict[str, Any], what: str) -> M:
    """`model` from a plain dict; `ValueError` naming each unknown key (with the allowed ones) or
    impossible value, in one message (`what`: e.g. "building parameter")."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "spec"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown {what} {where!r}; allowed: {', '.join(model.model_fields)}")
            elif err["type"] == "literal_error":
                problems.append(f"{where} must be {err['ctx']['expected']}, got {err['input']!r}")
            else:
                problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise ValueError("; ".join(problems)) from None
