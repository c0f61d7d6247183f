"""The hooks of an ADMM controller (as pandapower's `BasicCtrl`, one method per phase of a round).

An agent answers each `CoordinatorBroadcast` with a `LocalUpdate` (`local_update`) and, after the
last round, turns the coordinator's `StepDecision` into setpoints (`finalize_step`). The
coordinator turns the updates that arrived into the next broadcast (`coordinate`), reports its
`residuals` and whether the round `is_converged`. Transports (in-process loop, MQTT) only move
these messages; they never look inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from controllers.admm.messages import AgentPlan, CoordinatorBroadcast, LocalUpdate, Residuals, StepDecision


class AgentBase(ABC):
    """One ADMM agent."""

    name: str

    @abstractmethod
    def local_update(self, broadcast: CoordinatorBroadcast) -> LocalUpdate:
        """Solve the local problem for this round."""

    @abstractmethod
    def finalize_step(self, decision: StepDecision) -> AgentPlan:
        """The plan (and setpoints) to apply after the last round."""


class CoordinatorBase(ABC):
    """The coordinator of the shared constraints."""

    @abstractmethod
    def initial_broadcast(self) -> CoordinatorBroadcast:
        """The broadcast that opens the first round of the current control step."""

    @abstractmethod
    def coordinate(self, updates: Sequence[LocalUpdate]) -> CoordinatorBroadcast:
        """z- and u-updates from the updates that arrived (stale values reused for the rest)."""

    @abstractmethod
    def residuals(self) -> Residuals:
        """Residuals of the last round."""

    @abstractmethod
    def is_converged(self) -> bool:
        """Whether the last round met both tolerances with every agent fresh."""
