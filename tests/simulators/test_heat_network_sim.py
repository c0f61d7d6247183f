"""Heat-network simulator in mosaik: the contract every simulator passes (direct API: META
well-formed, every declared output answered with a JSON-serialisable value), then the same world
in process and with the simulator as a separate process (`python -m simulators.heat_network
HOST:PORT`), with identical outputs; bad parameters give an error naming the field."""

from __future__ import annotations

import json
import sys
from typing import Any

import mosaik
import mosaik_api_v3
import pytest

from simulators.heat_network.sim import META, WALL_CLOCK_ATTRS, HeatNetworkSim

COMMON = {"step_size": 3600, "start": "2024-01-15T00:00:00", "tz": "Europe/Paris", "n_steps": 4}
PARAMS: dict[str, Any] = {
    "layout": {"n_substations": 4, "total_length_m": 400.0, "design_kw": 20.0},
    "store": {"capacity_kwh": 100.0, "p_max_kw": 30.0},
    "sources": [
        {"name": "wood", "q_max_kw": 40.0, "heat_per_unit_kwh": 3000.0, "fuel_unit": "t",
         "price_per_unit": 30.0, "pm_kg_per_unit": 1.0},
        {"name": "gas", "q_max_kw": 80.0, "heat_per_unit_kwh": 770.0, "price_per_unit": 30.0,
         "co2_kg_per_unit": 200.0},
    ],
}
DEMAND_KW = [12.0, 8.0, 15.0, 5.0]


def test_api_contract() -> None:
    sim = HeatNetworkSim()
    meta = sim.init("HN-0", time_resolution=1.0, **COMMON)
    assert meta["api_version"] == "3.0" and meta["type"] == "time-based"
    for name, model in meta["models"].items():
        assert len(set(model["attrs"])) == len(model["attrs"]), name
        assert all(a == a.lower() and " " not in a for a in model["attrs"]), name
    created = sim.create(1, "HeatNetwork", params=PARAMS)
    json.dumps(PARAMS)
    entities = [("HeatNetwork", "HeatNetwork")] + [(c["eid"], c["type"]) for c in created[0]["children"]]
    kinds = {kind for _, kind in entities}
    assert kinds == {"HeatNetwork", "Substation", "Pipe", "Source", "Store"}
    inputs = {f"Substation_{i}": {"q_demand_kw": {"src": q}} for i, q in enumerate(DEMAND_KW)}
    inputs["HeatNetwork"] = {"t_out_c": {"src": -2.0}}
    for k in range(2):
        assert sim.step(k * 3600, inputs, 10**9) == (k + 1) * 3600
        request = {eid: list(meta["models"][kind]["attrs"]) for eid, kind in entities}
        data = sim.get_data(request)
        for eid, attrs in request.items():
            assert set(data[eid]) == set(attrs), eid
        json.dumps(data)
        assert data["HeatNetwork"]["converged"] == 1
        assert data["HeatNetwork"]["q_demand_kw"] == pytest.approx(sum(DEMAND_KW))
        assert data["Source_wood"]["fuel_unit"] == "t"


def test_bad_parameters_name_the_field() -> None:
    sim = HeatNetworkSim()
    sim.init("HN-0", time_resolution=1.0, **COMMON)
    with pytest.raises(ValueError, match=r"layout\.total_length_m"):
        sim.create(1, "HeatNetwork", params={"layout": {"total_length_m": -5.0}})
    with pytest.raises(ValueError, match=r"control\.t_supply_typo"):
        sim.create(1, "HeatNetwork", params={"control": {"t_supply_typo": 80.0}})
    with pytest.raises(ValueError, match="public model is HeatNetwork"):
        sim.create(1, "Substation")


class _Source(mosaik_api_v3.Simulator):  # type: ignore[misc]  # mosaik_api_v3 is untyped
    """Constant demands, outdoor temperature and a store setpoint from step 2 on."""

    def __init__(self) -> None:
        super().__init__({"api_version": "3.0", "type": "time-based", "models": {"Src": {
            "public": True, "params": [], "attrs": ["q_demand_kw", "t_out_c", "p_th_set_kw"]}}})
        self.time = 0

    def create(self, num: int, model: str) -> list[dict[str, Any]]:
        return [{"eid": f"src_{i}", "type": model} for i in range(num)]

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        self.time = time
        return time + 3600

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        k = self.time // 3600
        data = {}
        for eid, attrs in outputs.items():
            i = int(eid.split("_")[1])
            values = {"q_demand_kw": DEMAND_KW[i] * (1 + 0.2 * k), "t_out_c": -2.0 + k,
                      "p_th_set_kw": -10.0 if k >= 2 else None}
            data[eid] = {a: values[a] for a in attrs}
        return data


