"""The Mosquitto ACL of a secured run, derived from its principals.

Every principal gets explicit lines (no `pattern` lines with `%u`: those would hold for every user,
and revoking one then takes a deny list the ACL file does not have). An agent may publish only on
its own topics and read its own and the broadcast ones; an agent host holds the lines of every
agent it carries plus its batches; the bridge publishes measurements, forecasts, clock and its
status and reads setpoints and status; the coordinator publishes its rounds and reads the agents'
updates; the planner publishes plans; on the device plane of hardware in the loop (its own prefix),
the device bridge publishes each device's inputs and its clock, each device its outputs. The run
level is `+`: the ACL holds for every run under the prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from controllers.topics import BRIDGE_ID, Kind

__all__ = ["Principal", "Role", "acl_text"]

Role = Literal["bridge", "coordinator", "planner", "host", "agent", "device-bridge", "device"]
BROADCASTERS: frozenset[Role] = frozenset({"bridge", "coordinator", "planner", "device-bridge"})
# the device plane of hardware in the loop (cosim.mqtt.emulator: DEVICE_PREFIX, DEVICE_BRIDGE)
DEVICE_PREFIX = "ucosim-dev"
DEVICE_BRIDGE = "devices"


@dataclass(frozen=True)
class Principal:
    """A name that logs in to the broker and signs messages, with its role; a host's `agents`."""

    name: str
    role: Role
    agents: tuple[str, ...] = ()

    @property
    def broadcaster(self) -> bool:
        return self.role in BROADCASTERS


# an agent's own topics, hottest first (the order of a host's lines: see `host_lines`)
AGENT_WRITES = (Kind.ADMM_X, Kind.SETPOINT, Kind.STATUS, Kind.ALARM)
AGENT_READS = (Kind.FORECAST, Kind.MEAS, Kind.PLAN)


def _topic(prefix: str, kind: Kind, agent: str) -> str:
    return f"{prefix}/+/{kind.value}/{agent}"


def agent_lines(prefix: str, agent: str, coordinator: str) -> list[str]:
    """What one agent may publish and read."""
    return [
        *(f"topic write {_topic(prefix, kind, agent)}" for kind in AGENT_WRITES),
        *(f"topic read {_topic(prefix, kind, agent)}" for kind in AGENT_READS),
        f"topic read {_topic(prefix, Kind.CLOCK, BRIDGE_ID)}",
        f"topic read {_topic(prefix, Kind.STATUS, BRIDGE_ID)}",
        f"topic read {_topic(prefix, Kind.ADMM_Z, coordinator)}",
    ]


def coordinator_lines(prefix: str, coordinator: str) -> list[str]:
    return [
        *agent_lines(prefix, coordinator, coordinator),
        f"topic write {_topic(prefix, Kind.ADMM_Z, coordinator)}",
        f"topic write {_topic(prefix, Kind.ADMM_STATS, coordinator)}",
        f"topic read {_topic(prefix, Kind.ADMM_X, '+')}",
        f"topic read {_topic(prefix, Kind.ADMM_X_BATCH, '+')}",
    ]


def bridge_lines(prefix: str, bridge: str) -> list[str]:
    writes = [(Kind.MEAS, "+"), (Kind.MEAS_BATCH, "+"), (Kind.FORECAST, "+"), (Kind.FORECAST_BATCH, "+"),
              (Kind.CLOCK, bridge), (Kind.STATUS, bridge)]
    # the ADMM rounds too: the decision (the step's rounds) and, for the anomaly checks, the updates
    reads = [Kind.SETPOINT, Kind.STATUS, Kind.SETPOINT_BATCH, Kind.ADMM_STATS, Kind.ALARM, Kind.ADMM_Z,
             Kind.ADMM_X, Kind.ADMM_X_BATCH]
    return [
        *(f"topic write {_topic(prefix, kind, who)}" for kind, who in writes),
        *(f"topic read {_topic(prefix, kind, '+')}" for kind in reads),
    ]


