"""The detailed network calculation on pandapipes: hydraulics, then the thermal calculation.

The `Topology`'s tree becomes a pandapipes net with one supply and one return junction per node,
a supply pipe (parent → node) and a return pipe (node → parent) per segment, a heat consumer per
substation (supply junction → return junction, with a controlled mass flow and the heat it
extracts, `qext_w`), and a circulation pump at the plant (return junction 0 → supply junction 0)
that holds the supply temperature. pandapipes solves, in sequence (mode "sequential"):

1. hydraulics: nodal mass balance and Darcy–Weisbach pressure drops (Nikuradse friction factor)
   for the given substation mass flows;
2. heat: along every pipe the exact solution of ṁ·c_p·dT/dx = −u·(T − T_ground), i.e.
   T_out = T_ground + (T_in − T_ground)·exp(−u·l / (ṁ·c_p)), the heat loss ṁ·c_p·(T_in − T_out)
   equal to u·l·(T_mean − T_ground) with T_mean the (logarithmic) mean pipe temperature, and
   enthalpy mixing at the junctions.

The fluid is water with constant properties (ρ, c_p, μ at ~60 °C by default), so the heat balance
of a solution closes to rounding: pump heat = Σ substation heat + Σ pipe losses.

Pressures: the pump holds the suction (return) side at `p_hold_bar` and lifts by whatever the
worst substation needs to keep `dp_min_bar` across it. With the mass flows fixed by the
substations, pressure differences along each side do not depend on the lift, so the solve runs
with the previous lift and the supply-side pressures are then shifted by the change of lift
(exact for this incompressible model).

Each step's calculation is pandapipes' `pipeflow` without its pandas bookkeeping. The first solve
is a whole `pipeflow` (it creates the lookups and result tables once), the second builds the
internal tables (the "pit") as `pipeflow` does and keeps a copy; from then on each solve starts
from that copy with the entries a step changes written from the net's tables as the components
register them (the substations' heat and mass flow, the ground temperature, the pump's lift, flow
temperature and pressure), runs the same hydraulic and thermal calculation (`execute_pipeflow`,
a cold start every time) and reads the solution from the pit where `pipeflow`'s result extraction
reads it, without filling the result tables (`res_*`). The numbers are `pipeflow`'s bit for bit
(tested against it, `full_pipeflow`); a step costs ~40 % of a whole `pipeflow` on case B's
50-substation network.

pandapipes' numba kernels are off by default: they are compiled anew in every process (~5–10 s,
pandapipes does not cache them) and are no faster than its NumPy path up to ~500 substations.

A calculation that does not converge never raises: `solve` returns `converged=False`, NaN results
and pandapipes' reason. pandapipes is imported when a network is built.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simulators.heat_network.layout import Topology

FloatArray = npt.NDArray[np.float64]
KELVIN = 273.15


@dataclass(frozen=True)
class Fluid:
    """Constant water properties: density (kg/m³), heat capacity (J/(kg·K)), viscosity (Pa·s)."""

    rho_kg_m3: float = 983.0
    cp_j_kgk: float = 4185.0
    mu_pa_s: float = 4.67e-4


@dataclass(frozen=True)
class SolverOptions:
    """pandapipes' iteration limits and relative tolerances, and the pump's pressure control."""

    max_iter_hyd: int = 30
    max_iter_therm: int = 30
    tol_p: float = 1e-6
    tol_m: float = 1e-6
    tol_t: float = 1e-6
    tol_res: float = 1e-6
    roughness_mm: float = 0.05
    p_hold_bar: float = 2.0
    dp_min_bar: float = 0.5
    pump_efficiency: float = 0.6
    use_numba: bool = False


@dataclass(frozen=True, eq=False)
class FlowSolution:
    """One steady-state solution. Node arrays (n_nodes), segment arrays (n_segments, supply then
    return pipe of each segment), substation arrays (n_substations). Mass flows in kg/s
    (`m_segment_kg_s` the supply pipes', positive from the plant outwards; `m_return_kg_s` the
    return pipes', positive towards the plant; `m_sub_kg_s` the substations' as solved),
    temperatures °C, pressures bar (absolute), losses kW. `q_pump_kw` is the heat the plant puts
    into the water (ṁ·c_p·(T_supply − T_return) at the pump), `lift_bar` the pump's pressure lift,
    `p_pump_hyd_kw` its hydraulic power (V̇·Δp)."""

    converged: bool
    message: str
    warnings: tuple[str, ...]
    solve_time_ms: float
    t_supply_c: FloatArray
    t_return_c: FloatArray
    p_supply_bar: FloatArray
    p_return_bar: FloatArray
    m_segment_kg_s: FloatArray
    m_return_kg_s: FloatArray
    v_segment_m_s: FloatArray
    loss_supply_kw: FloatArray
    loss_return_kw: FloatArray
    t_mean_supply_c: FloatArray
    t_mean_return_c: FloatArray
    t_sub_in_c: FloatArray
    t_sub_out_c: FloatArray
    dp_sub_bar: FloatArray
    m_sub_kg_s: FloatArray
    m_pump_kg_s: float
    q_pump_kw: float
    lift_bar: float
    p_pump_hyd_kw: float


def _log_mean_c(t_in: FloatArray, t_out: FloatArray, t_ground: float) -> FloatArray:
    """Mean temperature of the exponential profile between t_in and t_out (the arithmetic mean where
    the two excesses over ground are equal or of different signs)."""
    a, b = t_in - t_ground, t_out - t_ground
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = (a - b) / np.log(a / b)
    plain = (a + b) / 2.0
    usable = (a * b > 0) & (np.abs(a - b) > 1e-9 * np.abs(a))
    return np.asarray(t_ground + np.where(usable, lm, plain))


def _copy_pit(pit: dict[str, Any]) -> dict[str, Any]:
    """A copy of pandapipes' internal tables (node and branch arrays, the components' arrays)."""
    return {"node": pit["node"].copy(), "branch": pit["branch"].copy(),
            "components": {name: array.copy() for name, array in pit["components"].items()}}


class PipeNetwork:
    """The pandapipes net of a `Topology`, re-solved every step with new substation flows."""

    def __init__(self, topology: Topology, fluid: Fluid | None = None,
                 options: SolverOptions | None = None) -> None:
        import pandapipes
        from pandapipes.properties.fluids import create_constant_fluid

        self.pp = pandapipes
        self.topology = topology
        self.fluid = fluid or Fluid()
        self.options = options or SolverOptions()
        self.lift_bar = 1.0 + self.options.dp_min_bar
        n_nodes = topology.n_nodes
        water = create_constant_fluid("water_constant", "liquid", density=self.fluid.rho_kg_m3,
                                      viscosity=self.fluid.mu_pa_s, heat_capacity=self.fluid.cp_j_kgk)
        net = pandapipes.create_empty_network(name="district heating", fluid=water)
        p0 = self.options.p_hold_bar
        pandapipes.create_junctions(net, n_nodes, pn_bar=p0 + self.lift_bar, tfluid_k=353.15)  # supply 0..n-1
        pandapipes.create_junctions(net, n_nodes, pn_bar=p0, tfluid_k=323.15)  # return n..2n-1
        parent = np.asarray(topology.parent, dtype=int)
        child = np.arange(1, n_nodes)
        d_mm = np.asarray(topology.diameter_mm)
        # pandapipes' loss term is u_w_per_m2k · π · d_outer per metre; the outer diameter is set to
        # the inner one, so u_w_per_m2k = u_w_per_mk / (π d)
        u_m2k = np.asarray(topology.u_w_per_mk) / (math.pi * d_mm / 1e3)
        common: dict[str, Any] = {"length_km": np.asarray(topology.length_m) / 1e3, "inner_diameter_mm": d_mm,
                                  "k_mm": self.options.roughness_mm, "u_w_per_m2k": u_m2k,
                                  "text_k": 283.15, "sections": 1}
        pandapipes.create_pipes_from_parameters(net, parent, child, **common)  # supply 0..s-1
        pandapipes.create_pipes_from_parameters(net, child + n_nodes, parent + n_nodes, **common)  # return
        nodes = np.asarray(topology.substation_node, dtype=int)
        for node in nodes.tolist():
            pandapipes.create_heat_consumer(net, node, node + n_nodes, qext_w=0.0,
                                            controlled_mdot_kg_per_s=0.01)
        pandapipes.create_circ_pump_const_pressure(net, n_nodes, 0, p_flow_bar=p0 + self.lift_bar,
                                                   plift_bar=self.lift_bar, t_flow_k=353.15)
        self.net = net
        self.volume_m3 = topology.water_volume_m3()
        self._nodes = nodes
        self.full_pipeflow = False
        """Every solve a whole `pandapipes.pipeflow` (result tables filled): the reference the
        lighter calls are tested against."""
        self._set_up = False
        self._template: dict[str, Any] | None = None

    def solve(self, m_sub_kg_s: FloatArray, q_sub_kw: FloatArray, t_supply_c: float,
              t_ground_c: float) -> FlowSolution:
        """Steady state for the substations' mass flows (kg/s) and extracted heat (kW), the plant's
        supply temperature and the ground temperature (°C)."""
        net, o = self.net, self.options
        net.heat_consumer["controlled_mdot_kg_per_s"] = m_sub_kg_s
        net.heat_consumer["qext_w"] = q_sub_kw * 1e3
        net.pipe["text_k"] = t_ground_c + KELVIN
        pump = net.circ_pump_pressure
        pump["t_flow_k"] = t_supply_c + KELVIN
        pump["p_flow_bar"] = o.p_hold_bar + self.lift_bar
        pump["plift_bar"] = self.lift_bar
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self._pipeflow()
                failure = ""
            except self.pp.PipeflowNotConverged as exc:
                failure = f"pandapipes: {exc}"
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
                failure = f"pandapipes: {type(exc).__name__}: {exc}"
        elapsed_ms = (time.perf_counter() - start) * 1e3
        notes = self._notes(caught)
        if failure:
            return self._failed(failure, notes, elapsed_ms)
        return self._solution(notes, elapsed_ms, t_ground_c)

    @staticmethod
    def _notes(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
        """pandapipes' warnings about the solution (UserWarning, RuntimeWarning) become notes for
        events; others (a library's deprecations, say) are passed on as they came. The raw pressures
        before the lift correction may be negative: that warning is dropped (the corrected ones
        keep `dp_min_bar` at every substation)."""
        notes = []
        for w in caught:
            text = str(w.message)
            if not issubclass(w.category, UserWarning | RuntimeWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            elif "pressure is negative" not in text:
                notes.append(text)
        return tuple(notes)

    def _pipeflow(self) -> None:
        """pandapipes' `pipeflow` (sequential: hydraulics, then heat); after the first call
        without filling the result tables (module docstring; `full_pipeflow` = True: every call
        a whole `pipeflow`)."""
        from pandapipes.pf.pipeflow_setup import init_options, initialize_pit
        from pandapipes.pipeflow import execute_pipeflow

        net, o = self.net, self.options
        kwargs: dict[str, Any] = {"mode": "sequential", "max_iter_hyd": o.max_iter_hyd,
                                  "max_iter_therm": o.max_iter_therm, "tol_p": o.tol_p, "tol_m": o.tol_m,
                                  "tol_T": o.tol_t, "tol_res": o.tol_res, "use_numba": o.use_numba}
        if self.full_pipeflow or not self._set_up:
            self.pp.pipeflow(net, **kwargs)
            self._set_up = True
            return
        init_options(net, **kwargs)  # the lookups of the first call stand: the net's structure is fixed
        if self._template is None:
            initialize_pit(net)
            self._template = _copy_pit(net["_pit"])
        else:
            self._restore_pit()
        execute_pipeflow(net)

    def _restore_pit(self) -> None:
        """The pit `initialize_pit` would build for this solve: a copy of the first one with the
        entries the step changes written from the tables as the components register them (the
        heat consumers' extracted heat and mass flow, in the pit and their own array; the pipes'
        ground temperature; the pump's lift, flow temperature and flow pressure), and the old pit
        of the steady state (`create_old_pit`)."""
        from pandapipes.idx_branch import IdxBranch
        from pandapipes.idx_node import IdxNode
        from pandapipes.pf.pipeflow_setup import create_old_pit, get_lookup

        net = self.net
        assert self._template is not None
        pit = _copy_pit(self._template)
        branch, node = pit["branch"], pit["node"]
        lookups = get_lookup(net, "branch", "from_to")
        f, t = lookups["heat_consumer"]
        consumers = net.heat_consumer
        qext = consumers["qext_w"].to_numpy(dtype=float)
        mdot = consumers["controlled_mdot_kg_per_s"].to_numpy(dtype=float)
        branch[f:t, IdxBranch.QEXT] = qext
        branch[f:t, IdxBranch.MDOTINIT] = mdot
        component = self.pp.component_models.HeatConsumer
        pit["components"]["heat_consumer"][:, component.QEXT] = qext
        pit["components"]["heat_consumer"][:, component.MASS] = mdot
        f, t = lookups["pipe"]
        branch[f:t, IdxBranch.TEXT] = net.pipe["text_k"].to_numpy(dtype=float)
        pump = net.circ_pump_pressure
        f, t = lookups["circ_pump_pressure"]
        branch[f:t, IdxBranch.PL] = pump["plift_bar"].to_numpy(dtype=float)
        branch[f:t, IdxBranch.TOUTINIT] = pump["t_flow_k"].to_numpy(dtype=float)
        flow_nodes = get_lookup(net, "node", "index")["junction"][pump["flow_junction"].to_numpy()]
        node[flow_nodes, IdxNode.PINIT] = pump["p_flow_bar"].to_numpy(dtype=float)
        net["_pit"] = pit
        create_old_pit(net, [IdxNode.TINIT], [IdxBranch.TOUTINIT])

    def _results(self) -> dict[str, FloatArray]:
        """The solution as `pipeflow`'s result extraction computes it, from the pit: junction
        temperatures (K) and pressures, the pipes' and substations' mass flows, junction
        temperatures at their ends, outlet temperatures and mean velocities, the pump's mass flow."""
        from pandapipes.idx_node import IdxNode
        from pandapipes.pf.pipeflow_setup import get_lookup
        from pandapipes.pf.result_extraction import get_basic_branch_results

        net = self.net
        node_pit, branch_pit = net["_pit"]["node"], net["_pit"]["branch"]
        f, t = get_lookup(net, "node", "from_to")["junction"]
        basic = get_basic_branch_results(net, branch_pit, node_pit)
        branches = get_lookup(net, "branch", "from_to")
        pipe, sub, pump = (slice(*branches[name]) for name in ("pipe", "heat_consumer", "circ_pump_pressure"))
        return {
            "t_junction_k": node_pit[f:t, IdxNode.TINIT], "p_junction_bar": node_pit[f:t, IdxNode.PINIT],
            "m_pipe": basic["mf_from"][pipe], "t_from_k": basic["temp_from"][pipe],
            "t_to_k": basic["temp_to"][pipe], "t_outlet_k": basic["t_outlet"][pipe],
            "v_pipe_m_s": basic["v_mps"][pipe], "m_sub": basic["mf_from"][sub],
            "t_sub_outlet_k": basic["t_outlet"][sub], "m_pump": basic["mf_from"][pump],
        }

    def _solution(self, notes: tuple[str, ...], elapsed_ms: float, t_ground_c: float) -> FlowSolution:
        topo = self.topology
        n_nodes, n_seg, cp = topo.n_nodes, topo.n_segments, self.fluid.cp_j_kgk
        r = self._results()
        t_j = r["t_junction_k"] - KELVIN
        p_j = r["p_junction_bar"].copy()
        m = r["m_pipe"].copy()
        # t_from_k / t_to_k are the (mixed) junction temperatures, t_outlet_k the pipe's own outlet
        t_from, t_to = r["t_from_k"], r["t_to_k"]
        t_in = np.where(m >= 0, t_from, t_to) - KELVIN
        t_out = r["t_outlet_k"] - KELVIN
        loss_kw = cp * np.abs(m) * (t_in - t_out) / 1e3
        t_mean = _log_mean_c(t_in, t_out, t_ground_c)
        nodes = self._nodes
        dp_raw = p_j[nodes] - p_j[nodes + n_nodes]
        lift = max(self.lift_bar - float(dp_raw.min()) + self.options.dp_min_bar, self.options.dp_min_bar)
        shift = lift - self.lift_bar
        self.lift_bar = lift
        m_pump = abs(float(r["m_pump"][0]))
        t_sup, t_ret = t_j[:n_nodes], t_j[n_nodes:]
        return FlowSolution(
            converged=True, message="", warnings=notes, solve_time_ms=elapsed_ms,
            t_supply_c=t_sup, t_return_c=t_ret,
            p_supply_bar=p_j[:n_nodes] + shift, p_return_bar=p_j[n_nodes:],
            m_segment_kg_s=m[:n_seg], m_return_kg_s=m[n_seg:],
            v_segment_m_s=r["v_pipe_m_s"][:n_seg].copy(),
            loss_supply_kw=loss_kw[:n_seg], loss_return_kw=loss_kw[n_seg:],
            t_mean_supply_c=t_mean[:n_seg], t_mean_return_c=t_mean[n_seg:],
            t_sub_in_c=t_sup[nodes], dp_sub_bar=dp_raw + shift,
            t_sub_out_c=r["t_sub_outlet_k"] - KELVIN,
            m_sub_kg_s=r["m_sub"].copy(),
            m_pump_kg_s=m_pump, q_pump_kw=m_pump * cp * (t_sup[0] - t_ret[0]) / 1e3,
            lift_bar=lift, p_pump_hyd_kw=m_pump / self.fluid.rho_kg_m3 * lift * 1e5 / 1e3,
        )

    def _failed(self, message: str, notes: tuple[str, ...], elapsed_ms: float) -> FlowSolution:
        topo = self.topology
        sizes = (topo.n_nodes, topo.n_segments, topo.n_substations)
        nan_n, nan_s, nan_b = (np.full(k, np.nan) for k in sizes)
        nan = float("nan")
        return FlowSolution(
            converged=False, message=message, warnings=notes, solve_time_ms=elapsed_ms,
            t_supply_c=nan_n, t_return_c=nan_n, p_supply_bar=nan_n, p_return_bar=nan_n,
            m_segment_kg_s=nan_s, m_return_kg_s=nan_s, v_segment_m_s=nan_s,
            loss_supply_kw=nan_s, loss_return_kw=nan_s,
            t_mean_supply_c=nan_s, t_mean_return_c=nan_s, t_sub_in_c=nan_b, t_sub_out_c=nan_b,
            dp_sub_bar=nan_b, m_sub_kg_s=nan_b, m_pump_kg_s=nan, q_pump_kw=nan, lift_bar=nan,
            p_pump_hyd_kw=nan,
        )

    def water_energy_kwh(self, solution: FlowSolution, t_ref_c: float = 0.0) -> float:
        """Heat held by the water in the pipes relative to `t_ref_c` (kWh), from the mean pipe
        temperatures of a solution."""
        rho_cp_kwh_per_m3k = self.fluid.rho_kg_m3 * self.fluid.cp_j_kgk / 3.6e6
        excess = (solution.t_mean_supply_c - t_ref_c) + (solution.t_mean_return_c - t_ref_c)
        return float(rho_cp_kwh_per_m3k * np.dot(self.volume_m3, excess))
