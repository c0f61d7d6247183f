"""The `cosim` command line (`app`), its planner command and its errors and exit codes."""

from cosim.cli.app import app

__all__ = ["app"]
