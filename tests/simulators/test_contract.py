"""Contract tests: every simulator goes through the same checks.

Direct API (init / create / step / get_data, META well-formed, every declared output answered with a
JSON-serialisable value), then the same entities inside a mosaik world, once in process and once as
a separate process (`python -m simulators.<kind> HOST:PORT`), with identical outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from cosim.world.registry import PROCESS_CAPABLE, SIMULATORS, new_world, resolve

COMMON = {"step_size": 900, "start": "2024-03-20T00:00:00", "tz": "Europe/Berlin", "n_steps": 4}
WALL_CLOCK_ATTRS = {"pf_time_ms", "solve_time_ms"}  # timings differ between any two runs
WEATHER = {"t_out_c": 5.0, "ghi_w_m2": 400.0, "dni_w_m2": 300.0, "dhi_w_m2": 150.0, "wind_m_s": 2.0}


@dataclass(frozen=True)
class Case:
    """How to exercise one simulator: init params, entities to create, constant inputs per model."""

    sim: str
    init: dict[str, Any]
    creates: list[tuple[str, dict[str, Any]]]
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)


CASES = [
    Case(
        "Sources",
        COMMON,
        [
            ("Weather", {"spec": {"kind": "synthetic", "seed": 1}, "site": {}}),
            ("Prices", {"spec": {"kind": "tou"}}),
        ],
    ),
    Case(
        "Building",
        {**COMMON, "seed": 1, "site": {"tz": "Europe/Berlin"}},
        [
            ("Building", {"spec": {"pv_kwp": 5.0, "flex_share": 0.1}, "index": 0}),
            ("Building", {"spec": {"heating": "gas_boiler"}, "index": 1}),
            ("Building", {"spec": {"heating": "district"}, "index": 2}),
        ],
        {"Building": {**WEATHER, "hp_p_set_kw": 1.0, "flex_shift_kw": -0.1}},
    ),
    Case(
        "Storage",
        COMMON,
        [("Battery", {"spec": {"capacity_kwh": 10.0}}), ("Tank", {"spec": {"capacity_kwh": 6.0}})],
        {"Battery": {"p_set_kw": 2.0}, "Tank": {"p_th_set_kw": -1.0}},
    ),
    Case(
        "Grid",
        {**COMMON, "network": "kerber_landnetz_kabel_1"},
        [("Grid", {}), ("Connection", {"kind": "building"}), ("Connection", {"bus": 3, "kind": "storage"})],
        {"Connection": {"p_kw": 4.0, "q_kvar": 1.0}},
    ),
    Case(
        "Control",
        COMMON,
        [("Agent", {"kind": "rule_based", "params": {"dsm": {"start_h": 17, "end_h": 20}},
                    "agent_id": "b1"})],
        {
            "Agent": {
                "p_kw": 1.5,
                "p_base_kw": 1.0,
                "pv_kw": 0.0,
                "t_in_c": 21.0,
                "flex_available_kw": 0.1,
                "flex_backlog_kwh": 0.0,
                "soc": 0.5,
                "capacity_kwh": 10.0,
            }
        },
    ),
    Case("Constant", {"attrs": ["x_kw"], "step_size": 900}, [("Constant", {"values": {"x_kw": 1.5}})]),
    Case(
        "HeatNetwork",
        COMMON,
        [("HeatNetwork", {"params": {"layout": {"n_substations": 3, "total_length_m": 300.0},
                                     "store": {"capacity_kwh": 50.0, "p_max_kw": 10.0}}})],
        {"Substation": {"q_demand_kw": 5.0}, "HeatNetwork": {"t_out_c": 2.0}},
    ),
    Case(
        "SolarThermal",
        {**COMMON, "site": {"latitude_deg": 48.85, "longitude_deg": 2.35}},
        [
            ("Collector", {"spec": {"area_m2": 6.0, "store_kwh": 3.0}}),
            ("Collector", {"spec": {"area_m2": 4.0}}),
        ],
        {"Collector": {**{k: WEATHER[k] for k in ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2")},
                       "q_solar_used_kw": 0.5}},
    ),
]
IDS = [c.sim for c in CASES]


# need a live run (writer, MQTT bridge); covered by tests/cosim
RUN_BOUND = {"Recorder", "Devices"}


def test_every_registered_simulator_has_a_case() -> None:
    assert set(SIMULATORS) - RUN_BOUND == {c.sim for c in CASES}


def _outputs(meta: dict[str, Any], model: str, case: Case) -> list[str]:
    inputs = set(case.inputs.get(model, {}))
    return [a for a in meta["models"][model]["attrs"] if a not in inputs]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_api_contract(case: Case) -> None:
    sim = resolve(case.sim)()
    meta = sim.init("S-0", time_resolution=1.0, **case.init)
    assert meta["api_version"] == "3.0"
    assert meta["type"] in ("time-based", "event-based", "hybrid")
    for name, model in meta["models"].items():
        assert isinstance(model["public"], bool) and isinstance(model["params"], list)
        assert len(set(model["attrs"])) == len(model["attrs"]), f"{name}: duplicate attribute names"
        assert all(a == a.lower() and " " not in a for a in model["attrs"]), (
            f"{name}: attrs must be snake_case"
        )
    json.dumps(case.init)  # init params must cross a process boundary
    entities: list[tuple[str, str]] = []
    for model, params in case.creates:
        assert meta["models"][model]["public"], f"{model} must be public to be created"
        assert set(params) <= set(meta["models"][model]["params"]), f"{model}: undeclared create params"
        json.dumps(params)
        created = sim.create(1, model, **params)
        assert len(created) == 1 and created[0]["type"] == model
        for child in created[0].get("children", []):
            assert child["type"] in meta["models"]
            entities.append((child["eid"], child["type"]))
        entities.append((created[0]["eid"], model))
    eids = [e for e, _ in entities]
    assert len(set(eids)) == len(eids), "entity ids must be unique"
    inputs = {
        eid: {attr: {"Src-0.src": value} for attr, value in case.inputs.get(model, {}).items()}
        for eid, model in entities
    }
    for k in range(2):
        next_time = sim.step(k * 900, inputs, 10**9)
        assert isinstance(next_time, int) and next_time > k * 900
        request = {eid: _outputs(meta, model, case) for eid, model in entities}
        data = sim.get_data(request)
        for eid, attrs in request.items():
            assert set(data[eid]) == set(attrs), (
                f"{eid}: outputs {sorted(set(attrs) - set(data[eid]))} missing"
            )
        json.dumps(data)  # outputs must cross a process boundary


def _run_world(case: Case, processes: bool) -> dict[str, dict[str, Any]]:
    world = new_world(processes)
    sim = world.start(case.sim, **case.init)
    entities = []
    for model, params in case.creates:
        entity = getattr(sim, model)(**params)
        entities += [entity, *entity.children]
    all_inputs = sorted({a for values in case.inputs.values() for a in values})
    if all_inputs:
        const = world.start("Constant", attrs=all_inputs, step_size=900)
        for entity in entities:
            values = case.inputs.get(entity.type, {})
            if values:
                source = const.Constant(values=values)
                world.connect(source, entity, *values)
    meta = resolve(case.sim)().init("S-0", time_resolution=1.0, **case.init)
    world.run(until=2 * 900, print_progress=False, shutdown=False)
    try:
        result = {}
        for entity in entities:
            attrs = [
                a
                for a in meta["models"][entity.type]["attrs"]
                if a not in case.inputs.get(entity.type, {}) and a not in {"events", *WALL_CLOCK_ATTRS}
            ]
            result[entity.eid] = world.get_data([entity], *attrs)[entity]
        return result
    finally:
        world.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.sim in PROCESS_CAPABLE], ids=lambda c: c.sim)
def test_same_outputs_in_process_and_as_separate_process(case: Case) -> None:
    in_process = _run_world(case, processes=False)
    separate = _run_world(case, processes=True)
    assert in_process.keys() == separate.keys()
    for eid, values in in_process.items():
        numeric = {a: v for a, v in values.items() if isinstance(v, float)}
        assert numeric == pytest.approx({a: separate[eid][a] for a in numeric}, nan_ok=True), eid
        assert {a: v for a, v in values.items() if a not in numeric} == {
            a: v for a, v in separate[eid].items() if a not in numeric
        }, eid
    assert any(v is not None for values in in_process.values() for v in values.values())
