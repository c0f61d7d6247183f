"""The errors a user can cause, and the exit codes of the `cosim` command (docs/cli.md).

Every mistake a user can make (a scenario field, a data file, a command-line option, a results
folder, a broker that is not there) ends the command with one message that names the file, field
or option and what to change, and a documented exit code; never with a traceback (`--debug` shows
one). `user_error` maps the platform's own error types onto these classes, so the command line
needs one `except` for all of them.
"""

from __future__ import annotations

import re
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of `cosim` (the table in docs/cli.md and `cosim --help`)."""

    OK = 0
    INTERNAL = 1  # a bug in the platform: please report it, with the output of --debug
    INPUT = 2  # a scenario, data file, plan file, command-line option or results folder to correct
    UNREACHABLE = 3  # a broker, agent or external device that was not there or did not answer
    NO_SOLUTION = 4  # `cosim plan`: the planning problem has no solution (infeasible, unbounded, stopped)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: the finished steps are kept


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 2 something to correct in the scenario, a data file or the command line "
    "(the message names it); 3 a broker, agent or external device did not answer; 4 (cosim plan) the "
    "planning problem has no solution (the message names what to change); 130 interrupted (the "
    "finished steps are kept); 1 an internal error (rerun with --debug and report it)."
)


class CosimError(Exception):
    """A problem the user can fix; `str()` is the whole message."""

    exit_code: ExitCode = ExitCode.INPUT


class InputError(CosimError):
    """Something to correct in a scenario, data file, option or results folder (exit code 2)."""

    exit_code = ExitCode.INPUT


class UnreachableError(CosimError):
    """A broker, agent or device that was not there or did not answer in time (exit code 3)."""

    exit_code = ExitCode.UNREACHABLE


class NoSolutionError(CosimError):
    """A planning problem without a solution: infeasible, unbounded, or the solver stopped before
    it found one (exit code 4); the message names what to change in the case."""

    exit_code = ExitCode.NO_SOLUTION


def no_solution(exc: BaseException, source: str = "the case") -> NoSolutionError | None:
    """The planner's "no solution" errors (`planner.hub.errors`) as a `NoSolutionError` whose
    message ends with what to change in `source` (the case file or folder); None for any other
    error."""
    from planner.hub.errors import PlannerInfeasibleError, PlannerSolverError, PlannerUnboundedError

    if isinstance(exc, PlannerInfeasibleError):
        hint = (f"Change {source} so that every demand can be met: raise the max_capacity of a technology "
                "that serves it, raise or remove grid.max_import_kw, enlarge roof_area_m2, or lower the "
                "demand.")
    elif isinstance(exc, PlannerUnboundedError):
        hint = (f"Change {source}: give the named technologies a max_capacity, cap the grid import "
                "(grid.max_import_kw) or correct the prices that pay for consumption.")
    elif isinstance(exc, PlannerSolverError):
        hint = "Give the solver more time (--time-limit), or plan fewer policies or a shorter case at once."
    else:
        return None
    return NoSolutionError(f"the planning problem has no solution: {clean_message(str(exc))}\n{hint}")


def user_error(exc: BaseException) -> CosimError | None:
    """`exc` as a user error if it is one of the platform's error types for bad input or an
    unreachable peer, else None (an internal error)."""
    from controllers.runtime.broker_url import BrokerUrlError
    from cosim.plans.handdown import PlanError
    from cosim.results.writer import ResultsExistError
    from cosim.scenario.model import ScenarioError
    from planner.hub.errors import PlannerInputError
    from simulators.sources.series import SeriesError

    if isinstance(exc, CosimError):
        return exc
    if isinstance(exc, PlannerInputError):
        return InputError(clean_message(str(exc)))
    unsolved = no_solution(exc)
    if unsolved is not None:
        return unsolved
    if isinstance(exc, ScenarioError | PlanError | SeriesError | ResultsExistError | BrokerUrlError):
        return InputError(clean_message(str(exc)))
    if isinstance(exc, ConnectionError | TimeoutError):
        return UnreachableError(clean_message(str(exc)))
    if isinstance(exc, RuntimeError) and _NOT_THERE.search(str(exc)):
        # agents or devices that never came: cosim.mqtt.plane raises RuntimeError for them
        return UnreachableError(clean_message(str(exc)))
    return None


_NOT_THERE = re.compile(r"did not come online|never answered")


def clean_message(text: str) -> str:
    """A message without pydantic's "Value error, " prefixes (the user did not write Python)."""
    return text.replace("Value error, ", "").replace("Assertion failed, ", "")
