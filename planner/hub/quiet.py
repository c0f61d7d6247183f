"""Keep HiGHS's start-up banner off the user's console.

highspy prints "Running HiGHS … Copyright …" to the C-level standard output the first time a
``Highs`` object is created in a process, whatever the output options (cvxpy creates one before it
sets them). :func:`silence_highs_banner` creates that first object with file descriptor 1 pointed
at the null device, once per process; the solver's own log (``SolverOptions(verbose=True)``) is
unaffected.
"""

from __future__ import annotations

import functools
import os
import sys


@functools.cache
def silence_highs_banner() -> None:
    """Create the process's first ``highspy.Highs`` with standard output discarded (idempotent)."""
    import highspy

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (an embedded interpreter): nothing to keep clean
        highspy.Highs()  # type: ignore[no-untyped-call]
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
