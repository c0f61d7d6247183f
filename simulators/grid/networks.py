"""Registry of the low-voltage feeders the grid simulator can load, and the mapping of connections
to their buses.

A *feeder* is a `pandapower.networks` test network with its own example loads, static generators
and storage units removed: the platform attaches its own *connections* (buildings, storage units)
instead. The buses that carried loads in the original network are the *candidate buses* that
connections are mapped to, round-robin, unless a connection names its bus explicitly.

pandapower is imported when the first feeder is built, not with this module, so that
`available_networks()` is cheap (scenario validation) and the grid simulator's process connects to
mosaik quickly. Building a Kerber network element by element takes pandapower 0.3–4 s, so each
network is built once per process and deep-copied for every `load_feeder` call.

The Kerber builders draw the cable type of each house connection from Python's global `random`;
it is seeded with `BUILD_SEED` while a network is built (and restored afterwards), so every
process gets the same feeder.
"""

from __future__ import annotations

import copy
import functools
import importlib
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

NETWORKS: dict[str, str] = {
    "kerber_landnetz_freileitung_1": "pandapower.networks:create_kerber_landnetz_freileitung_1",
    "kerber_landnetz_freileitung_2": "pandapower.networks:create_kerber_landnetz_freileitung_2",
    "kerber_landnetz_kabel_1": "pandapower.networks:create_kerber_landnetz_kabel_1",
    "kerber_landnetz_kabel_2": "pandapower.networks:create_kerber_landnetz_kabel_2",
    "kerber_dorfnetz": "pandapower.networks:create_kerber_dorfnetz",
    "kerber_vorstadtnetz_kabel_1": "pandapower.networks:create_kerber_vorstadtnetz_kabel_1",
    "kerber_vorstadtnetz_kabel_2": "pandapower.networks:create_kerber_vorstadtnetz_kabel_2",
    "cigre_lv": "simulators.grid.networks:cigre_lv",
    "synthetic_lv": "pandapower.networks:create_synthetic_voltage_control_lv_network",
}
"""Network name → "module:function" building the original pandapower network (imported on use)."""
BUILD_SEED = 0


def cigre_lv() -> pandapowerNet:
    """CIGRE LV benchmark with its three closed MV bus-bus switches fused into the MV busbar.

    lightsim2grid ignores switches, so the three buses behind them are fused (pandapower does the
    same internally for closed zero-impedance switches); the bus index is then made contiguous.
    """
    import pandapower.networks as pn
    import pandapower.toolbox as pp_toolbox

    net = pn.create_cigre_network_lv()
    closed = net.switch[(net.switch["et"] == "b") & net.switch["closed"]]
    for bus, element in zip(closed["bus"], closed["element"], strict=True):
        pp_toolbox.fuse_buses(net, int(bus), [int(element)])
    net.switch = net.switch.iloc[0:0]
    pp_toolbox.create_continuous_bus_index(net)
    return net


@dataclass(frozen=True, eq=False)
class Feeder:
    """A feeder without loads, ready for connections.

    `net` is the pandapower network with no loads, static generators or storage units; its bus
    index is contiguous from 0. `candidate_buses` are the buses that carried loads in the original
    network, in the order of the original loads (each bus once).
    """

    name: str
    net: pandapowerNet
    candidate_buses: tuple[int, ...]


def available_networks() -> list[str]:
    """Names accepted by `load_feeder` and the grid simulator's `network` parameter."""
    return list(NETWORKS)


