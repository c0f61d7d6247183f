"""ADMM data and messages survive the trip through flat MQTT series unchanged."""

from __future__ import annotations

import json

import numpy as np

from controllers.admm import AdmmSettings, Coordinator, Coupling, SharedLimits, build_agents
from controllers.admm.messages import Fallback, StepDecision
from controllers.admm.wire import (
    agent_data_from_series,
    agent_data_to_series,
    broadcast_from_series,
    broadcast_to_series,
    decision_from_series,
    decision_to_series,
    update_from_series,
    update_to_series,
)
from experiments.synthetic_district import DistrictSpec, synthetic_district


def _same(a: object, b: object) -> None:
    for name in vars(a):
        x, y = getattr(a, name), getattr(b, name)
        if hasattr(x, "__dataclass_fields__"):
            _same(x, y)
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert x == y, name


def test_agent_data_round_trip_through_json() -> None:
    for data in synthetic_district(DistrictSpec(n_buildings=3, n_storage=1, seed=4)):
        series = json.loads(json.dumps(agent_data_to_series(data)))  # what the wire does
        _same(agent_data_from_series(data.name, series), data)


def test_round_messages_round_trip() -> None:
    data = synthetic_district(DistrictSpec(n_buildings=2, n_storage=1, seed=1))
    limits = SharedLimits.transformer(5.0, data[0].horizon)
    coordinator = Coordinator(Coupling.from_limits(tuple(d.name for d in data), limits), AdmmSettings())
    agents = build_agents(data, coordinator)
    coordinator.start_step(0)
    for a in agents:
        a.start_step(0)
    broadcast = coordinator.initial_broadcast()
    again = broadcast_from_series(
        broadcast.tick,
        broadcast.iteration,
        broadcast.rho,
        json.loads(json.dumps(broadcast_to_series(broadcast))),
    )
    _same(again, broadcast)
    update = agents[0].local_update(broadcast)
    _same(
        update_from_series(
            update.agent, update.tick, update.iteration, json.loads(json.dumps(update_to_series(update)))
        ),
        update,
    )
    for fallback in (None, Fallback.LAST_ITERATE, Fallback.SHIFTED_PREVIOUS):
        decision = StepDecision(3, 17, fallback is None, fallback, "")
        assert decision_from_series(3, decision_to_series(decision)) == decision


def test_history_round_trips() -> None:
    from controllers.admm.messages import IterationRecord, Residuals
    from controllers.admm.wire import history_rows, history_to_series

    history = [
        IterationRecord(
            k + 1, 0.05 * (k + 1), Residuals(1.0 / (k + 1), 0.5, 0.01, 0.02), 3, 1, 1e-4, 2e-3, 5e-3
        )
        for k in range(4)
    ]
    rows = history_rows(history_to_series(history))
    assert [r["iteration"] for r in rows] == [1.0, 2.0, 3.0, 4.0]
    assert rows[2]["rho"] == 0.15000000000000002 and rows[2]["r_primal"] == 1.0 / 3
    assert rows[0]["n_stale"] == 1.0 and rows[3]["sum_solve_time_s"] == 5e-3
