"""mosaik adapter of the grid model: one low-voltage feeder and the connections attached to it.

Init params: `network` (a name of `available_networks()`), `step_size` (s), `backend` ("auto" |
"pandapower" | "lightsim2grid"); `start`, `tz` and `n_steps` are accepted for the platform's
common init signature and not used (the grid has no calendar).

Models (signs: load convention, p_kw > 0 drawn from the grid, storage positive when charging;
p_ext_kw > 0 is import into the feeder from the MV grid):
- `Grid` (exactly one; children `Bus_<i>`, `Line_<j>`, `Trafo_<k>` with pandapower indices):
  `p_ext_kw`, `q_ext_kvar`, `losses_kw` (= `line_losses_kw` + `trafo_losses_kw`),
  `p_connections_kw` (Σ connection p), `converged` (1/0), `v_min_pu`, `v_max_pu`,
  `max_line_loading_pct`, `pf_time_ms` (wall time of the solve), `events` (list of
  {time_s, kind, message} since the last `get_data` that asked for it).
- `Connection` (create params `bus`: int bus index of a low-voltage bus (the medium-voltage slack
  bus is refused: a house there would bypass feeder and transformer), omitted → round-robin over
  the feeder's house connection buses; `kind`: "building" | "storage"): inputs `p_kw`, `q_kvar`
  (missing = 0, None ignored, several sources summed); outputs `v_pu`, `bus`, and `p_kw` / `q_kvar`
  as applied.
- `Bus`: `v_pu`. `Line`: `loading_pct`, `pl_kw`. `Trafo`: `loading_pct`, `pl_kw`, `sn_kva`.

Every connection must be created before the first step. A power flow that does not converge (or
receives a non-finite power) is recorded as an event; its voltages, loadings and losses are NaN,
`converged` is 0 and the run goes on.

mosaik gives a simulator's `init` 10 s by default (`start_timeout`); `create` and `step` have no
limit. So `init` only checks its parameters, and the feeder (importing pandapower, a few seconds,
and building the network, up to 4 s) is loaded by the first `create` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Any

import mosaik_api_v3
import numpy as np
from mosaik_api_v3.types import CreateResult, InputData, Meta, OutputData, OutputRequest

from simulators.base import same_keys
from simulators.grid.model import Backend, GridModel, PowerFlowResult, resolve_backend
from simulators.grid.networks import Feeder, check_bus, check_network, load_feeder
from simulators.vector import VECTOR, InputView, Vectors, with_vector

GRID_ATTRS = ["p_ext_kw", "q_ext_kvar", "losses_kw", "line_losses_kw", "trafo_losses_kw", "p_connections_kw",
              "converged", "v_min_pu", "v_max_pu", "max_line_loading_pct", "pf_time_ms", "events"]
CONNECTION_INPUTS = ["p_kw", "q_kvar"]
CONNECTION_KINDS = ("building", "storage")
CHILD_ATTRS = {"Bus": ["v_pu"], "Line": ["loading_pct", "pl_kw"], "Trafo": ["loading_pct", "pl_kw", "sn_kva"]}

META: Meta = with_vector({
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Grid": {"public": True, "params": [], "attrs": GRID_ATTRS},
        "Connection": {"public": True, "params": ["bus", "kind"],
                       "attrs": [*CONNECTION_INPUTS, "v_pu", "bus"]},
        **{model: {"public": False, "params": [], "attrs": attrs} for model, attrs in CHILD_ATTRS.items()},
    },
})  # a `Vector` entity stands for many connections, buses, lines or trafos (`simulators.vector`)


@dataclass(frozen=True)
class _Entity:
    """What an entity id stands for: its model and its position (bus / line / trafo / connection)."""

    model: str
    index: int


@dataclass(frozen=True)
class _Group:
    """Elements of one model asked for the same attributes: answered together from the columns
    (`rows` None: the model's first elements, in order)."""

    model: str
    attrs: tuple[str, ...]
    eids: tuple[str, ...]
    rows: tuple[int, ...] | None


@dataclass(frozen=True, eq=False)
class _RequestPlan:
    """How a `get_data` request is answered: mosaik asks with the same request (the same dict)
    every step, so it is grouped once. A plan is reused for the same dict with the same size and
    the same first and last entity (mosaik does not change its request once the world runs; any
    other request gets a new plan)."""

    request: OutputRequest
    size: int
    first: str | None
    last: str | None
    grid: tuple[tuple[str, list[str]], ...]  # the Grid entity (and unknown ids, refused when answered)
    groups: tuple[_Group, ...]

    def matches(self, outputs: OutputRequest) -> bool:
        return outputs is self.request and same_keys(outputs, self.size, self.first, self.last)


@dataclass(frozen=True)
class _Applied:
    """Connection powers applied in the last step (kW / kvar, load convention)."""

    p_kw: np.ndarray
    q_kvar: np.ndarray


class GridSim(mosaik_api_v3.Simulator):
    """One feeder and its connections, solved once per step."""

    def __init__(self) -> None:
        super().__init__(META)  # type: ignore[no-untyped-call]  # mosaik_api_v3 is untyped
        self.sid = ""
        self.step_size_s = 0
        self.backend: Backend = "auto"
        self.network = ""
        self.feeder: Feeder | None = None
        self.entities: dict[str, _Entity] = {}
        self.connections: list[str] = []
        self.requested_buses: list[int | None] = []
        self.has_grid = False
        self.model: GridModel | None = None
        self.result: PowerFlowResult | None = None
        self.applied = _Applied(np.zeros(0), np.zeros(0))
        self.columns: dict[str, dict[str, list[Any]]] = {}
        self.static_columns: dict[str, list[Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._plan: _RequestPlan | None = None
        self.vectors = Vectors()
        self.vector_model: dict[str, str] = {}  # vector eid -> its members' model
        self._positions: dict[str, int] | None = None  # entity id -> index in its model (after create)

    def init(  # type: ignore[override]  # explicit keywords
        self,
        sid: str,
        time_resolution: float = 1.0,
        network: str = "kerber_vorstadtnetz_kabel_1",
        step_size: int = 900,
        backend: Backend = "auto",
        start: str | None = None,
        tz: str | None = None,
        n_steps: int | None = None,
    ) -> Meta:
        if time_resolution != 1.0:
            raise ValueError(f"GridSim needs time_resolution=1 (seconds), got {time_resolution}")
        if int(step_size) != step_size or step_size <= 0:
            raise ValueError(f"step_size must be a positive whole number of seconds, got {step_size!r}")
        check_network(network)
        resolve_backend(backend)
        self.sid, self.step_size_s, self.backend, self.network = sid, int(step_size), backend, network
        return self.meta

    def create(  # type: ignore[override]  # explicit keywords
        self, num: int, model: str, bus: int | None = None, kind: str = "building",
        members: list[str] | None = None,
    ) -> list[CreateResult]:
        if model == VECTOR:
            return self._create_vector(num, members)
        if model == "Grid":
            return [self._create_grid(num)]
        if model != "Connection":
            raise ValueError(f"{self.sid}: cannot create {model!r}; public models: Grid, Connection")
        return [self._create_connection(bus, kind) for _ in range(num)]

    def _create_grid(self, num: int) -> CreateResult:
        if self.has_grid or num != 1:
            raise ValueError(f"{self.sid}: a grid simulator holds exactly one Grid entity")
        net = self._feeder().net
        self.has_grid = True
        self.entities["Grid"] = _Entity("Grid", 0)
        children: list[CreateResult] = []
        for model, table in (("Bus", net.bus), ("Line", net.line), ("Trafo", net.trafo)):
            for position, index in enumerate(table.index):
                eid = f"{model}_{index}"
                self.entities[eid] = _Entity(model, position)
                children.append({"eid": eid, "type": model})
        return {"eid": "Grid", "type": "Grid", "children": children}

    def _create_connection(self, bus: int | None, kind: str) -> CreateResult:
        if self.model is not None:
            raise RuntimeError(f"{self.sid}: all connections must be created before the first step")
        if kind not in CONNECTION_KINDS:
            raise ValueError(f"{self.sid}: connection kind must be one of {CONNECTION_KINDS}, got {kind!r}")
        eid = f"Connection_{len(self.connections)}"
        if bus is not None:  # a bad bus is reported now, not at the first step
            check_bus(bus, self._feeder(), f"{self.sid}.{eid}")
        self.entities[eid] = _Entity("Connection", len(self.connections))
        self.connections.append(eid)
        self.requested_buses.append(bus)
        return {"eid": eid, "type": "Connection"}

    def _create_vector(self, num: int, members: list[str] | None) -> list[CreateResult]:
        known = {eid: e for eid, e in self.entities.items() if e.model != "Grid"}
        created = self.vectors.create(num, members, known, self.sid)
        models = {known[m].model for m in members or []}
        if len(models) != 1:
            raise ValueError(f"{self.sid}: a Vector's members are of one model, got {sorted(models)}")
        self.vector_model[created[0]["eid"]] = models.pop()
        return created

    def _feeder(self) -> Feeder:
        if not self.network:
            raise RuntimeError("GridSim: init must be called first")
        if self.feeder is None:
            self.feeder = load_feeder(self.network)
        return self.feeder

    def step(self, time: int, inputs: InputData, max_advance: int) -> int:
        model = self._model()
        applied = self._gather(InputView(inputs, self.vectors, self.sid))
        self.applied = applied
        self.result = model.solve(applied.p_kw, applied.q_kvar)
        self.columns = self._columns(self.result, model, applied)
        if not self.result.converged:
            kind = "non_finite_input" if self.result.message.startswith("non-finite") else "not_converged"
            self.events.append({"time_s": int(time), "kind": kind, "message": self.result.message})
        return time + self.step_size_s

    def _model(self) -> GridModel:
        if self.model is None:
            if not self.connections:
                raise RuntimeError(f"{self.sid}: no connections were created before the first step")
            self.model = GridModel(self._feeder(), self.requested_buses, self.backend)
        return self.model

    def _gather(self, view: InputView) -> _Applied:
        n = len(self.connections)
        if not view.inputs:
            return _Applied(np.zeros(n), np.zeros(n))
        eids = self.connections
        columns = []
        for attr in CONNECTION_INPUTS:
            summed = view.summed(attr, eids, self._element_index())
            columns.append(_connection_column(view.expanded(), eids, attr) if summed is None else summed)
        return _Applied(*columns)

    def _element_index(self) -> dict[str, int]:
        if self._positions is None:
            self._positions = {eid: entity.index for eid, entity in self.entities.items()}
        return self._positions

    def get_data(self, outputs: OutputRequest) -> OutputData:
        if self.result is None:
            raise RuntimeError(f"{self.sid}: get_data before the first step")
        outputs, vectors = self.vectors.split(outputs)
        plan = self._plan
        if plan is None or not plan.matches(outputs):
            plan = self._plan = self._request_plan(outputs)
        data: OutputData = {eid: self._outputs(eid, list(attrs)) for eid, attrs in plan.grid}
        if vectors:
            position = self._element_index()
            for vid, attrs in vectors.items():
                model_columns = self.columns[self.vector_model[vid]]
                data.update(self.vectors.answer({vid: attrs}, model_columns.__getitem__, position))
        for group in plan.groups:
            model_columns = self.columns[group.model]
            columns = [model_columns[a] for a in group.attrs]
            if group.rows is not None:
                columns = [[column[r] for r in group.rows] for column in columns]
            elif len(group.eids) < len(columns[0]):
                columns = [column[: len(group.eids)] for column in columns]
            # buses ask for one attribute, lines and connections for two: a dict display per element
            # (2-3 times faster than dict(zip(...)))
            if len(group.attrs) == 1:
                attr = group.attrs[0]
                data.update(zip(group.eids, [{attr: value} for value in columns[0]], strict=True))
            elif len(group.attrs) == 2:
                a, b = group.attrs
                pairs = zip(columns[0], columns[1], strict=True)
                data.update(zip(group.eids, [{a: x, b: y} for x, y in pairs], strict=True))
            else:
                rows = map(dict, map(zip, repeat(group.attrs), zip(*columns, strict=True)))
                data.update(zip(group.eids, rows, strict=True))
        return data

    def _request_plan(self, outputs: OutputRequest) -> _RequestPlan:
        """Group a request's elements by model and attributes (checked here: unknown entities and
        attributes are refused with the model's name)."""
        grid: list[tuple[str, list[str]]] = []
        groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for eid, attrs in outputs.items():
            entity = self.entities.get(eid)
            if entity is None or entity.model == "Grid":
                grid.append((eid, list(attrs)))
                continue
            names = tuple(dict.fromkeys(attrs))  # mosaik lists an attribute once per connection using it
            unknown = [a for a in names if a not in self.columns[entity.model]]
            if unknown:
                raise ValueError(f"{self.sid}: {entity.model} has no attribute {unknown[0]!r}")
            groups.setdefault((entity.model, names), []).append(eid)
        planned = []
        for (model, names), eids in groups.items():
            rows = [self.entities[eid].index for eid in eids]
            in_order = rows == list(range(len(rows)))  # the model's first elements, in order
            planned.append(_Group(model, names, tuple(eids), None if in_order else tuple(rows)))
        return _RequestPlan(outputs, len(outputs), next(iter(outputs), None),
                            next(reversed(outputs), None), tuple(grid), tuple(planned))

    def _outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        entity = self.entities.get(eid)
        if entity is None:
            raise ValueError(f"{self.sid}: unknown entity {eid!r}")
        values = self._values(entity, attrs)
        unknown = sorted(set(attrs) - set(values))
        if unknown:
            raise ValueError(f"{self.sid}: {entity.model} has no attribute(s) {unknown}")
        return {attr: values[attr] for attr in attrs}

    def _columns(
        self, r: PowerFlowResult, model: GridModel, applied: _Applied
    ) -> dict[str, dict[str, list[Any]]]:
        """Every per-element output as Python lists, once per step (get_data then only indexes);
        the static ones (connection buses, transformer ratings) are built at the first step."""
        if not self.static_columns:
            self.static_columns = {
                "bus": [int(b) for b in model.connection_buses],
                "sn_kva": model.trafo_sn_kva.tolist(),
            }
        static = self.static_columns
        return {
            "Connection": {"v_pu": r.v_connection_pu.tolist(), "bus": static["bus"],
                           "p_kw": applied.p_kw.tolist(), "q_kvar": applied.q_kvar.tolist()},
            "Bus": {"v_pu": r.v_pu.tolist()},
            "Line": {"loading_pct": r.line_loading_pct.tolist(), "pl_kw": r.line_pl_kw.tolist()},
            "Trafo": {"loading_pct": r.trafo_loading_pct.tolist(), "pl_kw": r.trafo_pl_kw.tolist(),
                      "sn_kva": static["sn_kva"]},
        }

    def _values(self, entity: _Entity, attrs: list[str]) -> dict[str, Any]:
        r, i = self.result, entity.index
        if r is None or self.model is None:
            raise RuntimeError(f"{self.sid}: get_data before the first step")
        if entity.model == "Grid":
            return self._grid_values(r, with_events="events" in attrs)
        columns = self.columns[entity.model]
        return {attr: columns[attr][i] for attr in attrs if attr in columns}

    def _grid_values(self, r: PowerFlowResult, with_events: bool) -> dict[str, Any]:
        values: dict[str, Any] = {
            "p_ext_kw": r.p_ext_kw, "q_ext_kvar": r.q_ext_kvar, "losses_kw": r.losses_kw,
            "line_losses_kw": r.line_losses_kw, "trafo_losses_kw": r.trafo_losses_kw,
            "p_connections_kw": r.p_connections_kw, "converged": int(r.converged),
            "v_min_pu": r.v_min_pu, "v_max_pu": r.v_max_pu, "max_line_loading_pct": r.max_line_loading_pct,
            "pf_time_ms": r.solve_time_ms,
        }
        if with_events:
            values["events"], self.events = self.events, []
        return values


def _sum_sources(values: dict[str, Any]) -> float:
    """Sum of the values several sources sent to one input (None is ignored, nothing sent = 0)."""
    return float(sum(float(v) for v in values.values() if v is not None))


def _connection_column(inputs: InputData, eids: list[str], attr: str) -> np.ndarray:
    """`_sum_sources` of one input of every connection, as an array: without a Python call per
    connection when each has one source (the usual case)."""
    empty: dict[str, Any] = {}
    values = [
        0.0 if not sources else next(iter(sources.values())) if len(sources) == 1 else _sum_sources(sources)
        for sources in [inputs.get(eid, empty).get(attr) for eid in eids]
    ]
    # a single None becomes NaN here: put 0 back (None is ignored); + 0.0 turns -0.0 into 0.0 like
    # the integer start of sum()
    column: np.ndarray = np.array([0.0 if v is None else v for v in values], dtype=float) + 0.0
    return column
