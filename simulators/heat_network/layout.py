"""Topology of a district heating network and a builder for a parametric district. Pure NumPy.

A network is a tree rooted at the heating plant (node 0). Every other node has one parent and is
fed by the street segment (parent → node); the segment carries a supply pipe and a return pipe of
the same length, inner diameter and heat-loss coefficient. Substations (the buildings' heat
exchangers) sit at nodes; a node may carry none (a street junction).

`build_district` lays out a branched street network: a main street (the trunk) leaves the plant;
side streets branch off it at evenly spaced junctions and carry the substations one after another.
Pipe diameters are sized from the design flow each segment carries (smallest standard diameter
whose velocity stays under `v_design_m_s`), the loss coefficient follows the diameter: by default
the fit `u_w_per_mk = 0.12 + 0.0017 · d_mm` per pipe, which is about EN 253 insulation series 1 (the
thinnest) buried at 1 m (`en253_loss_coefficient_w_per_mk` gives 0.23 / 0.29 / 0.44 W/(m·K) for
DN50 / DN100 / DN200 in series 1, the fit 0.21 / 0.30 / 0.48); `insulation_series` 1, 2 or 3 takes
the loss coefficient of that EN 253 series instead (conduction through the standard casing and the
soil). Units: lengths in m, diameters in mm, powers in kW, temperatures in °C.
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
# EN 253 pre-insulated single pipes, for each of STANDARD_DIAMETERS_MM: the steel pipe's outer
# diameter and the casing's outer diameter in insulation series 1, 2 and 3 (mm; the standard sizes of
# the European manufacturers' catalogues, DN20 … DN300)
EN253_STEEL_OD_MM = (26.9, 33.7, 42.4, 48.3, 60.3, 76.1, 88.9, 114.3, 139.7, 168.3, 219.1, 273.0, 323.9)
EN253_CASING_MM = {
    1: (90, 90, 110, 110, 125, 140, 160, 200, 225, 250, 315, 400, 450),
    2: (110, 110, 125, 125, 140, 160, 180, 225, 250, 280, 355, 450, 500),
    3: (125, 125, 140, 140, 160, 180, 200, 250, 280, 315, 400, 500, 560),
}
# EN 15698-1 twin pipes (supply and return in one casing, DN20 … DN200; larger diameters are laid
# as single pipes): the casing's outer diameter in series 1, 2, 3 (mm) and the gap between the two
# steel pipes (mm), typical catalogue sizes
TWIN_CASING_MM = {
    1: (125, 140, 160, 160, 200, 225, 250, 315, 400, 450, 560),
    2: (140, 160, 180, 180, 225, 250, 280, 355, 450, 500, 630),
    3: (160, 180, 200, 200, 250, 280, 315, 400, 500, 560, 710),
}
TWIN_GAP_MM = (19, 19, 19, 19, 20, 20, 25, 25, 30, 30, 35)
LAMBDA_PUR_W_MK = 0.029  # polyurethane foam, aged (fresh ~0.026-0.027)
LAMBDA_SOIL_W_MK = 1.5  # moist sandy soil
COVER_M = 1.0  # soil above the casing


def loss_coefficient_w_per_mk(inner_diameter_mm: float | np.ndarray) -> np.ndarray:
    """Heat-loss coefficient per metre of one buried pre-insulated pipe (W/(m·K)): the default fit,
    about EN 253 series 1."""
    return np.asarray(0.12 + 0.0017 * np.asarray(inner_diameter_mm, dtype=float))


def en253_loss_coefficient_w_per_mk(inner_diameter_mm: float | np.ndarray, series: int) -> np.ndarray:
    """Heat-loss coefficient per metre (W/(m·K)) of one buried EN 253 single pipe of insulation
    `series` (1, 2 or 3): steady conduction through the polyurethane between the steel pipe and the
    casing and through the soil to the surface (the buried cylinder's shape factor),

        u = 1 / ( ln(D_casing / d_steel) / (2π λ_PUR) + ln(4 z / D_casing) / (2π λ_soil) ),

    z the casing axis' depth (`COVER_M` + D_casing / 2). The supply and return pipes' mutual
    influence is left out (it lowers the supply pipe's loss and raises the return pipe's by a few
    per cent). Between the standard inner diameters the coefficient is interpolated."""
    if series not in EN253_CASING_MM:
        raise ValueError(f"insulation series must be 1, 2 or 3, got {series}")
    d_steel = np.asarray(EN253_STEEL_OD_MM) / 1e3
    casing = np.asarray(EN253_CASING_MM[series]) / 1e3
    depth = COVER_M + casing / 2.0
    resistance = (np.log(casing / d_steel) / (2.0 * math.pi * LAMBDA_PUR_W_MK)
                  + np.log(4.0 * depth / casing) / (2.0 * math.pi * LAMBDA_SOIL_W_MK))
    u_standard = 1.0 / resistance
    d = np.asarray(inner_diameter_mm, dtype=float)
    return np.asarray(np.interp(d, STANDARD_DIAMETERS_MM, u_standard))


def twin_loss_coefficient_w_per_mk(inner_diameter_mm: float | np.ndarray, series: int) -> np.ndarray:
    """Symmetric heat-loss coefficient per metre and per pipe (W/(m·K)) of a buried EN 15698-1 twin
    pipe of insulation `series`: the zeroth-order multipole solution (Wallentén 1991) for two pipes
    of radius r_p, their axes ±D from the casing's axis (radius r_c), at depth z,

        u_s = 2π λ_soil / ( ln(2z / r_c) + β ln(r_c² / (2 D r_p)) + β ln(r_c⁴ / (r_c⁴ − D⁴)) ),
        β = λ_soil / λ_PUR.

    With u_s on each pipe the pair loses u_s·(T_supply − T_g) + u_s·(T_return − T_g), the twin pipe's
    total loss; the heat the supply pipe passes to the return pipe inside the casing (the
    antisymmetric part) is left out, so the supply cools a little less and the return a little
    more than in the real pipe. Above DN200 (no twin pipes) the single pipe's coefficient."""
    if series not in TWIN_CASING_MM:
        raise ValueError(f"insulation series must be 1, 2 or 3, got {series}")
    n = len(TWIN_CASING_MM[series])
    r_p = np.asarray(EN253_STEEL_OD_MM[:n]) / 2e3
    r_c = np.asarray(TWIN_CASING_MM[series]) / 2e3
    half_spacing = r_p + np.asarray(TWIN_GAP_MM) / 2e3
    beta = LAMBDA_SOIL_W_MK / LAMBDA_PUR_W_MK
    depth = COVER_M + r_c
    denominator = (np.log(2.0 * depth / r_c) + beta * np.log(r_c**2 / (2.0 * half_spacing * r_p))
                   + beta * np.log(r_c**4 / (r_c**4 - half_spacing**4)))
    u_twin = 2.0 * math.pi * LAMBDA_SOIL_W_MK / denominator
    d = np.asarray(inner_diameter_mm, dtype=float)
    twin = np.interp(d, STANDARD_DIAMETERS_MM[:n], u_twin)
    return np.asarray(np.where(d <= STANDARD_DIAMETERS_MM[n - 1], twin,
                               en253_loss_coefficient_w_per_mk(d, series)))


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
    insulation_series: int | None = None,
    twin_pipes: bool = False,
) -> Topology:
    """A branched street district with `n_substations` substations and `total_length_m` of
    street (supply and return pipes both run along every metre).

    The trunk takes `trunk_share` of the length, split evenly between its `n_streets` segments;
    side street s (0-based) branches off trunk junction s + 1 and carries its substations evenly
    spaced, the rest of the length split evenly between all side-street segments. `n_streets`
    defaults to round(sqrt(n)); substations are dealt to the streets in turn. `insulation_series`
    None: the pipes' loss coefficient from the default fit (about EN 253 series 1); 1, 2 or 3: from
    `en253_loss_coefficient_w_per_mk` of that series; `twin_pipes`: supply and return in one casing
    up to DN200 (`twin_loss_coefficient_w_per_mk`, series 1 unless given)."""
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
        u_w_per_mk=tuple(pipe_loss_coefficient_w_per_mk(diameter, insulation_series, twin_pipes).tolist()),
        substation_node=tuple(substation_node.tolist()),
        design_kw=tuple(loads.tolist()),
        street=tuple(street_of.tolist()),
    )


def pipe_loss_coefficient_w_per_mk(inner_diameter_mm: float | np.ndarray, insulation_series: int | None,
                                   twin_pipes: bool) -> np.ndarray:
    """The loss coefficient `build_district` gives its pipes (see there)."""
    if twin_pipes:
        return twin_loss_coefficient_w_per_mk(inner_diameter_mm, insulation_series or 1)
    if insulation_series is None:
        return loss_coefficient_w_per_mk(inner_diameter_mm)
    return en253_loss_coefficient_w_per_mk(inner_diameter_mm, insulation_series)


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
