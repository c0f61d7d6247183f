"""Connections may only be placed on low-voltage buses (issue 15: `Connection(bus=0)` on
kerber_landnetz_kabel_1 put a house on the 10 kV slack bus, bypassing feeder and transformer)."""

from __future__ import annotations

import pytest

from simulators.grid.model import GridModel
from simulators.grid.networks import NETWORKS, candidate_buses, connectable_buses, load_feeder
from simulators.grid.sim import GridSim

NETWORK = "kerber_landnetz_kabel_1"


def _grid() -> GridSim:
    sim = GridSim()
    sim.init("Grid-0", time_resolution=1.0, network=NETWORK, step_size=900)
    return sim


def test_a_connection_on_the_medium_voltage_slack_bus_is_refused() -> None:
    sim = _grid()
    sim.create(1, "Grid")
    expected = (r"Grid-0\.Connection_0: bus 0 of kerber_landnetz_kabel_1 is the 10 kV side of the transformer"
                r".*house connection buses 3, 5, 7")
    with pytest.raises(ValueError, match=expected):
        sim.create(1, "Connection", bus=0)
    assert sim.connections == []  # nothing half-created


def test_the_model_refuses_the_slack_bus_too() -> None:
    with pytest.raises(ValueError, match=r"connection 1: bus 0 .* not the low-voltage feeder"):
        GridModel(NETWORK, [3, 0])


def test_every_low_voltage_bus_is_accepted() -> None:
    """Not only the house connection buses: a community battery may sit at the transformer's
    low-voltage busbar (bus 1) or a cable junction."""
    sim = _grid()
    buses = connectable_buses(load_feeder(NETWORK))
    assert 0 not in buses and {1, 2, *candidate_buses(NETWORK)} <= set(buses)
    for bus in buses:
        sim.create(1, "Connection", bus=bus, kind="storage")
    assert len(sim.connections) == len(buses) == 17


# the three large Kerber feeders (village, suburban) take 3-7 s each to build and come from the same
# builder as the rural ones, with the same medium-voltage bus 0
SMALL_NETWORKS = [n for n in NETWORKS if not n.startswith(("kerber_dorfnetz", "kerber_vorstadtnetz"))]


@pytest.mark.parametrize("network", SMALL_NETWORKS)
def test_in_every_feeder_the_slack_is_the_only_bus_refused_and_houses_are_allowed(network: str) -> None:
    feeder = load_feeder(network)
    allowed = set(connectable_buses(feeder))
    refused = set(range(len(feeder.net.bus))) - allowed
    assert refused == set(feeder.net.ext_grid["bus"].tolist()) == {0}
    assert set(feeder.candidate_buses) <= allowed
    assert (feeder.net.bus["vn_kv"].iloc[sorted(allowed)] < 1.0).all()
