"""Building the mosaik world of a scenario: simulators, entities, connections, the recorder.

Data flow per step (see `controllers.baseline` for the control timing):
weather → buildings → agents → batteries; buildings and their batteries → the grid connection at
the building's meter (summed there); tanks → their building and its agent; agents → buildings and
tanks (time-shifted); batteries → agents (time-shifted). A standalone storage unit has an agent of
its own (role "storage", which sees the district's net load; `cosim.control.adapter`) and its own
grid connection. With a heat network: weather → network; each district-heated
building's `q_district_kw` → its substation (same step); the network's pump power → its own grid
connection. A building's solar-thermal collectors → the building (`q_solar_kw`, same step), the
building's use of that heat → the collectors (time-shifted). Every entity's outputs → the recorder.

The connections are made at the end of the build (`_connect_all`): a link that repeats over many
entities (the same simulators, models, attributes and timing, e.g. every building → its agent) is
made once between two vector entities (`simulators.vector`: one list per attribute, one element per
building) instead of once per building, and a single source that feeds many entities of a simulator
(the weather → every building) once to a vector of them; each table's run of entities recorded
alike is one vector source of the recorder. The simulators see the same values either way (tested
against per-entity connections, `vector_links=False`). Simulators without vectors (hardware-in-the-
loop devices, plug-ins) keep one connection per entity.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import mosaik

from cosim.control import BATTERY_INPUTS, MEASUREMENT_INPUTS, PREDICTIVE_INPUTS, TANK_INPUTS
from cosim.mqtt.emulator import device_id
from cosim.scenario.model import PREDICTIVE_KINDS, BuildingGroup, Scenario
from cosim.world.context import RunContext
from cosim.world.registry import new_world
from simulators.building.model import OUTPUT_ATTRS as BUILDING_OUTPUTS
from simulators.building.sim import WEATHER_INPUTS
from simulators.heat_network.sim import CHILD_ATTRS as HEAT_CHILD_ATTRS
from simulators.heat_network.sim import NETWORK_ATTRS as HEAT_NETWORK_ATTRS
from simulators.solar_thermal.sim import OUTPUTS as SOLAR_OUTPUTS
from simulators.solar_thermal.sim import WEATHER_INPUTS as SOLAR_WEATHER_INPUTS
from simulators.sources.sim import PRICE_ATTRS, WEATHER_ATTRS
from simulators.storage.model import StorageFleet, StorageSpec
from simulators.vector import VECTOR

BATTERY_OUTPUTS = [
    "p_kw", "p_set_kw", "clipped_kw", "e_kwh", "soc", "loss_kw", "p_charge_max_kw", "p_discharge_max_kw",
]
TANK_OUTPUTS = ["p_th_kw", "p_th_set_kw", "clipped_kw", "e_kwh", "soc", "loss_kw"]
SETPOINTS = ["battery_p_set_kw", "hp_p_set_kw", "t_set_c", "flex_shift_kw", "tank_p_th_set_kw"]
# a battery's state as its agent receives it, time-shifted: its state at t and its power over the step
# before (`battery_p_kw`, what the anomaly checks compare a claim with)
BATTERY_TO_AGENT: tuple[str | tuple[str, str], ...] = (*BATTERY_INPUTS, ("p_kw", "battery_p_kw"))
# a tank's state as its building's agent receives it (tank output → agent input)
TANK_TO_AGENT = tuple(
    zip(["soc", "capacity_kwh", "p_charge_max_kw", "p_discharge_max_kw", "p_th_kw"], TANK_INPUTS, strict=True)
)
NAN = float("nan")  # "no setpoint" (mosaik reads None as "no output")
# simulators (registry names) with vector entities (`simulators.vector`), and the fewest entities a
# link or a recorded run must repeat over to be made with them
VECTOR_SIMULATORS = frozenset({"Building", "Storage", "Grid", "Control"})
VECTOR_MIN = 2
GRID_TABLES = {"Grid": "grid", "Bus": "buses", "Line": "lines", "Trafo": "trafos"}
HEAT_NETWORK = "heat_network"  # the network's name in the results (tables heat_network, connections)
# the heat network's result tables: the network, its substations, sources and store (pipes are not
# recorded: a street network has hundreds of segments; `HeatNetwork` sums their losses)
HEAT_TABLES = {"Substation": "substations", "Source": "heat_sources", "Store": "heat_store"}
HEAT_RECORDED = {
    "HeatNetwork": ["t_out_c", "t_ground_c", *HEAT_NETWORK_ATTRS],
    "Substation": HEAT_CHILD_ATTRS["Substation"],
    "Source": [*HEAT_CHILD_ATTRS["Source"], "cost"],
    "Store": [a for a in HEAT_CHILD_ATTRS["Store"] if a != "p_th_set_kw"],
}


@dataclass(frozen=True)
class EntityInfo:
    """A row of the `entities` table: what each named thing in the results is."""

    name: str
    kind: str
    group: str
    building: str | None = None
    bus: int | None = None
    capacity_kwh: float | None = None


@dataclass
class BuiltWorld:
    """A world ready to run, with the map from mosaik ids to result tables and names."""

    world: mosaik.World
    until_s: int
    entities: list[EntityInfo] = field(default_factory=list)
    record: dict[str, list[str]] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    # the connections as made: vector links (`simulators.vector`) where `links` repeat, else `links`
    made: list[Link] = field(default_factory=list)


@dataclass(frozen=True)
class Link:
    """One `world.connect` call, kept so the data-flow graph can be inspected or mirrored."""

    src: Any
    dest: Any
    pairs: tuple[tuple[str, str], ...]
    time_shifted: bool
    initial_data: dict[str, Any]


def building_names(group: BuildingGroup) -> list[str]:
    """Display names of a group's buildings (see `BuildingGroup.names`)."""
    return group.names()


