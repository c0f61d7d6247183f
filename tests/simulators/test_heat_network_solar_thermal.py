"""Solar-thermal collectors and their store (simulators/solar_thermal/model.py): the efficiency
curve at a point computed by hand, no negative heat, the store's energy balance and the order of
use (hot water before space heating)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulators.solar_thermal.model import (
    CollectorParams,
    collector_heat_w_m2,
    dispatch,
    plane_irradiance_w_m2,
)


def test_efficiency_curve_by_hand() -> None:
    c = CollectorParams()  # η0 0.80, a1 3.5, a2 0.015, T_m 50 °C, η_sys 0.9
    # G 800 W/m², T_out 10 °C: ΔT 40 K, η = 0.80 − 3.5·40/800 − 0.015·1600/800 = 0.595
    assert collector_heat_w_m2(np.array([800.0]), np.array([10.0]), c)[0] == pytest.approx(0.595 * 800 * 0.9)
    # weak sun on a cold day: the losses exceed the gain, the collector gives nothing (never < 0)
    weak = collector_heat_w_m2(np.array([50.0, 0.0]), np.array([-5.0, -5.0]), c)
    assert weak.tolist() == [0.0, 0.0]


def test_tilted_collector_gets_more_than_horizontal_on_a_clear_winter_noon() -> None:
    times = pd.date_range("2023-01-15 12:00", periods=2, freq="h", tz="Europe/Paris")
    poa = plane_irradiance_w_m2(
        times,
        np.array([300.0, 280.0]),
        np.array([700.0, 680.0]),
        np.array([60.0, 60.0]),
        48.85,
        2.35,
        CollectorParams(),
    )
    assert poa[0] > 1.5 * 300.0


def test_store_balance_and_order_of_use() -> None:
    rng = np.random.default_rng(3)
    steps, n = 48, 3
    collected = rng.uniform(0.0, 6.0, (steps, n)) * (np.arange(steps) % 24 > 8)[:, None]
    dhw, space = rng.uniform(0.0, 1.0, (steps, n)), rng.uniform(0.0, 2.0, (steps, n))
    cap = np.array([2.0, 5.0, 10.0])
    r = dispatch(collected, dhw, space, cap, dt_h=1.0, loss_per_h=0.0)
    # every kWh collected is used, dumped or still in the store
    balance = (
        collected.sum(axis=0) - r.q_dhw_kw.sum(axis=0) - r.q_space_kw.sum(axis=0) - r.q_dumped_kw.sum(axis=0)
    )
    np.testing.assert_allclose(balance, r.e_store_kwh[-1], atol=1e-9)
    assert np.all(r.e_store_kwh <= cap + 1e-12) and np.all(r.e_store_kwh >= 0)
    assert np.all(r.q_dhw_kw <= dhw + 1e-12) and np.all(r.q_space_kw <= space + 1e-12)
    # space heating gets solar heat only in steps where hot water got all it needed
    partial = r.q_dhw_kw < dhw - 1e-12
    assert np.all(r.q_space_kw[partial] == 0.0)
    # nothing is dumped while the store has room
    dumped = r.q_dumped_kw > 1e-12
    assert np.allclose(r.e_store_kwh[dumped], np.broadcast_to(cap, r.e_store_kwh.shape)[dumped])
