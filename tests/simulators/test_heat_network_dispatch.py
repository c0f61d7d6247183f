"""The plant's store MPC (simulators/heat_network/dispatch.py): a hand-checkable plan, the
persistence forecast, and the receding-horizon controller against the merit-order rule on a day
whose evening peak exceeds the sources."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.heat_network.dispatch import MpcSettings, PersistenceForecast, StoreMpc, plan_store_kw
from simulators.heat_network.plant import Plant, SourceSpec
from simulators.storage.model import StorageSpec

CHEAP = SourceSpec("wood", 100.0, 3000.0, "t", 30.0, 0.0, 2.0)  # 0.01 per kWh
DEAR = SourceSpec("gas", 50.0, 770.0, "MWh", 30.0, 200.0, 0.0)  # 0.039 per kWh


def _plant(soc_init: float = 0.0) -> Plant:
    store = StorageSpec(
        kind="tank",
        capacity_kwh=200.0,
        eta_charge=1.0,
        eta_discharge=1.0,
        loss_per_h=0.0,
        c_rate_per_h=0.5,
        soc_init=soc_init,
    )
    return Plant([DEAR, CHEAP], store)


def test_plan_fills_the_store_from_the_cheap_source_before_a_peak_it_cannot_cover() -> None:
    # demand: 60 kW for 4 h, then 200 kW for 2 h; sources 150 kW; store empty, 100 kW, 200 kWh:
    # the peak's 2 × 50 kW beyond the sources must come from the store, charged beforehand from
    # the cheap source's spare 40 kW; as cheap heat in the store also displaces gas in the peak
    # (and is worth less left over at the horizon's end), all 4 h × 40 = 160 kWh are charged and
    # discharged in the peak
    demand = np.array([60.0] * 4 + [200.0] * 2)
    plan = plan_store_kw(_plant(), demand, 1.0, MpcSettings(horizon_steps=6))
    assert plan[:4] == pytest.approx([40.0] * 4, abs=1e-6)  # the cheap source's spare, never gas
    assert np.all(plan[4:] <= -50.0 + 1e-6)  # at least the shortfall, every peak hour
    assert plan[4:].sum() == pytest.approx(-160.0, abs=1e-6)


def test_unavoidable_shortfall_is_minimised_not_infeasible() -> None:
    demand = np.full(3, 300.0)  # 150 kW of sources, empty store: 150 kW short every hour
    plan = plan_store_kw(_plant(), demand, 1.0, MpcSettings(horizon_steps=3))
    assert plan == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)


def test_persistence_forecast_repeats_yesterday_level_adjusted() -> None:
    forecast = PersistenceForecast(steps_per_day=4, fade_steps=1e9)  # no fading: a pure level shift
    for value in [10.0, 20.0, 30.0, 40.0]:
        forecast.forecast(value, 4)
    out = forecast.forecast(15.0, 4)  # yesterday at this step was 10: +5 on every value
    assert out == pytest.approx([15.0, 25.0, 35.0, 45.0])


def _run(plant: Plant, demand: np.ndarray, mpc: bool) -> tuple[float, float]:
    """Unserved heat (kWh) and fuel cost over `demand`, hourly."""
    controller = StoreMpc(plant, 1.0, MpcSettings(horizon_steps=24)) if mpc else None
    unserved = cost = 0.0
    prices = np.array([s.price_per_kwh_heat for s in plant.sources])
    for q in demand:
        p_set = controller.store_power_kw(float(q)) if controller is not None else None
        step = plant.dispatch(float(q), 1.0, p_set)
        unserved += step.unserved_kw
        cost += float(step.q_source_kw @ prices)
    return unserved, cost


def test_mpc_serves_a_recurring_evening_peak_the_merit_order_rule_leaves_unserved() -> None:
    # four identical days: 110 kW most of the day (above the cheap source, so the rule empties the
    # store during the day), 200 kW from 17 to 20 h (50 kW above both sources)
    day = np.full(24, 110.0)
    day[17:20] = 200.0
    demand = np.tile(day, 4)
    unserved_rule, _ = _run(_plant(soc_init=0.5), demand, mpc=False)
    unserved_mpc, _ = _run(_plant(soc_init=0.5), demand, mpc=True)
    assert unserved_rule == pytest.approx(4 * 3 * 50.0)  # every day's peak: the store is empty by then
    # from the second day on the forecast knows the peak: only the first day's shortfall remains
    assert unserved_mpc <= 3 * 50.0 + 1e-6