class _Builder:
    def __init__(self, scenario: Scenario, context: RunContext, vector_links: bool = True) -> None:
        self.s = scenario
        self.vector_links = vector_links
        self.factories: dict[str, tuple[str, Any]] = {}  # sid → registry name, mosaik factory
        self.vectors: dict[tuple[str, tuple[str, ...]], Any] = {}  # (sid, member eids) → vector entity
        self.world = new_world(scenario.execution.processes)
        self.built = BuiltWorld(self.world, scenario.duration)
        self.recorded: list[tuple[Any, list[str], str, str]] = []
        self.district: list[tuple[str, str, Any]] = []  # (building, group, entity) on the heat network
        self.stsim: Any = None  # the solar-thermal simulator, when a group has collectors
        self.context = context
        self.controller_params = scenario.controller_params()
        common = {"start": scenario.start, "tz": scenario.timezone, "n_steps": scenario.n_steps}
        self.common = {"step_size": scenario.step, **common}
        self.control_common = {
            "step_size": scenario.control_step,
            **common,
            "n_steps": scenario.duration // scenario.control_step,
        }

    def start(self, name: str, **params: Any) -> Any:
        factory = self.world.start(name, **params)
        self.factories[factory._sid] = (name, factory)
        return factory

    def connect(
        self,
        src: Any,
        dest: Any,
        *attrs: str | tuple[str, str],
        time_shifted: bool = False,
        initial_data: dict[str, Any] | None = None,
    ) -> None:
        pairs = tuple((a, a) if isinstance(a, str) else a for a in attrs)
        self.built.links.append(Link(src, dest, pairs, time_shifted, initial_data or {}))

    def _make(self, link: Link) -> None:
        self.world.connect(
            link.src, link.dest, *link.pairs, time_shifted=link.time_shifted, initial_data=link.initial_data
        )
        self.built.made.append(link)

    def _vector_capable(self, entity: Any) -> bool:
        name = self.factories.get(entity.sid, ("", None))[0]
        return self.vector_links and entity.type != VECTOR and name in VECTOR_SIMULATORS

    def _vector(self, members: list[Any]) -> Any:
        """The vector entity over `members` (entities of one simulator, in this order)."""
        sid = members[0].sid
        key = (sid, tuple(m.eid for m in members))
        vector = self.vectors.get(key)
        if vector is None:
            factory = self.factories[sid][1]
            vector = self.vectors[key] = factory.Vector(members=[m.eid for m in members])
        return vector

    def _connect_all(self) -> None:
        """Make the collected links: as vector links where a link repeats (see the module
        docstring), in the order the links were collected otherwise."""
        groups: dict[tuple[Any, ...], list[Link]] = defaultdict(list)
        for link in self.built.links:
            key = (link.src.sid, link.src.type, link.dest.sid, link.dest.type, link.pairs,
                   link.time_shifted, tuple(link.initial_data))
            groups[key].append(link)
        for links in groups.values():
            if not self._connect_vector(links):
                for link in links:
                    self._make(link)

    def _connect_vector(self, links: list[Link]) -> bool:
        """Connect `links` (alike but for their entities) through vector entities; False where
        they cannot be (too few, a simulator without vectors, an entity twice)."""
        if len(links) < VECTOR_MIN or not self._vector_capable(links[0].dest):
            return False
        dests = [link.dest for link in links]
        if len({d.full_id for d in dests}) != len(dests):
            return False
        srcs = [link.src for link in links]
        initial: dict[str, Any]
        if all(s.full_id == srcs[0].full_id for s in srcs):  # one source → every destination
            if any(link.initial_data != links[0].initial_data for link in links):
                return False
            src, initial = srcs[0], links[0].initial_data
        elif self._vector_capable(srcs[0]) and len({s.full_id for s in srcs}) == len(srcs):
            src = self._vector(srcs)
            initial = {a: [link.initial_data[a] for link in links] for a in links[0].initial_data}
        else:
            return False
        self._make(Link(src, self._vector(dests), links[0].pairs, links[0].time_shifted, initial))
        return True

    def record(self, entity: Any, attrs: list[str], table: str, name: str) -> None:
        self.recorded.append((entity, attrs, table, name))

    def build(self) -> BuiltWorld:
        s = self.s
        site = {**s.site.model_dump(exclude={"heating_degree_days_kd"}), "tz": s.timezone}
        sources = self.start("Sources", **self.common)
        weather = sources.Weather(
            spec={**s.sources.weather.model_dump(mode="json"), "seed": s.seed}, site=site
        )
        prices = sources.Prices(
            spec={
                **s.sources.prices.model_dump(mode="json", exclude={"gas_per_kwh", "gas_co2_kg_per_kwh"}),
                "seed": s.seed,
            }
        )
        self.record(weather, WEATHER_ATTRS, "weather", "weather")
        self.record(prices, PRICE_ATTRS, "prices", "prices")
        bsim = (
            None
            if all(g.external for g in s.buildings)
            else self.start(
                "Building",
                seed=s.seed,
                site=site,
                heating_degree_days_kd=s.site.heating_degree_days_kd,
                **self.common,
            )
        )
        self.dsim = (
            self.start("Devices", context=self.context, **self.common)
            if any(g.external for g in s.buildings)
            else None
        )
        has_batteries = bool(s.storage) or any(g.battery for g in s.buildings)
        ssim = self.start("Storage", **self.common) if has_batteries else None
        # tanks feed their buildings within the step, batteries follow the agents within the step:
        # separate simulator instances, since mosaik orders simulators, not entities
        tsim = self.start("Storage", **self.common) if any(g.tank for g in s.buildings) else None
        if any(g.solar_thermal is not None and not g.external for g in s.buildings):
            self.stsim = self.start("SolarThermal", site=site, **self.common)
        gsim = self.start("Grid", network=s.grid.network, backend=s.grid.backend, **self.common)
        grid = gsim.Grid()
        self.record(
            grid,
            [
                "p_ext_kw",
                "q_ext_kvar",
                "losses_kw",
                "line_losses_kw",
                "trafo_losses_kw",
                "p_connections_kw",
                "converged",
                "v_min_pu",
                "v_max_pu",
                "max_line_loading_pct",
                "pf_time_ms",
                "events",
            ],
            "grid",
            "grid",
        )
        for child in grid.children:
            table = GRID_TABLES[child.type]
            self.record(child, _grid_child_attrs(child.type), table, child.eid)
        csim = self.start("Control", context=self.context, **self.control_common)
        index = 0
        for group in s.buildings:
            names = building_names(group)
            spec = group.building_spec()
            for k, name in enumerate(names):
                bus = None if group.buses is None else group.buses[k]
                self._add_building(bsim, ssim, tsim, gsim, csim, weather, group, spec, name, index, bus)
                index += 1
        if s.heat_network is not None:
            self._add_heat_network(gsim, weather)
        for unit in s.storage:
            if ssim is None:
                raise RuntimeError("standalone storage without a storage simulator")
            spec = unit.model_dump(exclude={"name", "bus"})
            bat = ssim.Battery(spec=spec)
            conn = gsim.Connection(bus=unit.bus, kind="storage")
            agent = csim.Agent(
                kind=s.controller.kind, params=self.controller_params, agent_id=unit.name, role="storage"
            )
            self.connect(bat, conn, "p_kw")
            self.connect(agent, bat, ("battery_p_set_kw", "p_set_kw"))
            self.connect(
                bat, agent, *BATTERY_TO_AGENT, time_shifted=True, initial_data=_battery_state(spec, s.step)
            )
            self.record(bat, BATTERY_OUTPUTS, "batteries", unit.name)
            self.record(agent, SETPOINTS, "setpoints", unit.name)
            self.record(conn, ["v_pu", "bus"], "connections", unit.name)
            self.built.entities.append(
                EntityInfo(unit.name, "battery", unit.name, None, unit.bus, unit.capacity_kwh)
            )
        self._connect_all()
        self._add_recorder()
        return self.built

    def _add_building(
        self,
        bsim: Any,
        ssim: Any,
        tsim: Any,
        gsim: Any,
        csim: Any,
        weather: Any,
        group: BuildingGroup,
        spec: dict[str, Any],
        name: str,
        index: int,
        bus: int | None,
    ) -> None:
        if group.external:  # hardware in the loop: the device answers on MQTT, no weather needed
            if self.dsim is None:
                raise RuntimeError("external building without a device simulator")
            b = self.dsim.Device(device_id=device_id(name))
        else:
            b = bsim.Building(spec=spec, index=index)
            self.connect(weather, b, *WEATHER_INPUTS)
        conn = gsim.Connection(kind="building", **({} if bus is None else {"bus": bus}))
        agent = csim.Agent(kind=self.s.controller.kind, params=self.controller_params, agent_id=name)
        self.connect(b, conn, "p_kw", "q_kvar")
        predictive = self.s.controller.kind in PREDICTIVE_KINDS
        hot_water: tuple[str, ...] = ()  # what a tank's controller needs from the building
        if group.tank is not None and not group.external:
            hot_water = ("dhw_th_kw",) if predictive else ("dhw_th_kw", "cop")
        self.connect(b, agent, *MEASUREMENT_INPUTS, *(PREDICTIVE_INPUTS if predictive else ()), *hot_water)
        self.connect(
            agent,
            b,
            "hp_p_set_kw",
            "t_set_c",
            "flex_shift_kw",
            time_shifted=True,
            initial_data={"hp_p_set_kw": NAN, "t_set_c": NAN, "flex_shift_kw": NAN},
        )
        self.record(b, BUILDING_OUTPUTS, "buildings", name)
        self.record(conn, ["v_pu", "bus"], "connections", name)
        self.record(agent, SETPOINTS, "setpoints", name)
        self.built.entities.append(
            EntityInfo(name, "device" if group.external else "building", group.name, None, bus)
        )
        if group.heating == "district":
            self.district.append((name, group.name, b))
        if group.battery is not None:
            bat = ssim.Battery(spec=group.battery.model_dump())
            self.connect(bat, conn, "p_kw")
            self.connect(agent, bat, ("battery_p_set_kw", "p_set_kw"))
            self.connect(
                bat,
                agent,
                *BATTERY_TO_AGENT,
                time_shifted=True,
                initial_data=_battery_state(group.battery.model_dump(), self.s.step),
            )
            self.record(bat, BATTERY_OUTPUTS, "batteries", f"{name}.battery")
            self.built.entities.append(
                EntityInfo(f"{name}.battery", "battery", group.name, name, bus, group.battery.capacity_kwh)
            )
        if group.tank is not None:
            tank = tsim.Tank(spec=group.tank.model_dump())
            self.connect(tank, b, ("p_th_kw", "tank_p_th_kw"))
            self.connect(tank, agent, *TANK_TO_AGENT)
            self.connect(
                agent,
                tank,
                ("tank_p_th_set_kw", "p_th_set_kw"),
                time_shifted=True,
                initial_data={"tank_p_th_set_kw": NAN},
            )
            self.record(tank, TANK_OUTPUTS, "tanks", f"{name}.tank")
            self.built.entities.append(
                EntityInfo(f"{name}.tank", "tank", group.name, name, bus, group.tank.capacity_kwh)
            )
        if group.solar_thermal is not None and not group.external:
            collector = self.stsim.Collector(spec=group.solar_thermal.model_dump())
            self.connect(weather, collector, *SOLAR_WEATHER_INPUTS)
            self.connect(collector, b, "q_solar_kw")
            used = {"q_solar_used_kw": 0.0}
            self.connect(b, collector, *used, time_shifted=True, initial_data=used)
            self.record(collector, SOLAR_OUTPUTS, "solar_thermal", f"{name}.solar_thermal")
            self.built.entities.append(
                EntityInfo(f"{name}.solar_thermal", "solar_thermal", group.name, name, bus,
                           group.solar_thermal.store_kwh)
            )  # fmt: skip

    def _add_heat_network(self, gsim: Any, weather: Any) -> None:
        """The district heating network: one substation per district-heated building (in scenario
        order, as `Scenario.heat_network_params` lays them out), the plant's pump on the grid."""
        config = self.s.heat_network
        if config is None:
            raise RuntimeError("a heat network without its scenario section")
        hsim = self.start("HeatNetwork", **self.common)
        network = hsim.HeatNetwork(params=self.s.heat_network_params())
        self.connect(weather, network, "t_out_c")
        children: dict[str, list[Any]] = {}
        for child in sorted(network.children, key=lambda c: (c.type, _eid_number(c.eid))):
            children.setdefault(child.type, []).append(child)
        substations = children.get("Substation", [])
        if len(substations) != len(self.district):
            raise RuntimeError(
                f"{len(substations)} substations for {len(self.district)} district-heated buildings"
            )
        for (name, group, building), substation in zip(self.district, substations, strict=True):
            self.connect(building, substation, ("q_district_kw", "q_demand_kw"))
            self.record(substation, HEAT_RECORDED["Substation"], "substations", f"{name}.substation")
            self.built.entities.append(EntityInfo(f"{name}.substation", "substation", group, name))
        pump = gsim.Connection(kind="building", **({} if config.bus is None else {"bus": config.bus}))
        self.connect(network, pump, ("p_pump_kw", "p_kw"))
        self.record(network, HEAT_RECORDED["HeatNetwork"], HEAT_NETWORK, HEAT_NETWORK)
        self.record(pump, ["v_pu", "bus"], "connections", HEAT_NETWORK)
        self.built.entities.append(EntityInfo(HEAT_NETWORK, "heat_network", HEAT_NETWORK, None, config.bus))
        for source in children.get("Source", []):
            source_name = f"{HEAT_NETWORK}.{source.eid.removeprefix('Source_')}"
            self.record(source, HEAT_RECORDED["Source"], "heat_sources", source_name)
            self.built.entities.append(EntityInfo(source_name, "heat_source", HEAT_NETWORK))
        for store in children.get("Store", []):
            capacity = config.store.capacity_kwh if config.store is not None else None
            self.record(store, HEAT_RECORDED["Store"], "heat_store", f"{HEAT_NETWORK}.store")
            self.built.entities.append(
                EntityInfo(f"{HEAT_NETWORK}.store", "heat_store", HEAT_NETWORK, None, None, capacity)
            )

    def _add_recorder(self) -> None:
        rsim = self.start("Recorder", context=self.context, **self.common)
        mapping: dict[str, list[Any]] = {}
        sources: list[tuple[Any, list[str]]] = []
        for run in self._recorded_runs():
            entity, attrs, table, name = run[0]
            names: str | list[str] = name
            if len(run) >= VECTOR_MIN:
                entity, names = self._vector([e for e, _, _, _ in run]), [n for _, _, _, n in run]
            mapping[entity.full_id] = [table, names]
            sources.append((entity, attrs))
        recorder = rsim.Recorder(entities=mapping)
        for entity, attrs in sources:
            self._make(Link(entity, recorder, tuple((a, a) for a in attrs), False, {}))
        self.built.links += [  # the data flow per entity, as `links` lists it
            Link(entity, recorder, tuple((a, a) for a in attrs), False, {})
            for entity, attrs, _, _ in self.recorded
        ]
        self.built.record = mapping

    def _recorded_runs(self) -> list[list[tuple[Any, list[str], str, str]]]:
        """The recorded entities table by table, in their rows' order, in runs that one vector
        entity can stand for: the same simulator, model and attributes (single entries where the
        simulator has no vectors)."""
        by_table: dict[str, list[tuple[Any, list[str], str, str]]] = defaultdict(list)
        for entry in self.recorded:
            by_table[entry[2]].append(entry)
        runs: list[list[tuple[Any, list[str], str, str]]] = []
        for entries in by_table.values():
            for entry in entries:
                entity, attrs = entry[0], entry[1]
                last = runs[-1][-1] if runs else None
                if (
                    last is not None
                    and self._vector_capable(entity)
                    and last[2] == entry[2]
                    and (last[0].sid, last[0].type, last[1]) == (entity.sid, entity.type, attrs)
                ):
                    runs[-1].append(entry)
                else:
                    runs.append([entry])
        return runs


