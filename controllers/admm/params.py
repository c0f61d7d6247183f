"""The parameters of the ADMM agents on MQTT, as typed models (validated when an agent is built).

They travel as JSON (`cosim.control.agents`; agent processes read them on standard input) or, for
a hand-started agent, as `--param name=value` (`python -m controllers.agent`), where the agent ids
of the coordinator may also be given comma-separated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from controllers.messages import Name

__all__ = ["AdmmAgentParams", "CoordinatorParams"]

COORDINATOR_ID = "coordinator"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _flags(cls, value: Any, info: Any) -> Any:
        """`--param queue_updates=1` arrives as the float 1.0: a flag of 0/1 is a bool."""
        field = cls.model_fields.get(info.field_name)
        is_flag = field is not None and field.annotation is bool
        if is_flag and isinstance(value, float) and value in (0.0, 1.0):
            return bool(value)
        return value


class AdmmAgentParams(_Params):
    """A building agent's: its coordinator's id; the plan it tracks (`plan_series` of the received
    `plan` message, weight `plan_weight_per_kw2`); `queue_updates`: a round's update is queued
    instead of awaiting its PUBACK (the default on every broker: the platform's MQTT session sets
    TCP_NODELAY and re-arms TCP_QUICKACK, so a broker without `set_tcp_nodelay` no longer stalls
    queued updates; `false` awaits each acknowledgement, one broker round trip per agent and round);
    `batch_updates`: on an agent host, the host sends its agents' updates to a round in one
    `batch/admm-x` message (the coordinator must list the host in its `hosts`); `local_solver`:
    the local QP solver of its warm-started rounds (`OsqpSettings.solver`: "alm", the Newton
    solver of `controllers.admm.alm_qp`, or "osqp")."""

    coordinator: Name = COORDINATOR_ID
    plan_weight_per_kw2: Annotated[float, Field(ge=0)] = 0.0
    plan_series: Name = "p_kw"
    queue_updates: bool = True
    batch_updates: bool = False
    local_solver: Literal["alm", "osqp"] = "alm"


class CoordinatorParams(_Params):
    """The coordinator's: the building agents, the shared limit and horizon (steps), the peak-import
    price, the ADMM settings (unset: `AdmmSettings`' defaults), the wait for a round's answers,
    the rounds after which a silent agent is no longer waited for (`mute_after_rounds`), the wall
    time for a step's rounds, `refresh` (the bridge sends each step's coupling map), and `hosts`
    (agent host id → the agents it carries: whose updates the coordinator takes from that host's
    `batch/admm-x` messages; a batch from a host not listed, or an entry for an agent the host does
    not carry, is dropped and counted)."""

    agents: Annotated[tuple[Name, ...], Field(min_length=1)]
    limit_kw: Annotated[float, Field(gt=0)]
    horizon: Annotated[int, Field(ge=2)]
    peak_price_per_kw: Annotated[float, Field(ge=0)] = 0.0
    rho: Annotated[float, Field(gt=0)] | None = None
    eps_abs: Annotated[float, Field(gt=0)] | None = None
    eps_rel: Annotated[float, Field(ge=0)] | None = None
    max_iterations: Annotated[int, Field(ge=1)] | None = None
    round_timeout_s: Annotated[float, Field(gt=0)] = 2.0
    mute_after_rounds: Annotated[int, Field(ge=1)] = 2
    step_deadline_s: Annotated[float, Field(gt=0)] | None = None
    refresh: bool = False
    hosts: dict[Name, tuple[Name, ...]] = {}

    @field_validator("agents", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(a for a in value.split(",") if a) if isinstance(value, str) else value

    @field_validator("horizon", "max_iterations", "mute_after_rounds", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        """`--param horizon=12` arrives as 12.0."""
        return int(value) if isinstance(value, float) and value.is_integer() else value
