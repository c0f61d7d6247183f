"""The ACL's lines: a host's are exactly its agents' (each once), with the hot ones first."""

from __future__ import annotations

from cosim.security.acl import Principal, agent_lines, coordinator_lines, host_lines, lines_of

AGENTS = tuple(f"house-{i:03d}" for i in range(20))


def test_a_hosts_lines_are_the_union_of_its_agents_lines_each_once() -> None:
    carried = (*AGENTS, "coordinator")
    host = lines_of(Principal("agent-host", "host", carried), "ucosim", "coordinator")
    expected = {
        "topic write ucosim/+/batch/admm-x/agent-host",
        "topic write ucosim/+/batch/setpoint/agent-host",
        "topic write ucosim/+/status/agent-host",
        "topic read ucosim/+/batch/meas/agent-host",
        "topic read ucosim/+/batch/forecast/agent-host",
        *coordinator_lines("ucosim", "coordinator"),
        *(line for agent in AGENTS for line in agent_lines("ucosim", agent, "coordinator")),
    }
    assert set(host) == expected
    assert len(host) == len(set(host))  # the lines every agent shares come once
    assert len(host) == 5 + 3 + 4 + 7 * len(carried)


def test_a_hosts_hot_lines_come_first() -> None:
    """Mosquitto stops at the first line that allows a message: the coordinator's read of every
    update and the shared reads come before the per-agent lines, and a round's update (admm/x)
    before setpoints, forecasts and measurements, each kind agent by agent."""
    host = host_lines("ucosim", "agent-host", (*AGENTS, "coordinator"), "coordinator")
    assert host[0] == "topic write ucosim/+/batch/admm-x/agent-host"  # a round's batch
    assert host.index("topic read ucosim/+/batch/admm-x/+") < 10
    assert host.index("topic read ucosim/+/admm/x/+") < 10
    assert host.index("topic read ucosim/+/clock/bridge") < 10
    first_update = host.index(f"topic write ucosim/+/admm/x/{AGENTS[0]}")
    last_update = host.index(f"topic write ucosim/+/admm/x/{AGENTS[-1]}")
    assert last_update - first_update == len(AGENTS) - 1
    assert last_update < host.index(f"topic write ucosim/+/setpoint/{AGENTS[0]}")
    assert host.index(f"topic write ucosim/+/setpoint/{AGENTS[-1]}") < host.index(
        f"topic read ucosim/+/forecast/{AGENTS[0]}")
    assert host.index(f"topic read ucosim/+/meas/{AGENTS[-1]}") < host.index(
        f"topic write ucosim/+/status/{AGENTS[0]}")


def test_a_host_without_the_coordinator_cannot_read_the_updates() -> None:
    host = host_lines("ucosim", "agent-host", AGENTS, "coordinator")
    assert "topic read ucosim/+/admm/x/+" not in host
    assert "topic read ucosim/+/batch/admm-x/+" not in host
    assert "topic write ucosim/+/admm/z/coordinator" not in host
    assert "topic read ucosim/+/admm/z/coordinator" in host