def _eid_number(eid: str) -> int:
    """The number at the end of an entity id such as `Substation_12` (0 when there is none)."""
    tail = eid.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _battery_state(spec: dict[str, Any], step_s: int) -> dict[str, float]:
    """What a building's agent knows of its battery before the first step (its `BATTERY_INPUTS`)."""
    fleet = StorageFleet([StorageSpec.from_dict({**spec, "kind": "battery"})])
    charge_max, discharge_max = fleet.power_limits_kw(step_s / 3600.0)
    return {"soc": spec["soc_init"], "capacity_kwh": spec["capacity_kwh"], "p_charge_max_kw": charge_max[0],
            "p_discharge_max_kw": discharge_max[0], "p_kw": 0.0}  # by source attribute (mosaik)


def _grid_child_attrs(model: str) -> list[str]:
    return {"Bus": ["v_pu"], "Line": ["loading_pct", "pl_kw"], "Trafo": ["loading_pct", "pl_kw", "sn_kva"]}[
        model
    ]


def build_world(scenario: Scenario, context: RunContext, vector_links: bool | None = None) -> BuiltWorld:
    """Start every simulator, create the entities and connect them; with vector entities where
    links repeat (`vector_links`, default `VECTOR_LINKS`) or one connection per entity."""
    return _Builder(scenario, context, VECTOR_LINKS if vector_links is None else vector_links).build()


VECTOR_LINKS = True  # the default of `build_world`: connect through vector entities
