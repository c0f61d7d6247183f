"""Grid model: energy conservation, backend agreement, connection mapping, failure handling."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.grid import model as grid_model
from simulators.grid.model import GridModel, resolve_backend
from simulators.grid.networks import available_networks, candidate_buses, load_feeder

FEEDERS = ["kerber_landnetz_kabel_1", "cigre_lv"]
BACKENDS = ["pandapower", "lightsim2grid"]


def _injections(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Household-sized powers with feed-in: p in [-6, 12] kW, q in [-1, 3] kvar."""
    return rng.uniform(-6.0, 12.0, n), rng.uniform(-1.0, 3.0, n)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("network", FEEDERS)
def test_energy_is_conserved_every_step(network: str, backend: str) -> None:
    model = GridModel.auto(network, 25, backend)  # type: ignore[arg-type]
    rng = np.random.default_rng(7)
    for _ in range(4):
        p_kw, q_kvar = _injections(rng, model.n_connections)
        r = model.solve(p_kw, q_kvar)
        assert r.converged, r.message
        assert r.p_connections_kw == pytest.approx(p_kw.sum(), abs=1e-9)
        balance_kw = r.p_connections_kw + r.line_losses_kw + r.trafo_losses_kw - r.p_ext_kw
        assert abs(balance_kw) <= 1e-6 * np.abs(p_kw).sum()
        assert r.losses_kw == pytest.approx(r.line_pl_kw.sum() + r.trafo_pl_kw.sum())
        assert r.line_losses_kw > 0 and r.trafo_losses_kw > 0
        assert np.all((r.v_pu > 0.8) & (r.v_pu < 1.2))
        np.testing.assert_array_equal(r.v_connection_pu, r.v_pu[model.connection_buses])


# kerber_landnetz_kabel_2's 160 kVA transformer is where lightsim2grid's "pandapower_v3" converter differed
@pytest.mark.parametrize("network", [*FEEDERS, "kerber_landnetz_kabel_2"])
def test_lightsim2grid_equals_pandapower(network: str) -> None:
    models = {b: GridModel.auto(network, 12, b) for b in BACKENDS}  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    for _ in range(3):
        p_kw, q_kvar = _injections(rng, 12)
        pp_r, ls_r = (models[b].solve(p_kw, q_kvar) for b in BACKENDS)
        np.testing.assert_allclose(ls_r.v_pu, pp_r.v_pu, rtol=0, atol=1e-6)
        np.testing.assert_allclose(ls_r.line_loading_pct, pp_r.line_loading_pct, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ls_r.trafo_loading_pct, pp_r.trafo_loading_pct, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(ls_r.line_pl_kw, pp_r.line_pl_kw, rtol=1e-6, atol=1e-9)
        assert ls_r.p_ext_kw == pytest.approx(pp_r.p_ext_kw, rel=1e-9, abs=1e-6)
        assert ls_r.q_ext_kvar == pytest.approx(pp_r.q_ext_kvar, rel=1e-9, abs=1e-6)


def test_auto_mapping_is_round_robin_over_the_load_buses() -> None:
    candidates = candidate_buses("kerber_landnetz_kabel_1")
    assert len(candidates) == 8 and len(set(candidates)) == 8
    model = GridModel.auto("kerber_landnetz_kabel_1", 1000)
    np.testing.assert_array_equal(model.connection_buses, np.array(candidates)[np.arange(1000) % 8])
    r = model.solve(np.full(1000, 0.1), np.zeros(1000))  # 100 kW over 8 buses
    assert r.converged and r.p_connections_kw == pytest.approx(100.0)


def test_explicit_and_mixed_bus_mapping() -> None:
    c = candidate_buses("kerber_landnetz_kabel_1")
    model = GridModel("kerber_landnetz_kabel_1", [5, None, 5, None])
    assert model.connection_buses.tolist() == [5, c[0], 5, c[1]]
    for bad in (10_000, -1, True, 2.0):
        with pytest.raises(ValueError, match="is not a bus of kerber_landnetz_kabel_1"):
            GridModel("kerber_landnetz_kabel_1", [bad])


def test_feeder_has_no_example_loads_left() -> None:
    feeder = load_feeder("kerber_landnetz_kabel_1")
    assert len(feeder.net.load) == 0 and len(feeder.net.sgen) == 0
    assert feeder.candidate_buses == tuple(candidate_buses("kerber_landnetz_kabel_1"))


def test_unknown_network_and_backend_list_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"unknown network 'atlantis'.*kerber_dorfnetz"):
        GridModel.auto("atlantis", 3)
    assert "kerber_vorstadtnetz_kabel_1" in available_networks()
    with pytest.raises(ValueError, match=r"unknown backend 'fast'.*pandapower"):
        GridModel.auto("kerber_landnetz_kabel_1", 3, "fast")  # type: ignore[arg-type]


def test_auto_backend_falls_back_to_pandapower(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_backend("auto") == "lightsim2grid"
    monkeypatch.setattr(grid_model, "lightsim2grid_available", lambda: False)
    assert resolve_backend("auto") == "pandapower"
    assert GridModel.auto("kerber_landnetz_kabel_1", 2).backend == "pandapower"
    with pytest.raises(ValueError, match="lightsim2grid is not installed"):
        resolve_backend("lightsim2grid")


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_convergence_is_reported_and_survived(backend: str) -> None:
    model = GridModel.auto("kerber_landnetz_kabel_1", 4, backend)  # type: ignore[arg-type]
    normal_kw = np.array([3.0, 4.0, -2.0, 5.0])
    before = model.solve(normal_kw)
    absurd_kw = np.array([100_000.0, 4.0, -2.0, 5.0])  # 100 MW on a 100 kVA village feeder
    failed = model.solve(absurd_kw)
    assert not failed.converged and "converge" in failed.message
    assert np.isnan(failed.v_pu).all() and np.isnan(failed.p_ext_kw) and np.isnan(failed.losses_kw)
    assert failed.p_connections_kw == pytest.approx(absurd_kw.sum())
    after = model.solve(normal_kw)
    assert after.converged and after.message == ""
    np.testing.assert_allclose(after.v_pu, before.v_pu, atol=1e-9)


def test_non_finite_power_is_a_failed_step_not_an_exception() -> None:
    model = GridModel.auto("kerber_landnetz_kabel_1", 3)
    r = model.solve([1.0, np.nan, 2.0])
    assert not r.converged and "connection(s) [1]" in r.message
    assert model.solve([1.0, 1.0, 2.0]).converged
    with pytest.raises(ValueError, match="one value per connection"):
        model.solve([1.0, 2.0])


def test_results_are_read_only_and_warm_started() -> None:
    model = GridModel.auto("kerber_landnetz_kabel_1", 3, "lightsim2grid")
    first = model.solve([2.0, 3.0, 4.0])
    again = model.solve([2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="read-only"):
        first.v_pu[0] = 1.0
    assert first.iterations is not None and again.iterations is not None
    assert again.iterations < first.iterations
