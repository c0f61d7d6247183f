"""Topology of a district heating network and a builder for a parametric district. Pure NumPy.

A network is a tree rooted at the heating plant (node 0). Every other node has one parent and is
fed by the street segment (parent → node); the segment carries a supply pipe and a return pipe of
the same length, inner diameter and heat-loss coefficient. Substations (the buildings' heat
exchangers) sit at nodes; a node may carry none (a street junction).

`build_district` lays out a branched street network: a main street (the trunk) leaves the plant;
side streets branch off it at evenly spaced junctions and carry the substations one after another.
Pipe diameters are sized from the design flow each segment carries (smallest standard diameter
whose velocity stays under `v_design_m_s`), the loss coefficient follows the diameter
(`u_w_per_mk = 0.12 + 0.0017 · d_mm`, close to EN 253 series-2 pre-insulated pipes buried at 1 m,
per pipe). Units: lengths in m, diameters in mm, powers in kW, temperatures in °C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# inner diameters (mm) of the standard steel pipes the builder chooses from (DN20 … DN300)
STANDARD_DIAMETERS_MM = (21.7, 28.5, 37.2, 43.1, 54.5, 70.3, 82.5, 107.1, 132.5, 160.3, 210.1, 263.0, 312.7)
CP_DESIGN_J_KGK = 4185.0
RHO_DESIGN_KG_M3 = 983.0


def loss_coefficient_w_per_mk(inner_diameter_mm: float | np.ndarray) -> np.ndarray:
    """Heat-loss coefficient per metre of one buried pre-insulated pipe (W/(m·K))."""
    return np.asarray(0.12 + 0.0017 * np.asarray(inner_diameter_mm, dtype=float))


@dataclass(frozen=True)
class Topology:
    """A tree of street segments. Node 0 is the plant; segment k feeds node k + 1 from
    `parent[k]` (< k + 1). Arrays per segment: `length_m`, `diameter_mm` (inner), `u_w_per_mk`
    (per pipe; supply and return alike). Per substation: `substation_node`, `design_kw` (heat load
    at the design outdoor temperature), `street` (the side street it is on, for clustering)."""

    parent: tuple[int, ...]
    length_m: tuple[float, ...]
    diameter_mm: tuple[float, ...]
    u_w_per_mk: tuple[float, ...]
    substation_node: tuple[int, ...]
    design_kw: tuple[float, ...]
    street: tuple[int, ...]

    def __post_init__(self) -> None:
        n_seg = len(self.parent)
        for name in ("length_m", "diameter_mm", "u_w_per_mk"):
            if len(getattr(self, name)) != n_seg:
                raise ValueError(f"topology: {name} has {len(getattr(self, name))} values, need {n_seg}")
        for k, p in enumerate(self.parent):
            if not 0 <= p <= k:
                raise ValueError(f"topology: segment {k} feeds node {k + 1} from node {p}; "
                                 f"a parent must be an earlier node (0 … {k})")
        if min(self.length_m, default=1.0) <= 0 or min(self.diameter_mm, default=1.0) <= 0:
            raise ValueError("topology: pipe lengths and diameters must be positive")
        if min(self.u_w_per_mk, default=0.0) < 0:
            raise ValueError("topology: u_w_per_mk must be >= 0")
        n_sub = len(self.substation_node)
        if n_sub == 0:
            raise ValueError("topology: need at least one substation")
        if len(self.design_kw) != n_sub or len(self.street) != n_sub:
            raise ValueError("topology: design_kw and street need one value per substation")
        if any(not 1 <= node <= n_seg for node in self.substation_node):
            raise ValueError(f"topology: substations must sit at nodes 1 … {n_seg}")
        if min(self.design_kw) <= 0:
            raise ValueError("topology: design_kw must be positive")

    @property
    def n_nodes(self) -> int:
        return len(self.parent) + 1

    @property
    def n_segments(self) -> int:
        return len(self.parent)

    @property
    def n_substations(self) -> int:
        return len(self.substation_node)

    @property
    def total_length_m(self) -> float:
        return float(sum(self.length_m))

    def water_volume_m3(self) -> np.ndarray:
        """Water volume of one pipe of every segment (m³)."""
        d_m = np.asarray(self.diameter_mm) / 1e3
        return np.asarray(math.pi / 4.0 * d_m**2 * np.asarray(self.length_m))


def downstream_design_kw(parent: Sequence[int], substation_node: Sequence[int],
                         design_kw: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Design load (kW) and number of substations downstream of every segment."""
    n_seg = len(parent)
    load = np.zeros(n_seg + 1)
    count = np.zeros(n_seg + 1)
    np.add.at(load, np.asarray(substation_node, dtype=int), np.asarray(design_kw, dtype=float))
    np.add.at(count, np.asarray(substation_node, dtype=int), 1.0)
    for k in range(n_seg - 1, -1, -1):  # children come after their parents
        load[parent[k]] += load[k + 1]
        count[parent[k]] += count[k + 1]
    return load[1:], count[1:]


