"""Which agents the bridge reaches through one batch per agent host, and the check on a host's answer.

An agent host (`controllers.runtime.AgentHost`: many agents on one connection) takes the
measurements of all its agents in one `batch/meas/{host}` message, their forecasts in one
`batch/forecast/{host}`, and answers for them in `batch/setpoint/{host}` messages. The bridge
must be told which agents a host carries (`hosts`:
host id → agent ids); every other agent keeps its own `meas/{agent}` and `setpoint/{agent}`
topics (agents in processes of their own, on other machines, devices).

A run's agent hosts are named `host-0`, `host-1`, … (`host_id`), so a third party can predict the
batch topics of a run from its id: `{prefix}/{run}/batch/meas/host-0`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from controllers.topics import validate_name

Values = Mapping[str, float | None]
_V = TypeVar("_V")
PARTIAL_SHARE = 0.5  # a host publishes what it has after this share of the step's budget


def host_id(index: int, agents: Iterable[str] = ()) -> str:
    """The id of a run's `index`-th agent host: `host-{index}`, or, if an agent has that name,
    `host-{index}-1`, `host-{index}-2`, … (the first that is free). The same for the same run in
    every process, so the host's batch topics can be predicted from the run id."""
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"agent host index must be a whole number >= 0, got {index!r}")
    taken = frozenset(agents)
    name = f"host-{index}"
    suffix = 0
    while name in taken:
        suffix += 1
        name = f"host-{index}-{suffix}"
    return name


@dataclass(frozen=True)
class HostBatches:
    """The agents of each agent host (`hosts`: host id → agents) and the reverse map `host_of`."""

    hosts: Mapping[str, frozenset[str]]
    host_of: Mapping[str, str]

    @classmethod
    def of(cls, hosts: Mapping[str, Iterable[str]] | None, agents: Iterable[str]) -> HostBatches:
        """Checked: host ids are valid names other than the agents', each carried agent is one of
        `agents` and on one host only. `ValueError` naming the offender otherwise."""
        known = frozenset(agents)
        carried: dict[str, frozenset[str]] = {}
        host_of: dict[str, str] = {}
        for host, members in (hosts or {}).items():
            validate_name(host, "agent host id")
            if host in known:
                raise ValueError(f"agent host id {host!r} is also an agent's id; give the host another name")
            members = frozenset(members)
            unknown = sorted(members - known)
            if unknown:
                raise ValueError(f"agent host {host!r} carries unknown agents {unknown[:10]}")
            for agent in members:
                if agent in host_of:
                    raise ValueError(f"agent {agent!r} is on two hosts, {host_of[agent]!r} and {host!r}")
                host_of[agent] = host
            if members:
                carried[host] = members
        return cls(carried, host_of)

    def split(self, measurements: Mapping[str, _V]) -> tuple[dict[str, dict[str, _V]], dict[str, _V]]:
        """`measurements` (agent → values; or forecasts) as (host → its agents' values, the agents
        on their own)."""
        if not self.hosts:
            return {}, dict(measurements)
        by_host: dict[str, dict[str, _V]] = {}
        alone: dict[str, _V] = {}
        host_of = self.host_of
        for agent, values in measurements.items():
            host = host_of.get(agent)
            if host is None:
                alone[agent] = values
            else:
                by_host.setdefault(host, {})[agent] = values
        return by_host, alone

    def answers_for_own_agents(self, host: str, agents: Iterable[str]) -> bool:
        """Whether every agent of a setpoint batch from `host` is one of its agents (a host answers
        only for its own: anything else drops the whole batch, as a setpoint under another
        agent's name is dropped)."""
        members = self.hosts.get(host)
        return members is not None and all(agent in members for agent in agents)
