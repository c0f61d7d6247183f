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
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: the finished steps are kept


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 2 something to correct in the scenario, a data file or the command line "
    "(the message names it); 3 a broker, agent or external device did not answer; 130 interrupted "
    "(the finished steps are kept); 1 an internal error (rerun with --debug and report it)."
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


def user_error(exc: BaseException) -> CosimError | None:
    """`exc` as a user error if it is one of the platform's error types for bad input or an
    unreachable peer, else None (an internal error)."""
    from controllers.runtime.broker_url import BrokerUrlError
    from cosim.plans.handdown import PlanError
    from cosim.results.writer import ResultsExistError
    from cosim.scenario.model import ScenarioError
    from simulators.sources.series import SeriesError

    if isinstance(exc, CosimError):
        return exc
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