def simultaneity(n_downstream: np.ndarray) -> np.ndarray:
    """Share of the summed design loads that a segment carries at once (1 for one building,
    tending to 0.5 for many): 0.5 + 0.5 / sqrt(n)."""
    return np.asarray(0.5 + 0.5 / np.sqrt(np.maximum(n_downstream, 1.0)))


def size_diameters_mm(segment_kw: np.ndarray, dt_design_k: float, v_design_m_s: float) -> np.ndarray:
    """Smallest standard inner diameter whose velocity at the segment's design flow stays at or
    below `v_design_m_s` (the largest standard diameter if none does)."""
    m_kg_s = segment_kw * 1e3 / (CP_DESIGN_J_KGK * dt_design_k)
    d_needed_m = np.sqrt(4.0 * m_kg_s / (RHO_DESIGN_KG_M3 * math.pi * v_design_m_s))
    standard = np.asarray(STANDARD_DIAMETERS_MM)
    index = np.searchsorted(standard / 1e3, d_needed_m, side="left")
    return standard[np.minimum(index, len(standard) - 1)]


def build_district(
    n_substations: int,
    total_length_m: float,
    *,
    design_kw: float | Sequence[float] = 15.0,
    n_streets: int | None = None,
    trunk_share: float = 0.3,
    dt_design_k: float = 30.0,
    v_design_m_s: float = 1.0,
) -> Topology:
    """A branched street district with `n_substations` substations and `total_length_m` of
    street (supply and return pipes both run along every metre).

    The trunk takes `trunk_share` of the length, split evenly between its `n_streets` segments;
    side street s (0-based) branches off trunk junction s + 1 and carries its substations evenly
    spaced, the rest of the length split evenly between all side-street segments. `n_streets`
    defaults to round(sqrt(n)); substations are dealt to the streets in turn."""
    if n_substations < 1:
        raise ValueError(f"n_substations must be >= 1, got {n_substations}")
    if total_length_m <= 0:
        raise ValueError(f"total_length_m must be positive, got {total_length_m}")
    if not 0 < trunk_share < 1:
        raise ValueError(f"trunk_share must lie in (0, 1), got {trunk_share}")
    streets = n_streets if n_streets is not None else max(1, round(math.sqrt(n_substations)))
    if not 1 <= streets <= n_substations:
        raise ValueError(f"n_streets must lie in 1 … n_substations ({n_substations}), got {streets}")
    loads = np.broadcast_to(np.asarray(design_kw, dtype=float), (n_substations,)).copy()
    street_of = np.arange(n_substations) % streets
    parent: list[int] = []
    trunk_nodes = [0]
    for _ in range(streets):  # trunk junctions are nodes 1 … streets
        parent.append(trunk_nodes[-1])
        trunk_nodes.append(len(parent))
    n_trunk = len(parent)
    substation_node = np.zeros(n_substations, dtype=int)
    for s in range(streets):
        previous = trunk_nodes[s + 1]
        for i in np.flatnonzero(street_of == s):
            parent.append(previous)
            previous = len(parent)
            substation_node[i] = previous
    n_side = len(parent) - n_trunk
    length = np.empty(len(parent))
    length[:n_trunk] = trunk_share * total_length_m / n_trunk
    length[n_trunk:] = (1.0 - trunk_share) * total_length_m / n_side
    seg_kw, seg_count = downstream_design_kw(parent, substation_node.tolist(), loads.tolist())
    diameter = size_diameters_mm(seg_kw * simultaneity(seg_count), dt_design_k, v_design_m_s)
    return Topology(
        parent=tuple(parent),
        length_m=tuple(length.tolist()),
        diameter_mm=tuple(diameter.tolist()),
        u_w_per_mk=tuple(loss_coefficient_w_per_mk(diameter).tolist()),
        substation_node=tuple(substation_node.tolist()),
        design_kw=tuple(loads.tolist()),
        street=tuple(street_of.tolist()),
    )


def segment_street(topology: Topology) -> np.ndarray:
    """Side street of every segment (-1 for segments no substation hangs below alone: the trunk).
    A segment belongs to street s when every substation downstream of it is on street s."""
    n_seg = topology.n_segments
    streets: list[set[int]] = [set() for _ in range(n_seg + 1)]
    for node, street in zip(topology.substation_node, topology.street, strict=True):
        streets[node].add(street)
    for k in range(n_seg - 1, -1, -1):
        streets[topology.parent[k]] |= streets[k + 1]
    return np.array([next(iter(s)) if len(s) == 1 else -1 for s in streets[1:]], dtype=int)
