"""The small messages of one ADMM round, as frozen dataclasses (transport-agnostic).

One round: the coordinator sends a `CoordinatorBroadcast` to every agent; each agent answers with a
`LocalUpdate` (its net-power trajectory x_i). After the last round the coordinator sends a
`StepDecision` and each agent answers with its setpoints (`AgentPlan`). Arrays are NumPy in
memory; `to_dict` / `from_dict` give plain JSON-able dicts (lists of floats) for the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from typing import Any, TypeVar

import numpy as np

from controllers.admm.data import FloatArray


class Fallback(StrEnum):
    """What agents apply when ADMM did not converge in time (recorded in `StepDecision`)."""

    LAST_ITERATE = "last_iterate"
    SHIFTED_PREVIOUS = "shifted_previous"


@dataclass(frozen=True)
class CoordinatorBroadcast:
    """Coordinator → all agents, start of round `iteration` of control step `tick`.

    x_mean (x̄), z_mean (z̄) and u_scaled (u = y/ρ) are (m, T): m coupling rows (row 0 = the
    transformer, then the scaled voltage rows), T horizon steps.
    """

    tick: int
    iteration: int
    rho: float
    x_mean: FloatArray
    z_mean: FloatArray
    u_scaled: FloatArray


@dataclass(frozen=True)
class LocalUpdate:
    """Agent → coordinator: the agent's new x_i (net power at its meter over the horizon)."""

    agent: str
    tick: int
    iteration: int
    p_net_kw: FloatArray
    local_cost: float
    solve_time_s: float
    solver_iterations: int
    solver_status: str


@dataclass(frozen=True)
class Residuals:
    """Primal and dual residuals with their tolerances (Boyd et al. 2011, §3.3.1)."""

    primal: float
    dual: float
    eps_primal: float
    eps_dual: float

    @property
    def converged(self) -> bool:
        return self.primal <= self.eps_primal and self.dual <= self.eps_dual


@dataclass(frozen=True)
class IterationRecord:
    """One round as recorded by the coordinator (ρ is the value used in this round)."""

    iteration: int
    rho: float
    residuals: Residuals
    n_fresh: int
    n_stale: int
    coordinate_time_s: float
    max_solve_time_s: float
    sum_solve_time_s: float


@dataclass(frozen=True)
class StepDecision:
    """Coordinator → agents after the last round: use the ADMM result or the named fallback."""

    tick: int
    iterations: int
    converged: bool
    fallback: Fallback | None
    reason: str


@dataclass(frozen=True)
class AgentPlan:
    """An agent's plan over the horizon and the setpoints it sends to its devices.

    Timing: `battery_p_kw` applies in [t, t+Δ) (p_ch − p_dis of step 0), `hp_p_kw` and
    `tank_p_th_kw` apply from t+Δ (step 1, one step of actuation delay).
    """

    agent: str
    tick: int
    source: str
    p_net_kw: FloatArray
    p_hp_kw: FloatArray | None
    t_in_c: FloatArray | None
    t_mass_c: FloatArray | None
    p_bat_kw: FloatArray | None
    e_kwh: FloatArray | None
    simultaneous_kw: float
    local_cost: float
    q_tank_kw: FloatArray | None = None  # a hot-water tank's heat, + = charging

    @property
    def battery_p_kw(self) -> float | None:
        return None if self.p_bat_kw is None else float(self.p_bat_kw[0])

    @property
    def hp_p_kw(self) -> float | None:
        return None if self.p_hp_kw is None else float(self.p_hp_kw[1])

    @property
    def tank_p_th_kw(self) -> float | None:
        """The tank's setpoint for [t+Δ, t+2Δ) (step 1: step 0 was applied already)."""
        return None if self.q_tank_kw is None else float(self.q_tank_kw[1])


Message = TypeVar("Message", CoordinatorBroadcast, LocalUpdate, StepDecision)


def to_dict(message: CoordinatorBroadcast | LocalUpdate | StepDecision) -> dict[str, Any]:
    """A JSON-able dict (arrays as nested lists, enums as their value)."""
    out: dict[str, Any] = {}
    for f in fields(message):
        value = getattr(message, f.name)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, Enum):
            value = value.value
        out[f.name] = value
    return out


def from_dict(kind: type[Message], payload: dict[str, Any]) -> Message:
    """Inverse of `to_dict`; unknown or missing keys raise ValueError."""
    names = {f.name for f in fields(kind)}
    if set(payload) != names:
        raise ValueError(f"{kind.__name__}: expected keys {sorted(names)}, got {sorted(payload)}")
    values: dict[str, Any] = {}
    for f in fields(kind):
        value = payload[f.name]
        if isinstance(value, list):
            value = np.asarray(value, dtype=float)
        elif f.name == "fallback" and value is not None:
            value = Fallback(value)
        values[f.name] = value
    return kind(**values)
