"""Design options of the heat network: the pipes' insulation (EN 253 series, twin pipes) against
hand calculations, and the summer bypass at the street ends only (flows, balances, return
temperatures and losses on real pandapipes solutions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulators.heat_network.layout import (
    STANDARD_DIAMETERS_MM,
    build_district,
    en253_loss_coefficient_w_per_mk,
    loss_coefficient_w_per_mk,
    twin_loss_coefficient_w_per_mk,
)
from simulators.heat_network.model import HeatNetworkModel, bypass_mask
from simulators.heat_network.params import NetworkParams

DN = np.asarray(STANDARD_DIAMETERS_MM)


def test_en253_single_pipe_by_hand() -> None:
    """DN100 (114.3 mm steel), series 1 casing 200 mm, 1 m of cover, λ_PUR 0.029, λ_soil 1.5."""
    r_ins = math.log(200 / 114.3) / (2 * math.pi * 0.029)
    r_soil = math.log(4 * (1.0 + 0.1) / 0.2) / (2 * math.pi * 1.5)
    assert en253_loss_coefficient_w_per_mk(107.1, 1) == pytest.approx(1 / (r_ins + r_soil), rel=1e-12)
    # the default fit is about series 1 (within 20 % up to DN150), not series 2
    fit, s1 = loss_coefficient_w_per_mk(DN[:10]), en253_loss_coefficient_w_per_mk(DN[:10], 1)
    assert np.all(np.abs(fit / s1 - 1) < 0.2)
    assert np.all(fit > en253_loss_coefficient_w_per_mk(DN[:10], 2))


def test_thicker_series_and_twin_pipes_lose_less() -> None:
    s1, s2, s3 = (en253_loss_coefficient_w_per_mk(DN, s) for s in (1, 2, 3))
    assert np.all(s1 > s2) and np.all(s2 > s3)
    for series, single in ((1, s1), (2, s2), (3, s3)):
        twin = twin_loss_coefficient_w_per_mk(DN, series)
        up_to_dn200 = DN <= 210.1
        assert np.all(twin[up_to_dn200] < 0.7 * single[up_to_dn200])
        assert np.all(twin[~up_to_dn200] == single[~up_to_dn200])  # no twin pipes above DN200
    with pytest.raises(ValueError, match="series"):
        en253_loss_coefficient_w_per_mk(100.0, 4)


def test_twin_pipe_by_hand() -> None:
    """DN50 twin pipe, series 1: steel 60.3 mm, casing 200 mm, 20 mm between the pipes (Wallentén's
    zeroth-order symmetric coefficient)."""
    r_p, r_c = 0.06030 / 2, 0.200 / 2
    d = r_p + 0.010
    beta = 1.5 / 0.029
    z = 1.0 + r_c
    u = 2 * math.pi * 1.5 / (math.log(2 * z / r_c) + beta * math.log(r_c**2 / (2 * d * r_p))
                             + beta * math.log(r_c**4 / (r_c**4 - d**4)))
    assert twin_loss_coefficient_w_per_mk(54.5, 1) == pytest.approx(u, rel=1e-12)


def test_the_layout_takes_the_pipes_it_is_given() -> None:
    plain = build_district(30, 3000.0, design_kw=40.0)
    series3 = build_district(30, 3000.0, design_kw=40.0, insulation_series=3)
    layout = {"n_substations": 30, "total_length_m": 3000.0, "design_kw": 40.0, "twin_pipes": True,
              "insulation_series": 2}
    twin = NetworkParams.from_dict({"layout": layout}).layout.topology(30.0)
    assert plain.diameter_mm == series3.diameter_mm == twin.diameter_mm
    assert np.allclose(plain.u_w_per_mk, loss_coefficient_w_per_mk(np.asarray(plain.diameter_mm)))
    assert np.allclose(series3.u_w_per_mk, en253_loss_coefficient_w_per_mk(np.asarray(plain.diameter_mm), 3))
    assert np.allclose(twin.u_w_per_mk, twin_loss_coefficient_w_per_mk(np.asarray(plain.diameter_mm), 2))
    with pytest.raises(ValueError, match="insulation_series"):
        NetworkParams.from_dict({"layout": {"insulation_series": 4}})


def _model(bypass: str) -> HeatNetworkModel:
    return HeatNetworkModel(NetworkParams.from_dict({
        "layout": {"n_substations": 20, "total_length_m": 3000.0, "design_kw": 60.0, "n_streets": 4},
        "control": {"bypass": bypass},
    }))


def test_bypass_at_the_street_ends_only() -> None:
    """A summer night: hot water at a few substations, none at the others. With `bypass: ends` only
    the last substation of each street keeps its least flow; the others pass what their demand
    needs (nothing without demand); the balances hold, the returns are colder and the losses lower."""
    every, ends = _model("every"), _model("ends")
    mask = bypass_mask(ends.topology, "ends")
    assert mask.sum() == 4  # one end per street
    has_child = set(ends.topology.parent)
    nodes = ends.topology.substation_node
    assert all((node not in has_child) == bool(m) for node, m in zip(nodes, mask, strict=True))
    demand = np.zeros(20)
    demand[[1, 6, 13]] = [8.0, 3.0, 5.0]
    for _ in range(3):  # settle the water's heat content
        s_every = every.step(demand, 18.0, 14.0, 1.0)
        s_ends = ends.step(demand, 18.0, 14.0, 1.0)
    assert s_every.converged and s_ends.converged
    m_min = ends.params.control.m_min_share * ends.m_design_kg_s
    inner = mask == 0
    assert np.all(s_ends.m_sub_kg_s[inner & (demand == 0)] == 0.0)
    assert np.all(s_ends.m_sub_kg_s[mask == 1] >= m_min[mask == 1] * (1 - 1e-12))
    assert np.all(s_every.m_sub_kg_s >= m_min * (1 - 1e-12))
    for s in (s_every, s_ends):
        assert s.flow.q_pump_kw == pytest.approx(float(s.q_demand_kw.sum()) + s.q_loss_kw, rel=1e-6)
        assert float(s.plant.q_source_kw.sum()) == pytest.approx(
            float(s.q_demand_kw.sum()) + s.q_loss_kw + s.q_water_kw + s.plant.p_store_kw, rel=1e-6)
    # the return: mixed at the plant, colder without the bypasses of every substation
    t_return_every = float(np.average(s_every.flow.t_sub_out_c, weights=s_every.m_sub_kg_s))
    t_return_ends = float(np.average(s_ends.flow.t_sub_out_c[s_ends.m_sub_kg_s > 0],
                                     weights=s_ends.m_sub_kg_s[s_ends.m_sub_kg_s > 0]))
    assert t_return_ends < t_return_every - 5.0
    assert s_ends.q_loss_kw < s_every.q_loss_kw
    assert s_ends.flow.m_pump_kg_s < 0.5 * s_every.flow.m_pump_kg_s
