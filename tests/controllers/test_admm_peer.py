"""Peer-to-peer ADMM (no coordinator): neighbours trading shares of the transformer limit reach the
centralised optimum."""

from __future__ import annotations

import numpy as np
import pytest

from controllers.admm import AdmmAgent, AgentData, SharedLimits
from controllers.mpc import CentralisedResult, solve_centralised
from experiments.admm_peer import (
    PeerSettings,
    diameter,
    line_graph,
    neighbour_lists,
    ring_graph,
    run_peer_to_peer,
)
from experiments.synthetic_district import DistrictSpec, synthetic_district

HORIZON = 24
SETTINGS = PeerSettings(rho=0.02)


@pytest.fixture(scope="module")
def district() -> tuple[list[AgentData], SharedLimits, CentralisedResult, np.ndarray]:
    """5 buildings + 1 battery, 24 h in 1-h steps, transformer limit at 80 % of the free peak."""
    agents = synthetic_district(DistrictSpec(n_buildings=5, n_storage=1, horizon=HORIZON, seed=1))
    free = np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in agents]).sum(axis=0)
    limits = SharedLimits.transformer(0.8 * float(free.max()), HORIZON)
    return agents, limits, solve_centralised(agents, limits), free


@pytest.mark.parametrize("graph", ["line", "ring"])
def test_peer_to_peer_reaches_the_centralised_optimum(district, graph: str) -> None:  # type: ignore[no-untyped-def]
    agents, limits, central, free = district
    assert free.max() > limits.p_max_kw[0] * 1.2  # without coordination the limit is exceeded
    edges = line_graph(len(agents)) if graph == "line" else ring_graph(len(agents))
    result = run_peer_to_peer(agents, limits, edges, SETTINGS)
    assert result.converged
    gap = (result.objective - central.objective) / abs(central.objective)
    assert abs(gap) <= 1e-3, gap
    assert result.max_violation_kw <= 1e-3 * limits.p_max_kw[0]
    assert result.messages == 2 * len(edges) * result.iterations  # only neighbours talk, once a round
    np.testing.assert_allclose(result.p_net_kw.sum(axis=0), central.p_net_kw.sum(axis=0),
                               atol=0.02 * limits.p_max_kw[0])


def test_osqp_local_problems_equal_the_cvxpy_reference(district) -> None:  # type: ignore[no-untyped-def]
    """`PeerAgent` (the local QP in OSQP with the shift appended) against `ReferencePeerAgent`
    (the same problem in cvxpy): the same rounds and the same plans."""
    agents, limits, _, _ = district
    fast = run_peer_to_peer(agents, limits, ring_graph(len(agents)), SETTINGS)
    reference = run_peer_to_peer(agents, limits, ring_graph(len(agents)),
                                 PeerSettings(rho=SETTINGS.rho, reference=True))
    assert fast.iterations == reference.iterations
    assert fast.objective == pytest.approx(reference.objective, rel=1e-5)
    # a heat pump may move a few watts between hours at the same cost (the optimum is not unique there)
    np.testing.assert_allclose(fast.p_net_kw, reference.p_net_kw, atol=1e-2)


def test_more_paths_need_fewer_rounds(district) -> None:  # type: ignore[no-untyped-def]
    """Capacity travels along the edges: closing the line into a ring shortens the paths."""
    agents, limits, _, _ = district
    line = run_peer_to_peer(agents, limits, line_graph(len(agents)), SETTINGS)
    ring = run_peer_to_peer(agents, limits, ring_graph(len(agents)), SETTINGS)
    assert ring.iterations < line.iterations


def test_bad_graphs_and_shared_costs_are_refused(district) -> None:  # type: ignore[no-untyped-def]
    agents, limits, _, _ = district
    with pytest.raises(ValueError, match=r"connected.*\[3, 4, 5\]"):
        run_peer_to_peer(agents, limits, [(0, 1), (1, 2)], SETTINGS)
    with pytest.raises(ValueError, match="two different agents"):
        run_peer_to_peer(agents, limits, [(0, 0), *line_graph(len(agents))], SETTINGS)
    peak = SharedLimits.transformer(float(limits.p_max_kw[0]), HORIZON, peak_price_per_kw=0.1)
    with pytest.raises(ValueError, match="peak-import cost"):
        run_peer_to_peer(agents, peak, None, SETTINGS)


def test_tolerances_shrink_with_the_graphs_diameter(district) -> None:  # type: ignore[no-untyped-def]
    """Per-edge disagreements add up along paths: the stopping tolerances are divided by half the
    diameter (a 6-agent line: diameter 5, factor 2.5), which costs rounds and buys accuracy."""
    agents, limits, central, _ = district
    assert diameter(neighbour_lists(6, line_graph(6))) == 5
    assert diameter(neighbour_lists(6, ring_graph(6))) == 3
    scaled = run_peer_to_peer(agents, limits, line_graph(len(agents)), SETTINGS)
    plain = run_peer_to_peer(agents, limits, line_graph(len(agents)),
                             PeerSettings(rho=SETTINGS.rho, scale_tolerance_with_diameter=False))
    first_scaled, first_plain = scaled.history[0], plain.history[0]
    assert first_scaled.primal == pytest.approx(first_plain.primal)  # the same first round
    assert first_scaled.eps_primal == pytest.approx(first_plain.eps_primal / 2.5)
    assert scaled.iterations > plain.iterations

    def gap(r):  # type: ignore[no-untyped-def]
        return abs(r.objective - central.objective) / abs(central.objective)

    assert gap(scaled) <= gap(plain)
