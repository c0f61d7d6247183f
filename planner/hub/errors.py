"""Errors raised by the hub planner, each naming the cause."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


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


def format_validation_error(source: str | Path, exc: ValidationError) -> PlannerInputError:
    """One error naming the file and, for each problem, the field path and the message."""
    lines = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {source}: {path}: {error['msg']}")
    return PlannerInputError(f"{source}: invalid input\n" + "\n".join(lines))
