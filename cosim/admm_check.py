"""The optimality gap of a control step: the centralised MPC of the same data, solved with cvxpy.

Enabled by `controller.admm.centralised_check` (slow: one district-wide solve per control step).
The gap is (J_admm − J_central) / |J_central| with J the sum of the agents' costs plus the shared
(peak) cost over the horizon, the same objective the coordinator reports.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from controllers.admm import AgentData, SharedLimits
from controllers.mpc import solve_centralised


def central_gap(
    data: Sequence[AgentData], limit_kw: float, peak_price_per_kw: float, admm_objective: float | None
) -> dict[str, float | None]:
    """`central_objective`, `gap` and `central_wall_ms` (None values if the solver fails)."""
    start = time.perf_counter()
    limits = SharedLimits.transformer(limit_kw, data[0].horizon, peak_price_per_kw=peak_price_per_kw)
    try:
        central = solve_centralised(data, limits).objective
    except RuntimeError:
        return {"central_objective": None, "gap": None, "central_wall_ms": None}
    gap = None if admm_objective is None else (admm_objective - central) / max(abs(central), 1e-9)
    return {"central_objective": central, "gap": gap, "central_wall_ms": (time.perf_counter() - start) * 1e3}