def check_network(name: str) -> None:
    """A ValueError listing the allowed names if `name` is not a known network."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; allowed: {', '.join(NETWORKS)}")


@functools.cache
def _built_feeder(name: str) -> Feeder:
    import pandapower.toolbox as pp_toolbox

    module_name, function_name = NETWORKS[name].split(":")
    build = getattr(importlib.import_module(module_name), function_name)
    state = random.getstate()
    random.seed(BUILD_SEED)
    try:
        with warnings.catch_warnings():
            # pandapower's network builders warn about their own pandas usage; nothing we can act on
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            net = build()
    finally:
        random.setstate(state)
    candidates = tuple(int(b) for b in dict.fromkeys(net.load["bus"].tolist()))
    for table in ("load", "sgen", "storage"):
        net[table] = net[table].iloc[0:0]
    pp_toolbox.clear_result_tables(net)
    if not np.array_equal(net.bus.index.to_numpy(), np.arange(len(net.bus))):
        raise RuntimeError(f"network {name!r}: bus index is not contiguous from 0")
    return Feeder(name=name, net=net, candidate_buses=candidates)


def load_feeder(name: str) -> Feeder:
    """A fresh copy of feeder `name` (a ValueError listing the allowed names if it is unknown)."""
    check_network(name)
    cached = _built_feeder(name)
    return Feeder(name=name, net=copy.deepcopy(cached.net), candidate_buses=cached.candidate_buses)


def candidate_buses(name: str) -> list[int]:
    """Buses of feeder `name` that carried loads in the original network (connection points)."""
    check_network(name)
    return list(_built_feeder(name).candidate_buses)


def auto_buses(n_connections: int, candidates: Sequence[int]) -> np.ndarray:
    """Round-robin mapping of `n_connections` connections onto `candidates` (any N is fine)."""
    if n_connections < 0:
        raise ValueError(f"n_connections must be >= 0, got {n_connections}")
    if not candidates:
        raise ValueError("no candidate buses to map connections to")
    return np.asarray(candidates, dtype=np.int64)[np.arange(n_connections) % len(candidates)]


LV_LIMIT_KV = 1.0
"""Buses below this nominal voltage are the low-voltage feeder; the others (the transformer's
medium-voltage side, the external grid's slack bus) take no connection."""


def connectable_buses(feeder: Feeder) -> list[int]:
    """The buses a connection may name: the feeder's low-voltage buses (nominal voltage below
    `LV_LIMIT_KV`) that do not hold the external grid (the slack)."""
    net = feeder.net
    slack = {int(b) for b in net.ext_grid["bus"].tolist()}
    vn_kv = net.bus["vn_kv"].to_numpy(dtype=float)
    return [int(b) for b in net.bus.index if vn_kv[int(b)] < LV_LIMIT_KV and int(b) not in slack]


def check_bus(bus: object, feeder: Feeder, where: str = "connection") -> int:
    """`bus` as a bus index a connection may use (see `connectable_buses`); a ValueError naming
    `where`, the feeder and the house connection buses otherwise. A house placed on the
    medium-voltage slack bus would bypass the feeder and the transformer."""
    n_bus = len(feeder.net.bus)
    houses = ", ".join(str(b) for b in feeder.candidate_buses)
    if not isinstance(bus, int | np.integer) or isinstance(bus, bool) or not 0 <= bus < n_bus:
        raise ValueError(f"{where}: bus {bus!r} is not a bus of {feeder.name} (buses 0 to {n_bus - 1}); "
                         f"its house connection buses are {houses}")
    if int(bus) not in connectable_buses(feeder):
        vn_kv = float(feeder.net.bus["vn_kv"].iloc[int(bus)])
        raise ValueError(f"{where}: bus {bus} of {feeder.name} is the {vn_kv:g} kV side of the transformer "
                         f"(the external grid's slack bus), not the low-voltage feeder; use a low-voltage "
                         f"bus, e.g. one of the house connection buses {houses}")
    return int(bus)


def resolve_buses(requested: Sequence[int | None], feeder: Feeder) -> np.ndarray:
    """Bus of every connection: the requested bus, or the next candidate bus round-robin for None.

    Only the connections without a bus take part in the round-robin, in their order. An explicit
    bus must be a low-voltage bus of the feeder (`check_bus`: a ValueError naming the valid buses
    otherwise).
    """
    n_auto = sum(bus is None for bus in requested)
    auto = iter(auto_buses(n_auto, feeder.candidate_buses).tolist() if n_auto else [])
    buses = np.empty(len(requested), dtype=np.int64)
    for k, bus in enumerate(requested):
        buses[k] = next(auto) if bus is None else check_bus(bus, feeder, f"connection {k}")
    return buses


def add_bus_loads(net: pandapowerNet, buses: Sequence[int]) -> None:
    """Give `net` one zero load per bus of `buses` (in that order), replacing any loads it has."""
    import pandapower as pp

    net["load"] = net["load"].iloc[0:0]
    pp.create_loads(net, buses=list(buses), p_mw=0.0, q_mvar=0.0)
