"""The voltage sensitivities predict the power flow of the feeder for the changes ADMM plans: a heat
pump drawing more (reactive power at the building's power factor) and a battery discharging (none)."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.control.voltage import VoltageLinearizer, reactive_ratio
from cosim.scenario.model import Scenario

pytestmark = pytest.mark.slow

SCENARIO = {
    "name": "voltage-lin",
    "start": "2024-01-16T04:00:00",
    "duration": "1h",
    "step": "15min",
    "buildings": [
        {"name": "hp", "count": 5, "pv_kwp": 4},
        {"name": "bat", "count": 2, "pv_kwp": 6, "battery": {"capacity_kwh": 10}},
    ],
    "grid": {"network": "kerber_landnetz_freileitung_1", "transformer_limit_kw": 8.0},
    "controller": {"kind": "admm", "transport": "inprocess", "admm": {"horizon": "1h", "voltage": True}},
}
TAN_PHI = float(np.tan(np.arccos(0.95)))


def test_reactive_ratio_follows_the_device_that_moves() -> None:
    scenario = Scenario.model_validate(SCENARIO)
    plain, with_battery = scenario.buildings
    assert reactive_ratio(plain) == pytest.approx(TAN_PHI)
    assert reactive_ratio(with_battery) == 0.0


@pytest.mark.parametrize(("agent", "dp_kw", "dq_per_kw"), [(1, 2.0, TAN_PHI), (6, -3.0, 0.0)])
def test_sensitivities_predict_the_power_flow(agent: int, dp_kw: float, dq_per_kw: float) -> None:
    """PV offsets the consumption at the operating point (net 0.05–1.6 kW, q 0.3–0.9 kvar): the linear
    prediction of the perturbed state agrees with the power flow to 1e-5 pu at every building bus."""
    lin = VoltageLinearizer(Scenario.model_validate(SCENARIO))
    consumption = np.array([2.5, 1.8, 2.2, 3.0, 2.4, 1.5, 2.8])
    pv = np.array([2.0, 1.5, 0.6, 1.4, 2.0, 1.45, 1.2])
    p0, q0 = consumption - pv, consumption * TAN_PHI
    sens = lin.sensitivity(p0, q0)
    p, q = p0.copy(), q0.copy()
    p[agent] += dp_kw
    q[agent] += dp_kw * dq_per_kw
    true = lin.model.solve(np.concatenate([p, np.zeros(lin.n_storage)]), q).v_pu[lin.rows]
    predicted = sens.v0_pu + sens.s_pu_per_kw @ (p - p0)
    assert np.abs(true - sens.v0_pu).max() > 2e-4  # the change is visible on this feeder
    np.testing.assert_allclose(predicted, true, atol=1e-5)