def _run_world(processes: bool) -> dict[str, dict[str, Any]]:
    target = {"cmd": f"{sys.executable} -m simulators.heat_network %(addr)s"} if processes else {
        "python": "simulators.heat_network.sim:HeatNetworkSim"}
    world = mosaik.World({"HeatNetwork": target, "Src": {"python": f"{__name__}:_Source"}},  # type: ignore[dict-item]
                         mosaik_config={"start_timeout": 120.0, "stop_timeout": 30.0},  # type: ignore[arg-type]
                         time_resolution=1.0, skip_greetings=True, configure_logging=False)
    sim = world.start("HeatNetwork", **COMMON)
    network = sim.HeatNetwork(params=PARAMS)
    sources = world.start("Src").Src.create(len(DEMAND_KW))
    subs = [e for e in network.children if e.type == "Substation"]
    store = next(e for e in network.children if e.type == "Store")
    for source, sub in zip(sources, subs, strict=True):
        world.connect(source, sub, "q_demand_kw")
    world.connect(sources[0], network, "t_out_c")
    world.connect(sources[0], store, "p_th_set_kw")
    world.run(until=3 * 3600, print_progress=False, shutdown=False)
    try:
        result = {}
        for entity in [network, *network.children]:
            skip = {"events", *WALL_CLOCK_ATTRS}
            attrs = [a for a in META["models"][entity.type]["attrs"] if a not in skip]
            result[entity.eid] = world.get_data([entity], *attrs)[entity]
        return result
    finally:
        world.shutdown()


@pytest.mark.slow
def test_same_outputs_in_process_and_as_separate_process() -> None:
    in_process = _run_world(processes=False)
    separate = _run_world(processes=True)
    assert in_process.keys() == separate.keys()
    for eid, values in in_process.items():
        numeric = {a: v for a, v in values.items() if isinstance(v, float)}
        assert numeric == pytest.approx({a: separate[eid][a] for a in numeric}, nan_ok=True), eid
        assert {a: v for a, v in values.items() if a not in numeric} == {
            a: v for a, v in separate[eid].items() if a not in numeric}, eid
    net = in_process["HeatNetwork"]
    assert net["converged"] == 1 and net["q_demand_kw"] == pytest.approx(sum(DEMAND_KW) * 1.4)
    assert in_process["Store"]["p_th_kw"] == pytest.approx(-10.0)  # the setpoint reached the store
    assert net["p_pump_kw"] > 0 and net["q_loss_kw"] > 0


def test_non_convergence_is_an_event_in_the_adapter_and_the_run_goes_on() -> None:
    """A 10 MW demand spike at one substation: pandapipes does not converge (a real failure)."""
    sim = HeatNetworkSim()
    sim.init("HN-0", time_resolution=1.0, **COMMON)
    sim.create(1, "HeatNetwork", params=PARAMS)
    attrs = ["converged", "t_supply_c", "q_loss_kw", "q_network_kw", "events"]
    seen = []
    for k, spike in enumerate([1.0, 1e6, 1.0]):
        demand = [q * (spike if i == 1 else 1.0) for i, q in enumerate(DEMAND_KW)]
        inputs = {f"Substation_{i}": {"q_demand_kw": {"src": q}} for i, q in enumerate(demand)}
        sim.step(k * 3600, inputs, 10**9)
        seen.append(sim.get_data({"HeatNetwork": attrs, "Substation_1": ["t_supply_c"]}))
    assert [s["HeatNetwork"]["converged"] for s in seen] == [1, 0, 1]
    failed = seen[1]["HeatNetwork"]
    assert failed["events"][0]["kind"] == "not_converged" and failed["events"][0]["time_s"] == 3600
    assert failed["t_supply_c"] != failed["t_supply_c"] and seen[1]["Substation_1"]["t_supply_c"] != \
        seen[1]["Substation_1"]["t_supply_c"]  # NaN
    assert failed["q_network_kw"] > 8e6  # the plant still accounts for the step
    assert seen[2]["HeatNetwork"]["events"] == [] and seen[2]["HeatNetwork"]["q_loss_kw"] > 0
