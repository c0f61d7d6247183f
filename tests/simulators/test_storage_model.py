"""Storage model: the SoC trajectory follows the efficiency and loss equations; clipping is reported."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.storage.model import StorageFleet, StorageSpec


def test_soc_trajectory_matches_equations() -> None:
    spec = StorageSpec.from_dict({"kind": "battery", "capacity_kwh": 10.0, "soc_init": 0.5})
    fleet = StorageFleet([spec])
    rng = np.random.default_rng(3)
    setpoints = rng.uniform(-2.5, 2.5, 200)  # within the 3 kW C-rate limit
    dt_h = 0.25
    e = 5.0
    for p in setpoints:
        step = fleet.step(np.array([p]), dt_h)
        if step.clipped_kw[0] != 0.0:  # SoC limit reached: applied power differs, use it
            p = step.p_kw[0]
        expected = (1 - 1e-4 * dt_h) * e + dt_h * (0.9 * max(p, 0.0) - max(-p, 0.0) / 0.9)
        assert step.e_kwh[0] == pytest.approx(expected, rel=1e-12, abs=1e-12)
        e = expected
        assert 0.0 <= step.soc[0] <= 1.0


def test_power_and_soc_limits_clip_and_report() -> None:
    fleet = StorageFleet([StorageSpec.from_dict({"capacity_kwh": 10.0, "soc_init": 0.95})])
    step = fleet.step(np.array([8.0]), 0.25)  # C-rate 0.3/h → 3 kW; only 0.5 kWh room left
    room_kw = (10.0 - (1 - 1e-4 * 0.25) * 9.5) / (0.9 * 0.25)
    assert step.p_kw[0] == pytest.approx(min(3.0, room_kw))
    assert step.clipped_kw[0] == pytest.approx(8.0 - step.p_kw[0])
    assert step.soc[0] == pytest.approx(1.0)
    empty = StorageFleet([StorageSpec.from_dict({"capacity_kwh": 10.0, "soc_init": 0.0})])
    step = empty.step(np.array([-2.0]), 0.25)
    assert step.p_kw[0] == 0.0 and step.clipped_kw[0] == pytest.approx(-2.0)


def test_tank_defaults_and_losses() -> None:
    tank = StorageSpec.from_dict({"kind": "tank", "capacity_kwh": 8.0})
    assert tank.loss == 1e-3 and tank.c_rate == 0.25
    fleet = StorageFleet([tank])
    step = fleet.step(np.array([np.nan]), 1.0)  # idle: only standing loss
    assert step.e_kwh[0] == pytest.approx(4.0 * (1 - 1e-3))
    assert step.loss_kw[0] == pytest.approx(4.0 * 1e-3)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"capacity_kwh": -1}, "capacity_kwh"),
        ({"kind": "flywheel"}, "kind"),
        ({"soc_init": 2}, "soc"),
        ({"volume": 3}, "unknown"),
    ],
)
def test_bad_specs_are_rejected(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StorageSpec.from_dict(bad)
