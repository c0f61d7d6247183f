"""ADMM data and messages survive the trip through flat MQTT series unchanged."""

from __future__ import annotations

import json

import numpy as np

from controllers.admm import AdmmSettings, Coordinator, Coupling, SharedLimits, build_agents
from controllers.admm.messages import Fallback, StepDecision
from controllers.admm.synthetic import DistrictSpec, synthetic_district
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
