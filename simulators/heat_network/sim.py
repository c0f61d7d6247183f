"""mosaik adapter of the heat-network model: one district heating network per simulator.

Init params: the platform's common `step_size` (s), `start`, `tz`, `n_steps`.

Models (units in the names; signs as in `model.py`: demands, losses, source heat >= 0, store
power positive when charging, pump power a load on the electrical grid):
- `HeatNetwork` (exactly one; create param `params`: a dict of `params.NetworkParams`: layout,
  sources, store, control, solver). Inputs `t_out_c` (outdoor, drives the heating curve; missing =
  the design outdoor temperature), `t_ground_c` (missing = the annual ground-temperature curve
  from the calendar), `t_supply_set_c` (replaces the heating curve; missing or None = the curve).
  Outputs: at the plant `t_supply_c`, `t_return_c`, `p_supply_bar`, `p_return_bar`,
  `m_flow_kg_s`, `lift_bar`, `p_pump_kw` (electric); totals `q_demand_kw`, `q_loss_kw`,
  `q_water_kw` (change of the heat held by the water), `e_water_kwh`, `q_network_kw` (heat the
  plant puts into the network), `q_plant_kw` (Σ sources), `unserved_kw`, `dumped_kw`, `co2_kg`
  and `pm_kg` (over the step), `converged` (1/0), `solves`, `solve_time_ms`, `events` (list of
  {time_s, kind, message} since the last `get_data` that asked for it), and the inputs as used.
  Children:
  - `Substation_<i>`: input `q_demand_kw` (heat the building needs, kW; several sources summed);
    outputs `q_kw` (delivered), `t_supply_c`, `t_return_c`, `t_return_target_c`, `m_flow_kg_s`,
    `dp_bar`, `design_kw`.
  - `Pipe_<k>` (street segment k, feeding node k + 1): `m_flow_kg_s`, `v_m_s`, `q_loss_supply_kw`,
    `q_loss_return_kw`, `t_supply_c`, `t_return_c` (mean pipe temperatures), `p_supply_bar`,
    `p_return_bar` (at its downstream node), `length_m`, `diameter_mm`.
  - `Source_<name>`: `q_kw`, `fuel` (over the step, in `fuel_unit`), `fuel_unit`, `cost` (fuel ×
    `price_per_unit`, over the step), `co2_kg`, `pm_kg`, `q_max_kw`.
  - `Store` (when the plant has one): input `p_th_set_kw` (replaces the rule; positive = charge);
    outputs `p_th_kw`, `e_kwh`, `soc`, `loss_kw`, `capacity_kwh`.

A calculation that does not converge is an event: hydraulic and thermal outputs are NaN for that
step, `converged` is 0 and the run goes on. mosaik gives `init` 10 s; the network (pandapipes'
import and the net) is built by `create`, its first solve (pandapipes compiles with numba, a few
seconds) happens in the first `step`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mosaik_api_v3.types import CreateResult, Meta, OutputData, OutputRequest

from simulators.base import TimeBasedSim, answer_from_columns, given, input_column, sum_inputs
from simulators.heat_network.model import HeatNetworkModel, HeatNetworkStep, ground_temperature_c
from simulators.heat_network.params import NetworkParams

NETWORK_INPUTS = ["t_out_c", "t_ground_c", "t_supply_set_c"]
NETWORK_ATTRS = [
    "t_supply_c", "t_return_c", "p_supply_bar", "p_return_bar", "m_flow_kg_s", "lift_bar", "p_pump_kw",
    "q_demand_kw", "q_loss_kw", "q_water_kw", "e_water_kwh", "q_network_kw", "q_plant_kw", "unserved_kw",
    "dumped_kw", "co2_kg", "pm_kg", "converged", "solves", "solve_time_ms", "events",
]
CHILD_ATTRS = {
    "Substation": ["q_demand_kw", "q_kw", "t_supply_c", "t_return_c", "t_return_target_c", "m_flow_kg_s",
                   "dp_bar", "design_kw"],
    "Pipe": ["m_flow_kg_s", "v_m_s", "q_loss_supply_kw", "q_loss_return_kw", "t_supply_c", "t_return_c",
             "p_supply_bar", "p_return_bar", "length_m", "diameter_mm"],
    "Source": ["q_kw", "fuel", "fuel_unit", "cost", "co2_kg", "pm_kg", "q_max_kw"],
    "Store": ["p_th_set_kw", "p_th_kw", "e_kwh", "soc", "loss_kw", "capacity_kwh"],
}
WALL_CLOCK_ATTRS = {"solve_time_ms"}

META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "HeatNetwork": {"public": True, "params": ["params"], "attrs": [*NETWORK_INPUTS, *NETWORK_ATTRS]},
        **{m: {"public": False, "params": [], "attrs": attrs} for m, attrs in CHILD_ATTRS.items()},
    },
}


class HeatNetworkSim(TimeBasedSim):
    """One district heating network and its substations, pipes, sources and store."""

    def __init__(self) -> None:
        super().__init__(META)
        self.model: HeatNetworkModel | None = None
        self.last: HeatNetworkStep | None = None
        self.inputs_used: dict[str, float | None] = {}
        self.substations: list[str] = []
        self.position: dict[str, tuple[str, int]] = {}
        self.columns: dict[str, dict[str, list[Any]]] = {}
        self.network_values: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.day_of_year = np.zeros(0)

    def create(  # type: ignore[override]  # explicit keywords
        self, num: int, model: str, params: dict[str, Any] | None = None
    ) -> list[CreateResult]:
        if model != "HeatNetwork":
            raise ValueError(f"{self.sid}: cannot create {model!r}; the public model is HeatNetwork")
        if self.model is not None or num != 1:
            raise ValueError(f"{self.sid}: a heat-network simulator holds exactly one HeatNetwork")
        self.model = HeatNetworkModel(NetworkParams.from_dict(params, where=f"{self.sid} HeatNetwork params"))
        self.day_of_year = np.asarray(self.times.dayofyear, dtype=float) + np.asarray(self.times.hour) / 24.0
        self.position["HeatNetwork"] = ("HeatNetwork", 0)
        children: list[CreateResult] = []

        def add(kind: str, eid: str, index: int) -> None:
            self.position[eid] = (kind, index)
            children.append({"eid": eid, "type": kind})

        for i in range(self.model.n_substations):
            add("Substation", f"Substation_{i}", i)
        self.substations = [c["eid"] for c in children]
        for k in range(self.model.topology.n_segments):
            add("Pipe", f"Pipe_{k}", k)
        for j, name in enumerate(self.model.plant.names):
            add("Source", f"Source_{name}", j)
        if self.model.plant.store is not None:
            add("Store", "Store", 0)
        return [{"eid": "HeatNetwork", "type": "HeatNetwork", "children": children}]

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        model = self.model
        if model is None:
            raise RuntimeError(f"{self.sid}: no HeatNetwork was created before the first step")
        net_in = inputs.get("HeatNetwork", {})
        t_out = sum_inputs(net_in["t_out_c"]) if given(net_in.get("t_out_c")) else None
        t_ground = (sum_inputs(net_in["t_ground_c"]) if given(net_in.get("t_ground_c"))
                    else float(ground_temperature_c(self.day_of_year[self.step_index])))
        t_set = sum_inputs(net_in["t_supply_set_c"]) if given(net_in.get("t_supply_set_c")) else None
        store_in = inputs.get("Store", {}).get("p_th_set_kw")
        p_store = sum_inputs(store_in) if given(store_in) else None
        demand = input_column(inputs, self.substations, "q_demand_kw")
        demand[np.isnan(demand)] = 0.0  # NaN means "not sent" on the platform; infinities stay (an event)
        t_out_used = t_out if t_out is not None else model.params.control.t_out_design_c
        result = model.step(demand, t_out_used, t_ground, self.step_size_s / 3600.0, t_set, p_store)
        self.last = result
        self.inputs_used = {"t_out_c": t_out_used, "t_ground_c": t_ground, "t_supply_set_c": t_set,
                            "p_th_set_kw": p_store}
        self.events.extend({"time_s": int(time_s), "kind": e.kind, "message": e.message}
                           for e in result.events)
        self._tabulate(result, model)

    def _tabulate(self, r: HeatNetworkStep, model: HeatNetworkModel) -> None:
        f, p, topo = r.flow, r.plant, model.topology
        child = np.arange(1, topo.n_nodes)
        self.columns = {
            "Substation": {
                "q_demand_kw": r.q_demand_kw.tolist(), "q_kw": r.q_demand_kw.tolist(),
                "t_supply_c": f.t_sub_in_c.tolist(), "t_return_c": f.t_sub_out_c.tolist(),
                "t_return_target_c": r.t_return_target_c.tolist(), "m_flow_kg_s": r.m_sub_kg_s.tolist(),
                "dp_bar": f.dp_sub_bar.tolist(), "design_kw": list(topo.design_kw),
            },
            "Pipe": {
                "m_flow_kg_s": f.m_segment_kg_s.tolist(), "v_m_s": f.v_segment_m_s.tolist(),
                "q_loss_supply_kw": f.loss_supply_kw.tolist(), "q_loss_return_kw": f.loss_return_kw.tolist(),
                "t_supply_c": f.t_mean_supply_c.tolist(), "t_return_c": f.t_mean_return_c.tolist(),
                "p_supply_bar": f.p_supply_bar[child].tolist(),
                "p_return_bar": f.p_return_bar[child].tolist(),
                "length_m": list(topo.length_m), "diameter_mm": list(topo.diameter_mm),
            },
            "Source": {
                "q_kw": p.q_source_kw.tolist(), "fuel": p.fuel.tolist(),
                "fuel_unit": [s.fuel_unit for s in model.plant.sources],
                "cost": (p.fuel * np.array([s.price_per_unit for s in model.plant.sources])).tolist(),
                "co2_kg": p.co2_kg.tolist(),
                "pm_kg": p.pm_kg.tolist(), "q_max_kw": model.plant.q_max_kw.tolist(),
            },
            "Store": {
                "p_th_set_kw": [self.inputs_used["p_th_set_kw"]], "p_th_kw": [p.p_store_kw],
                "e_kwh": [p.e_store_kwh], "soc": [p.soc], "loss_kw": [p.store_loss_kw],
                "capacity_kwh": [float(model.plant.store.cap[0]) if model.plant.store is not None else 0.0],
            },
        }
        self.network_values = {
            **self.inputs_used,
            "t_supply_c": float(f.t_supply_c[0]), "t_return_c": float(f.t_return_c[0]),
            "p_supply_bar": float(f.p_supply_bar[0]), "p_return_bar": float(f.p_return_bar[0]),
            "m_flow_kg_s": float(f.m_pump_kg_s), "lift_bar": float(f.lift_bar),
            "p_pump_kw": float(r.p_pump_kw),
            "q_demand_kw": float(r.q_demand_kw.sum()), "q_loss_kw": float(r.q_loss_kw),
            "q_water_kw": float(r.q_water_kw), "e_water_kwh": float(r.e_water_kwh),
            "q_network_kw": float(r.q_network_kw),
            "q_plant_kw": float(p.q_source_kw.sum()), "unserved_kw": float(p.unserved_kw),
            "dumped_kw": float(p.dumped_kw),
            "co2_kg": float(p.co2_kg.sum()), "pm_kg": float(p.pm_kg.sum()), "converged": int(r.converged),
            "solves": r.solves, "solve_time_ms": r.solve_time_ms,
        }

    def get_data(self, outputs: OutputRequest) -> OutputData:
        if self.last is None:
            raise RuntimeError(f"{self.sid}: get_data before the first step")
        data: OutputData = {}
        by_model: dict[str, dict[str, list[str]]] = {}
        for eid, attrs in outputs.items():
            kind = self.position.get(eid, ("", -1))[0]
            if kind == "HeatNetwork":
                data[eid] = self._network_outputs(list(attrs))
            elif kind:
                by_model.setdefault(kind, {})[eid] = list(attrs)
            else:
                raise ValueError(f"{self.sid}: unknown entity {eid!r}")
        for kind, request in by_model.items():
            position = {eid: self.position[eid][1] for eid in request}
            try:
                data.update(answer_from_columns(request, position, self.columns[kind]))
            except KeyError as exc:
                raise ValueError(f"{self.sid}: {kind} has no attribute {exc.args[0]!r}") from None
        return data

    def _network_outputs(self, attrs: list[str]) -> dict[str, Any]:
        values = dict(self.network_values)
        if "events" in attrs:
            values["events"], self.events = self.events, []
        unknown = [a for a in attrs if a not in values]
        if unknown:
            raise ValueError(f"{self.sid}: HeatNetwork has no attribute(s) {unknown}")
        return {a: values[a] for a in attrs}

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        return self.get_data({eid: attrs})[eid]
