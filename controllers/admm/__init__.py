"""Sharing ADMM (Boyd et al. 2011, §7.3) for district control, independent of the transport.

Agents (`AdmmAgent`) solve their local QP with OSQP; the `Coordinator` handles the shared grid
constraints; one round = `CoordinatorBroadcast` → `LocalUpdate` messages. `run_control_step` is the
in-process transport. See docs/admm.md.
"""

from controllers.admm.agent import AdmmAgent, LocalQp, OsqpSettings, SolverFailure
from controllers.admm.base import AgentBase, CoordinatorBase
from controllers.admm.coordinator import AdmmSettings, Coordinator
from controllers.admm.coupling import Coupling
from controllers.admm.data import AgentData, Battery, SharedLimits, ThermalModel, VoltageSensitivity
from controllers.admm.local_qp import QpLayout, QpMatrices, build_local_qp
from controllers.admm.messages import (
    AgentPlan,
    CoordinatorBroadcast,
    Fallback,
    IterationRecord,
    LocalUpdate,
    Residuals,
    StepDecision,
    from_dict,
    to_dict,
)
from controllers.admm.runner import LateDelivery, StepResult, build_agents, run_control_step

__all__ = [
    "AdmmAgent",
    "AdmmSettings",
    "AgentBase",
    "AgentData",
    "AgentPlan",
    "Battery",
    "Coordinator",
    "CoordinatorBase",
    "CoordinatorBroadcast",
    "Coupling",
    "Fallback",
    "IterationRecord",
    "LateDelivery",
    "LocalQp",
    "LocalUpdate",
    "OsqpSettings",
    "QpLayout",
    "QpMatrices",
    "Residuals",
    "SharedLimits",
    "SolverFailure",
    "StepDecision",
    "StepResult",
    "ThermalModel",
    "VoltageSensitivity",
    "build_agents",
    "build_local_qp",
    "from_dict",
    "run_control_step",
    "to_dict",
]
