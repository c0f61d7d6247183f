"""The aggregated heat-network model: the least-squares fit recovers a known polynomial, the
clusters partition the network, and the calibration loop against real detailed runs iterates until
the losses agree within the threshold, which then holds on a held-out period."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.heat_network.aggregate import (
    DetailedRun,
    calibrate,
    features,
    fit,
    make_clusters,
    make_period,
)
from simulators.heat_network.hydraulics import Fluid
from simulators.heat_network.layout import build_district
from simulators.heat_network.params import NetworkParams

PARAMS = NetworkParams.from_dict({"layout": {"n_substations": 8, "total_length_m": 800.0, "design_kw": 30.0}})
TOPOLOGY = PARAMS.layout.topology(PARAMS.control.t_supply_design_c - PARAMS.control.t_return_design_c)


def test_clusters_partition_segments_and_substations() -> None:
    topo = build_district(60, 3000.0)
    clusters = make_clusters(topo, n_groups=3)
    assert [c.name for c in clusters] == ["trunk", "streets_0", "streets_1", "streets_2"]
    segments = np.concatenate([c.segments for c in clusters])
    assert sorted(segments.tolist()) == list(range(topo.n_segments))  # every segment exactly once
    street_subs = np.concatenate([c.substations for c in clusters[1:]])
    assert sorted(street_subs.tolist()) == list(range(60))
    assert clusters[0].design_kw == pytest.approx(sum(c.design_kw for c in clusters[1:]))


def test_fit_recovers_a_known_polynomial_and_storage() -> None:
    rng = np.random.default_rng(0)
    clusters = make_clusters(TOPOLOGY, n_groups=2)
    steps, n_c = 200, len(clusters)
    x = rng.uniform(0.0, 1.2, (steps, n_c))
    tg = rng.uniform(3.0, 17.0, steps)
    ts = rng.uniform(70.0, 90.0, steps)
    true_loss = np.array([[4.0, 2.0, -0.5, -0.1, 0.02, 0.05, 0.01]] * n_c)  # 1, x, x², T_g, x·T_g, T_s, x·T_s
    true_water = np.array([[10.0, 0.8, 0.3]] * n_c)  # 1, T_s, x
    loss = np.column_stack([features(x[:, c], tg, ts, 2) @ true_loss[c] for c in range(n_c)])
    base = np.column_stack([np.ones(steps), ts])
    water = np.column_stack([np.column_stack([base, x[:, c]]) @ true_water[c] for c in range(n_c)])
    run = DetailedRun("synthetic", x, tg, ts, loss, water, np.zeros(steps), np.zeros(steps), 1.0)
    model = fit([run], clusters, degree=2)
    assert model.loss_coef == pytest.approx(true_loss, abs=1e-9)
    assert model.water_coef == pytest.approx(true_water, abs=1e-9)
    assert model.storage_capacity_kwh(70.0, 110.0) == pytest.approx([0.8 * 40.0] * n_c)


@pytest.mark.slow
def test_calibration_loop_meets_the_threshold_and_holds_on_held_out_days() -> None:
    """One-week calibration periods across the seasons and a held-out February week, on real
    detailed runs (about 700 hourly steps of the detailed model of 8 substations). Two-day periods
    stopped being enough when the synthetic weather became the climate presets' (issue #17): the
    loop met the threshold on a two-day check and missed it on the held-out February days (5.9 %)."""
    starts = [("January", "2023-01-09"), ("July", "2023-07-10"), ("April", "2023-04-10"),
              ("October", "2023-10-09"), ("December", "2023-12-04")]
    periods = [make_period(name, start, 7, TOPOLOGY, seed=i + 1) for i, (name, start) in enumerate(starts)]
    held_out = make_period("February", "2023-02-13", 7, TOPOLOGY, seed=11)
    cal = calibrate(PARAMS, TOPOLOGY, periods, held_out, threshold=0.03)
    assert cal.met
    errors = [it.check.loss_nrmse for it in cal.iterations]
    assert len(errors) >= 2 and errors[0] > 0.03 >= errors[-1]  # it had to iterate
    assert [it.degree for it in cal.iterations] == sorted(it.degree for it in cal.iterations)
    assert cal.held_out.loss_nrmse <= 0.03 and cal.held_out.loss_energy_error <= 0.03
    assert cal.held_out.q_network_nrmse <= 0.03
    # the fictive storage holds about the water's heat per kelvin of supply temperature
    fluid = Fluid()
    per_k_kwh = fluid.rho_kg_m3 * fluid.cp_j_kgk / 3.6e6 * TOPOLOGY.water_volume_m3()
    for c, k_per_k in zip(cal.model.clusters, cal.model.water_coef[:, 1], strict=True):
        supply_water = float(per_k_kwh[c.segments].sum())
        assert 0.5 * supply_water < k_per_k < 2.0 * supply_water, c.name
