"""ADMM data and messages survive the trip through MQTT unchanged: an agent's data as flat series,
the rounds as typed message bodies, through JSON and the message validation."""

from __future__ import annotations

import json

import numpy as np

from controllers.admm import AdmmSettings, Coordinator, Coupling, SharedLimits, build_agents
from controllers.admm.messages import Fallback, StepDecision
from controllers.admm.wire import (
    agent_data_from_series,
    agent_data_to_series,
    broadcast_from_body,
    broadcast_to_body,
    decision_from_body,
    decision_to_body,
    round_rows,
    update_from_body,
    update_to_body,
)
from controllers.messages import MessageFactory, decode, encode
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


def test_agent_data_from_arrays_equals_from_lists() -> None:
    """A host hands its agents their packed forecasts as float arrays: the same data as from the
    lists of JSON, a final energy bound of 0 kWh included (an array's truth is not a list's)."""
    from dataclasses import replace

    for data in synthetic_district(DistrictSpec(n_buildings=3, n_storage=2, seed=4)):
        if data.battery is not None:
            data = replace(data, battery=replace(data.battery, e_final_min_kwh=0.0))
        series = json.loads(json.dumps(agent_data_to_series(data)))
        arrays = {name: np.asarray(values, dtype=float) for name, values in series.items()}
        from_arrays = agent_data_from_series(data.name, arrays)
        _same(from_arrays, agent_data_from_series(data.name, series))
        _same(from_arrays, data)


def test_round_messages_round_trip() -> None:
    data = synthetic_district(DistrictSpec(n_buildings=2, n_storage=1, seed=1))
    limits = SharedLimits.transformer(5.0, data[0].horizon)
    coordinator = Coordinator(Coupling.from_limits(tuple(d.name for d in data), limits), AdmmSettings())
    agents = build_agents(data, coordinator)
    coordinator.start_step(0)
    for a in agents:
        a.start_step(0)
    broadcast = coordinator.initial_broadcast()
    factory = MessageFactory("run1", "coordinator")

    def wire(message: object) -> object:  # what the broker does: encode, decode (validated)
        decoded = decode(encode(message))  # type: ignore[arg-type]
        assert decoded == message
        return decoded

    z = wire(factory.admm_z(0, broadcast.iteration, broadcast_to_body(broadcast)))
    _same(broadcast_from_body(broadcast.tick, broadcast.iteration, z.body), broadcast)  # type: ignore[attr-defined]
    update = agents[0].local_update(broadcast)
    x = wire(factory.admm_x(0, update.iteration, update_to_body(update)))
    _same(update_from_body(update.agent, update.tick, update.iteration, x.body), update)  # type: ignore[attr-defined]
    for fallback in (None, Fallback.LAST_ITERATE, Fallback.SHIFTED_PREVIOUS):
        decision = StepDecision(3, 17, fallback is None, fallback, "")
        z = wire(factory.admm_z(3, 17, decision_to_body(decision)))
        assert decision_from_body(3, z.body) == decision  # type: ignore[attr-defined]


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
    assert (
        round_rows(decision_to_body(StepDecision(0, 4, True, None, ""), history).rounds) == rows
    )  # on the wire
    assert [r["iteration"] for r in rows] == [1.0, 2.0, 3.0, 4.0]
    assert rows[2]["rho"] == 0.15000000000000002 and rows[2]["r_primal"] == 1.0 / 3
    assert rows[0]["n_stale"] == 1.0 and rows[3]["sum_solve_time_s"] == 5e-3
