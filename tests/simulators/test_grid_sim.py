"""Grid simulator in mosaik: direct API checks, a tiny world driving two connections, and the
same world with the grid simulator in its own process (`python -m simulators.grid HOST:PORT`)."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import mosaik
import mosaik_api_v3
import numpy as np
import pytest
from mosaik_api_v3.types import CreateResult, InputData, Meta, OutputData, OutputRequest

from simulators.grid.model import GridModel
from simulators.grid.networks import candidate_buses
from simulators.grid.sim import GridSim

NETWORK = "kerber_landnetz_kabel_1"
STEP_S = 900
# per step (kW): building A has two sources (summed), storage B one; step 1 asks B for 100 MW
A1_KW = [4.0, 2.5, -3.0]
A2_KW = [1.0, 0.5, 0.5]
A_Q_KVAR = 0.8
B_KW = [-2.0, 100_000.0, 6.0]
GRID_ATTRS = ["p_ext_kw", "q_ext_kvar", "losses_kw", "line_losses_kw", "trafo_losses_kw", "p_connections_kw",
              "converged", "v_min_pu", "v_max_pu", "max_line_loading_pct", "pf_time_ms", "events"]


class Source(mosaik_api_v3.Simulator):
    """Plays a fixed series of `p_kw` (and a constant `q_kvar`) per entity, one value per step."""

    def __init__(self) -> None:
        super().__init__({"api_version": "3.0", "type": "time-based", "models": {
            "Source": {"public": True, "params": ["p_kw", "q_kvar"], "attrs": ["p_kw", "q_kvar"]}}})
        self.series: list[tuple[list[float], float | None]] = []
        self.k = 0

    def create(
        self, num: int, model: str, p_kw: list[float], q_kvar: float | None = None
    ) -> list[CreateResult]:
        self.series.append((p_kw, q_kvar))
        return [{"eid": f"src_{len(self.series) - 1}", "type": model}]

    def step(self, time: int, inputs: InputData, max_advance: int) -> int:
        self.k = time // STEP_S
        return time + STEP_S

    def get_data(self, outputs: OutputRequest) -> OutputData:
        data: OutputData = {}
        for eid, attrs in outputs.items():
            p_kw, q_kvar = self.series[int(eid.split("_")[1])]
            values = {"p_kw": p_kw[self.k], "q_kvar": q_kvar}
            data[eid] = {a: values[a] for a in attrs}
        return data


class Collector(mosaik_api_v3.Simulator):
    """Keeps every input it receives, by time, in the class attribute `records`."""

    records: ClassVar[dict[int, InputData]] = {}

    def __init__(self) -> None:
        super().__init__({"api_version": "3.0", "type": "time-based", "models": {
            "Collector": {"public": True, "params": [], "attrs": [], "any_inputs": True}}})

    def create(self, num: int, model: str) -> list[CreateResult]:
        return [{"eid": "collector", "type": model}]

    def step(self, time: int, inputs: InputData, max_advance: int) -> int:
        Collector.records[time] = inputs
        return time + STEP_S


def _collected(entity: Any, attr: str, time_s: int) -> Any:
    values = Collector.records[time_s]["collector"][attr]
    return values[entity.full_id]


def _run_world(grid_config: dict[str, Any]) -> dict[str, Any]:
    """Two connections driven by three sources for three steps; returns the entities."""
    Collector.records = {}
    config = {"Grid": grid_config, "Source": {"python": f"{__name__}:Source"},
              "Collector": {"python": f"{__name__}:Collector"}}
    world = mosaik.World(config, time_resolution=1.0, skip_greetings=True, configure_logging=False)  # type: ignore[arg-type]
    try:
        gsim = world.start("Grid", network=NETWORK, step_size=STEP_S, backend="lightsim2grid")
        grid = gsim.Grid()
        conn_a, conn_b = gsim.Connection(kind="building"), gsim.Connection(bus=3, kind="storage")
        sources = world.start("Source")
        a1, a2 = sources.Source(p_kw=A1_KW, q_kvar=A_Q_KVAR), sources.Source(p_kw=A2_KW)
        b = sources.Source(p_kw=B_KW)
        world.connect(a1, conn_a, "p_kw", "q_kvar")
        world.connect(a2, conn_a, "p_kw")
        world.connect(b, conn_b, "p_kw")
        collector = world.start("Collector").Collector()
        children = {child.eid: child for child in grid.children}
        world.connect(grid, collector, *GRID_ATTRS)
        for conn in (conn_a, conn_b):
            world.connect(conn, collector, "v_pu", "bus")
        world.connect(children["Bus_3"], collector, "v_pu")
        world.connect(children["Line_0"], collector, "loading_pct", "pl_kw")
        world.connect(children["Trafo_0"], collector, "loading_pct", "pl_kw", "sn_kva")
        world.run(until=len(B_KW) * STEP_S, print_progress=False)
    except BaseException:
        world.shutdown()
        raise
    return {"grid": grid, "a": conn_a, "b": conn_b, "bus": children["Bus_3"], "line": children["Line_0"],
            "trafo": children["Trafo_0"]}


def _reference() -> list[Any]:
    model = GridModel(NETWORK, [None, 3], "pandapower")
    return [model.solve([a1 + a2, b], [A_Q_KVAR, 0.0]) for a1, a2, b in zip(A1_KW, A2_KW, B_KW, strict=True)]


def _check_outputs(e: dict[str, Any]) -> None:
    for k, ref in enumerate(_reference()):
        t = k * STEP_S
        grid = {attr: _collected(e["grid"], attr, t) for attr in GRID_ATTRS}
        json.dumps(grid)
        assert grid["p_connections_kw"] == pytest.approx(A1_KW[k] + A2_KW[k] + B_KW[k])
        assert _collected(e["a"], "bus", t) == candidate_buses(NETWORK)[0]
        assert _collected(e["b"], "bus", t) == 3
        assert _collected(e["trafo"], "sn_kva", t) == pytest.approx(100.0)
        if k == 1:  # 100 MW: not converged, NaN outputs, one event, the run goes on
            assert grid["converged"] == 0 and math.isnan(grid["p_ext_kw"]) and math.isnan(grid["v_min_pu"])
            assert math.isnan(_collected(e["a"], "v_pu", t)) and math.isnan(_collected(e["bus"], "v_pu", t))
            assert [(ev["time_s"], ev["kind"]) for ev in grid["events"]] == [(t, "not_converged")]
            continue
        assert grid["converged"] == 1 and grid["events"] == []
        assert grid["p_ext_kw"] == pytest.approx(ref.p_ext_kw, abs=1e-6)
        assert grid["q_ext_kvar"] == pytest.approx(ref.q_ext_kvar, abs=1e-6)
        assert grid["losses_kw"] == pytest.approx(grid["line_losses_kw"] + grid["trafo_losses_kw"])
        assert grid["p_ext_kw"] == pytest.approx(grid["p_connections_kw"] + grid["losses_kw"], abs=1e-6)
        assert grid["v_min_pu"] == pytest.approx(np.min(ref.v_pu), abs=1e-6)
        assert grid["max_line_loading_pct"] == pytest.approx(ref.max_line_loading_pct, abs=1e-4)
        assert grid["pf_time_ms"] > 0
        assert _collected(e["a"], "v_pu", t) == pytest.approx(ref.v_connection_pu[0], abs=1e-6)
        assert _collected(e["b"], "v_pu", t) == pytest.approx(ref.v_pu[3], abs=1e-6)
        assert _collected(e["bus"], "v_pu", t) == pytest.approx(ref.v_pu[3], abs=1e-6)
        assert _collected(e["line"], "loading_pct", t) == pytest.approx(ref.line_loading_pct[0], abs=1e-4)
        assert _collected(e["trafo"], "pl_kw", t) == pytest.approx(ref.trafo_pl_kw[0], abs=1e-6)


def test_world_in_process_matches_the_model() -> None:
    entities = _run_world({"python": "simulators.grid.sim:GridSim"})
    assert sorted(Collector.records) == [0, STEP_S, 2 * STEP_S]
    _check_outputs(entities)


@pytest.mark.slow
@pytest.mark.network
def test_world_with_the_grid_in_its_own_process() -> None:
    entities = _run_world({"cmd": "%(python)s -m simulators.grid %(addr)s", "bind_addr": ("127.0.0.1", 0)})
    _check_outputs(entities)


def _sim(**init: Any) -> tuple[GridSim, Meta]:
    sim = GridSim()
    meta = sim.init("Grid-0", time_resolution=1.0, **{"network": NETWORK, "step_size": STEP_S, **init})
    return sim, meta


def test_meta_lists_every_attribute() -> None:
    _, meta = _sim()
    models = meta["models"]
    assert models["Grid"]["attrs"] == GRID_ATTRS
    assert set(models["Connection"]["attrs"]) == {"p_kw", "q_kvar", "v_pu", "bus"}
    assert models["Connection"]["params"] == ["bus", "kind"]
    assert {m: models[m]["attrs"] for m in ("Bus", "Line", "Trafo")} == {
        "Bus": ["v_pu"], "Line": ["loading_pct", "pl_kw"], "Trafo": ["loading_pct", "pl_kw", "sn_kva"]}
    assert not any(models[m]["public"] for m in ("Bus", "Line", "Trafo"))


def test_direct_api_sums_sources_and_guards_the_lifecycle() -> None:
    sim, _ = _sim(start="2024-01-01T00:00:00", tz="UTC", n_steps=4)
    (grid,) = sim.create(1, "Grid")
    assert {c["type"] for c in grid["children"]} == {"Bus", "Line", "Trafo"}
    with pytest.raises(ValueError, match="exactly one Grid"):
        sim.create(1, "Grid")
    with pytest.raises(ValueError, match="is not a bus of"):
        sim.create(1, "Connection", bus=999)
    with pytest.raises(ValueError, match="kind must be one of"):
        sim.create(1, "Connection", kind="factory")
    with pytest.raises(ValueError, match="public models: Grid, Connection"):
        sim.create(1, "Bus")
    conns = sim.create(2, "Connection", kind="building")
    with pytest.raises(RuntimeError, match="before the first step"):
        sim.get_data({"Grid": ["p_ext_kw"]})
    inputs = {"Connection_0": {"p_kw": {"a.x": 2.0, "b.y": 1.5, "c.z": None}, "q_kvar": {"a.x": 0.5}}}
    assert sim.step(0, inputs, 10**9) == STEP_S  # Connection_1 has no input: 0 kW
    data = sim.get_data({"Grid": ["p_connections_kw", "converged", "events"],
                         conns[0]["eid"]: ["p_kw", "q_kvar"], conns[1]["eid"]: ["p_kw", "v_pu"]})
    assert data["Grid"] == {"p_connections_kw": pytest.approx(3.5), "converged": 1, "events": []}
    assert data["Connection_0"] == {"p_kw": 3.5, "q_kvar": 0.5}
    assert data["Connection_1"]["p_kw"] == 0.0 and 0.9 < data["Connection_1"]["v_pu"] < 1.1
    with pytest.raises(RuntimeError, match="all connections must be created before the first step"):
        sim.create(1, "Connection")


def test_non_finite_input_is_an_event_and_the_run_goes_on() -> None:
    sim, _ = _sim()
    sim.create(1, "Grid")
    sim.create(1, "Connection")
    sim.step(0, {"Connection_0": {"p_kw": {"s.a": float("nan")}}}, 10**9)
    data = sim.get_data({"Grid": ["converged", "events"], "Bus_3": ["v_pu"]})
    assert data["Grid"]["converged"] == 0 and math.isnan(data["Bus_3"]["v_pu"])
    assert [e["kind"] for e in data["Grid"]["events"]] == ["non_finite_input"]
    sim.step(STEP_S, {"Connection_0": {"p_kw": {"s.a": 1.0}}}, 10**9)
    assert sim.get_data({"Grid": ["converged", "events"]})["Grid"] == {"converged": 1, "events": []}


def test_bad_init_params_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown network"):
        _sim(network="atlantis")
    with pytest.raises(ValueError, match="unknown backend"):
        _sim(backend="turbo")
    with pytest.raises(ValueError, match="step_size"):
        _sim(step_size=0)
    sim, _ = _sim()
    with pytest.raises(RuntimeError, match="no connections"):
        sim.step(0, {}, 10**9)
