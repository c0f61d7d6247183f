"""District heating network: substations, pipes, pump and plant, stepped in time. No mosaik here.

One step (Δt hours) for the substations' heat demands (kW), the outdoor and ground temperatures:

1. supply-temperature control: the plant's supply temperature from the heating curve of the outdoor
   temperature, or a setpoint (`ControlParams`);
2. substations: return-temperature target from the load; mass flow from the demand and the local
   supply temperature (taken from the previous solution, then re-solved until the return
   temperatures meet their targets within `return_tol_k`);
3. the pandapipes calculation (`hydraulics.PipeNetwork`): hydraulics, then heat (pipe losses,
   temperature drops, mixing); the pump's lift and electric power;
4. the plant covers the heat the network takes: pump heat + the change of the heat held by the
   water in the pipes between this step's and the previous step's steady states (the network's
   thermal inertia, `q_water_kw`), in merit order with the heat store (`plant.Plant`).

Heat balance of every step (all kW, step averages):

    Σ q_source_kw = Σ q_demand_kw + q_loss_kw + q_water_kw + p_store_kw − unserved_kw + dumped_kw

Signs: demands, losses and source heat >= 0; store power positive when charging; the pump's
electric power `p_pump_kw` >= 0 is a load on the electrical grid (load convention).

Events (kind, message): `not_converged` (the calculation failed: hydraulic and thermal outputs are
NaN, the plant covers the demand plus the last converged losses, the run goes on),
`non_finite_input` (a demand that is NaN or infinite counts as 0), `unserved_heat`,
`solver_warning` (pandapipes warned but converged), `dispatch_failed` (the store's MPC found no
plan; the merit-order rule decides that step).

Plant dispatch: merit order with the store between the cheapest and the dearer sources, or, with
`dispatch.kind: mpc`, the store's power from a receding-horizon linear programme (`dispatch.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulators.heat_network.dispatch import MpcSettings, StoreMpc
from simulators.heat_network.hydraulics import FlowSolution, Fluid, PipeNetwork, SolverOptions
from simulators.heat_network.layout import Topology
from simulators.heat_network.params import ControlParams, NetworkParams
from simulators.heat_network.plant import Plant, PlantStep


@dataclass(frozen=True)
class Event:
    kind: str
    message: str


@dataclass(frozen=True, eq=False)
class HeatNetworkStep:
    """One step of the whole network. `flow` holds the detailed solution (per node, segment and
    substation); the rest are the plant-level results (kW unless named otherwise)."""

    converged: bool
    events: tuple[Event, ...]
    flow: FlowSolution
    q_demand_kw: np.ndarray
    m_sub_kg_s: np.ndarray
    t_return_target_c: np.ndarray
    t_supply_set_c: float
    q_loss_kw: float
    q_water_kw: float
    e_water_kwh: float
    q_network_kw: float
    p_pump_kw: float
    plant: PlantStep
    solves: int
    solve_time_ms: float = field(default=0.0)


def ground_temperature_c(day_of_year: np.ndarray, mean_c: float = 10.0, amplitude_k: float = 5.0,
                         coldest_day: float = 35.0) -> np.ndarray:
    """Undisturbed ground temperature at pipe depth (~1 m): an annual cosine around `mean_c`,
    coldest on `coldest_day` (the surface's winter minimum arrives about a month late at 1 m)."""
    phase = 2.0 * np.pi * (np.asarray(day_of_year, dtype=float) - coldest_day) / 365.25
    return np.asarray(mean_c - amplitude_k * np.cos(phase))


def supply_temperature_c(control: ControlParams, t_out_c: float, t_set_c: float | None = None) -> float:
    """The plant's supply temperature: the setpoint if given, else the heating curve; clipped."""
    if t_set_c is None or t_set_c != t_set_c:
        span = control.t_heating_limit_c - control.t_out_design_c
        share = min(max((control.t_heating_limit_c - t_out_c) / span, 0.0), 1.0)
        t_set_c = control.t_supply_min_c + share * (control.t_supply_design_c - control.t_supply_min_c)
    return min(max(t_set_c, control.t_supply_min_c), control.t_supply_max_c)


def bypass_mask(topology: Topology, bypass: str) -> np.ndarray:
    """Which substations keep the least flow (`m_min_share` of their design flow; 1) and which do
    not (0): `every` substation, or only those at the `ends` of the streets (no substation
    downstream of them), whose bypass keeps the whole street's supply pipe warm."""
    if bypass == "every":
        return np.ones(topology.n_substations)
    has_child = np.zeros(topology.n_nodes, dtype=bool)
    has_child[np.asarray(topology.parent, dtype=int)] = True
    return np.asarray([0.0 if has_child[node] else 1.0 for node in topology.substation_node])


def return_target_c(control: ControlParams, load_share: np.ndarray) -> np.ndarray:
    """Return temperature a substation aims at, for its load as a share of its design load."""
    x = np.clip(load_share, 0.0, 1.0)
    return np.asarray(control.t_return_min_c + x * (control.t_return_design_c - control.t_return_min_c))


class HeatNetworkModel:
    """A heat network built from `NetworkParams` (or an explicit `Topology`), stepped in time."""

    def __init__(self, params: NetworkParams, topology: Topology | None = None,
                 fluid: Fluid | None = None) -> None:
        self.params = params
        control = params.control
        dt_design = control.t_supply_design_c - control.t_return_design_c
        self.topology = topology if topology is not None else params.layout.topology(dt_design)
        s = params.solver
        self.options = SolverOptions(max_iter_hyd=s.max_iter_hyd, max_iter_therm=s.max_iter_therm,
                                     tol_p=s.tol, tol_m=s.tol, tol_t=s.tol, tol_res=s.tol,
                                     roughness_mm=s.roughness_mm, p_hold_bar=s.p_hold_bar,
                                     dp_min_bar=s.dp_min_bar, pump_efficiency=s.pump_efficiency,
                                     use_numba=s.use_numba)
        self.fluid = fluid or Fluid()
        self.network = PipeNetwork(self.topology, self.fluid, self.options)
        self.plant = Plant([p.spec() for p in params.sources],
                           params.store.spec() if params.store is not None else None)
        self.design_kw = np.asarray(self.topology.design_kw, dtype=float)
        self.m_design_kg_s = self.design_kw * 1e3 / (self.fluid.cp_j_kgk * dt_design)
        bypass = bypass_mask(self.topology, control.bypass)
        self.m_min_kg_s = control.m_min_share * self.m_design_kg_s * bypass
        self._last: FlowSolution | None = None
        self._last_t_supply_c = float("nan")
        self._e_water_kwh: float | None = None
        self._mpc: StoreMpc | None = None

    @property
    def n_substations(self) -> int:
        return self.topology.n_substations

    def _flows(self, q_kw: np.ndarray, t_local_c: np.ndarray, target_c: np.ndarray) -> np.ndarray:
        c = self.params.control
        dt = np.maximum(t_local_c - target_c, c.dt_min_k)
        m = q_kw * 1e3 / (self.fluid.cp_j_kgk * dt)
        return np.asarray(np.maximum(m, self.m_min_kg_s))

    def _local_supply_c(self, t_supply_c: float) -> np.ndarray:
        """Local supply temperatures for the first solve: the last solution shifted by the change of
        the plant's supply temperature (the plant's temperature where there is none)."""
        if self._last is None:
            return np.full(self.n_substations, t_supply_c)
        return np.asarray(self._last.t_sub_in_c + (t_supply_c - self._last_t_supply_c))

    def step(self, q_demand_kw: np.ndarray, t_out_c: float, t_ground_c: float, dt_h: float,
             t_supply_set_c: float | None = None, p_store_set_kw: float | None = None) -> HeatNetworkStep:
        """Advance one step of `dt_h` hours (demands in kW per substation, temperatures in °C)."""
        c = self.params.control
        events: list[Event] = []
        q = np.asarray(q_demand_kw, dtype=float).copy()
        if q.shape != (self.n_substations,):
            raise ValueError(f"need {self.n_substations} substation demands, got shape {q.shape}")
        bad = ~np.isfinite(q)
        if bad.any():
            events.append(Event("non_finite_input", f"non-finite heat demand at substation(s) "
                                                    f"{np.flatnonzero(bad)[:10].tolist()}; counted as 0"))
            q[bad] = 0.0
        q = np.maximum(q, 0.0)
        t_supply = supply_temperature_c(c, t_out_c, t_supply_set_c)
        target = return_target_c(c, q / self.design_kw)
        t_local = self._local_supply_c(t_supply)
        solves, total_ms = 0, 0.0
        while True:
            m = self._flows(q, t_local, target)
            flow = self.network.solve(m, q, t_supply, t_ground_c)
            solves += 1
            total_ms += flow.solve_time_ms
            if not flow.converged or solves >= c.max_solves:
                break
            regulating = m > self.m_min_kg_s * (1 + 1e-9)
            miss = np.abs(flow.t_sub_out_c - target)[regulating]
            if miss.size == 0 or float(miss.max()) <= c.return_tol_k:
                break
            t_local = flow.t_sub_in_c
        events.extend(Event("solver_warning", w) for w in flow.warnings)
        return self._finish(flow, q, m, target, t_supply, t_ground_c, dt_h, p_store_set_kw,
                            events, solves, total_ms)

    def _store_plan_kw(self, q_network_kw: float, dt_h: float, events: list[Event]) -> float | None:
        """The MPC's store power for this step (None: the merit-order rule decides)."""
        d = self.params.dispatch
        if d.kind != "mpc" or self.plant.store is None:
            return None
        if self._mpc is None or self._mpc.dt_h != dt_h:
            settings = MpcSettings(horizon_steps=max(1, round(d.horizon_h / dt_h)),
                                   unserved_penalty_per_kwh=d.unserved_penalty_per_kwh,
                                   fade_steps=d.fade_h / dt_h)
            self._mpc = StoreMpc(self.plant, dt_h, settings)
        try:
            return self._mpc.store_power_kw(q_network_kw)
        except RuntimeError as exc:
            events.append(Event("dispatch_failed", f"{exc}; the merit-order rule decides this step"))
            return None

    def _finish(self, flow: FlowSolution, q: np.ndarray, m: np.ndarray, target: np.ndarray, t_supply: float,
                t_ground_c: float, dt_h: float, p_store_set_kw: float | None, events: list[Event],
                solves: int, total_ms: float) -> HeatNetworkStep:
        q_demand = float(q.sum())
        if flow.converged:
            q_loss = float(flow.loss_supply_kw.sum() + flow.loss_return_kw.sum())
            e_water = self.network.water_energy_kwh(flow)
            q_water = 0.0 if self._e_water_kwh is None else (e_water - self._e_water_kwh) / dt_h
            self._e_water_kwh = e_water
            q_network = flow.q_pump_kw + q_water
            p_pump = flow.p_pump_hyd_kw / self.options.pump_efficiency
            self._last, self._last_t_supply_c = flow, t_supply
        else:
            events.append(Event("not_converged", flow.message))
            last = self._last
            q_loss = float(last.loss_supply_kw.sum() + last.loss_return_kw.sum()) if last is not None else 0.0
            e_water, q_water = float("nan"), 0.0
            q_network = q_demand + q_loss
            p_pump = last.p_pump_hyd_kw / self.options.pump_efficiency if last is not None else float("nan")
            q_loss = float("nan")
        if p_store_set_kw is None:
            p_store_set_kw = self._store_plan_kw(q_network, dt_h, events)
        plant = self.plant.dispatch(q_network, dt_h, p_store_set_kw)
        if plant.unserved_kw > 1e-9:
            events.append(Event("unserved_heat", f"the sources cannot cover {plant.unserved_kw:.1f} kW"))
        return HeatNetworkStep(
            converged=flow.converged, events=tuple(events), flow=flow, q_demand_kw=q, m_sub_kg_s=m,
            t_return_target_c=target, t_supply_set_c=t_supply, q_loss_kw=q_loss, q_water_kw=q_water,
            e_water_kwh=e_water, q_network_kw=q_network, p_pump_kw=p_pump, plant=plant, solves=solves,
            solve_time_ms=total_ms,
        )