def host_lines(prefix: str, host: str, agents: Sequence[str], coordinator: str) -> list[str]:
    """An agent host's lines: the union of its agents' (`agent_lines`, `coordinator_lines`) and its
    own batches (round updates, setpoints, measurements, forecasts) and status, each line once, in the order
    Mosquitto should meet them.

    Mosquitto checks a publication (and each delivery) against the user's lines in file order
    and stops at the first that allows it, so a host of N agents costs up to ~11 N topic matches
    per message written in agent order (100 agents: ~33 µs of the broker's CPU per message against
    ~7 µs for a short list). Here the lines shared by every agent come once, the coordinator's
    `read admm/x/+` (every update of a round) near the top, then kind by kind, the hottest kind first
    (`admm/x` of the ADMM rounds, then setpoints, forecasts, measurements): the same permissions,
    a third fewer lines, a round's update matched after ~N/2 lines."""
    shared = [
        f"topic write {_topic(prefix, Kind.ADMM_X_BATCH, host)}",
        f"topic write {_topic(prefix, Kind.SETPOINT_BATCH, host)}",
        f"topic read {_topic(prefix, Kind.MEAS_BATCH, host)}",
        f"topic read {_topic(prefix, Kind.FORECAST_BATCH, host)}",
        f"topic write {_topic(prefix, Kind.STATUS, host)}",
        f"topic read {_topic(prefix, Kind.CLOCK, BRIDGE_ID)}",
        f"topic read {_topic(prefix, Kind.STATUS, BRIDGE_ID)}",
        f"topic read {_topic(prefix, Kind.ADMM_Z, coordinator)}",
    ]
    if coordinator in agents:
        shared += [
            f"topic read {_topic(prefix, Kind.ADMM_X_BATCH, '+')}",
            f"topic read {_topic(prefix, Kind.ADMM_X, '+')}",
            f"topic write {_topic(prefix, Kind.ADMM_Z, coordinator)}",
            f"topic write {_topic(prefix, Kind.ADMM_STATS, coordinator)}",
        ]
    ordered = [
        *(f"topic write {_topic(prefix, kind, agent)}" for kind in AGENT_WRITES[:2] for agent in agents),
        *(f"topic read {_topic(prefix, kind, agent)}" for kind in AGENT_READS[:2] for agent in agents),
        *(f"topic write {_topic(prefix, kind, agent)}" for kind in AGENT_WRITES[2:] for agent in agents),
        *(f"topic read {_topic(prefix, kind, agent)}" for kind in AGENT_READS[2:] for agent in agents),
    ]
    return list(dict.fromkeys([*shared, *ordered]))


def device_lines(device: str) -> list[str]:
    """What an external device may publish and read on the device plane: its outputs (a `setpoint`,
    as the device plane has it) and status; its inputs (`meas`) and the device bridge's clock and
    status."""
    return [
        f"topic write {_topic(DEVICE_PREFIX, Kind.SETPOINT, device)}",
        f"topic write {_topic(DEVICE_PREFIX, Kind.STATUS, device)}",
        f"topic read {_topic(DEVICE_PREFIX, Kind.MEAS, device)}",
        f"topic read {_topic(DEVICE_PREFIX, Kind.CLOCK, DEVICE_BRIDGE)}",
        f"topic read {_topic(DEVICE_PREFIX, Kind.STATUS, DEVICE_BRIDGE)}",
    ]


def lines_of(principal: Principal, prefix: str, coordinator: str) -> list[str]:
    """The ACL lines of one principal. A host keeps the lines of a revoked agent: the broker cannot
    tell the host's agents apart, and Mosquitto would disconnect the whole host (every agent of it)
    for the revoked agent's next publication; the receivers' verifiers drop that agent's messages."""
    name = principal.name
    if principal.role == "bridge":
        return bridge_lines(prefix, name)
    if principal.role == "planner":
        return [f"topic write {_topic(prefix, Kind.PLAN, '+')}"]
    if principal.role == "coordinator":
        return coordinator_lines(prefix, name)
    if principal.role == "agent":
        return agent_lines(prefix, name, coordinator)
    if principal.role == "device-bridge":
        return bridge_lines(DEVICE_PREFIX, name)
    if principal.role == "device":
        return device_lines(name)
    return host_lines(prefix, name, principal.agents, coordinator)


def acl_text(principals: Sequence[Principal], prefix: str, coordinator: str,
             revoked: Iterable[str] = ()) -> str:
    """The ACL file: a `user` block per principal that is not revoked."""
    gone = frozenset(revoked)
    blocks = ["# generated by `cosim security init`; `cosim security revoke` rewrites it"]
    for principal in principals:
        if principal.name in gone:
            continue
        blocks.append("\n".join([f"user {principal.name}", *lines_of(principal, prefix, coordinator)]))
    return "\n\n".join(blocks) + "\n"


def roles(principals: Iterable[Principal]) -> Mapping[str, Role]:
    return {p.name: p.role for p in principals}
