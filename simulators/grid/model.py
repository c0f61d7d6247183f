"""AC power flow of a low-voltage feeder with platform-attached connections. No mosaik here.

A *connection* is a point at a bus where a building or a storage unit draws power. Signs (load
convention): `p_kw > 0` is drawn from the grid, `< 0` fed in; storage is positive when charging;
`q_kvar > 0` is inductive (absorbed). The external grid (the MV side) reports `p_ext_kw > 0` when
power is imported into the feeder. At every converged solution, energy is conserved:

    Σ connection p_kw + Σ line losses_kw + Σ trafo losses_kw = p_ext_kw   (to the solver tolerance)

Connections at the same bus are summed into one pandapower load per bus.

Backends:
- `lightsim2grid`: its C++ grid model is built once from the pandapower network; each solve only
  changes the load injections and re-runs Newton-Raphson from the previous voltages (~0.2 ms).
- `pandapower`: `pandapower.runpp` with pandapower's own solver; after a converged solve it reuses
  the internal matrices and the previous voltages (`recycle`, equivalent to `init="results"`).
  numba is off by default: pandapower does not cache its JIT code, so the first solve of every
  process would compile for ~10 s; pass `numba=True` for long runs on this backend.
- `auto`: lightsim2grid when it is importable, else pandapower.

A power flow that does not converge never raises: `solve` returns `converged=False`, NaN results
and the reason, and the next solve starts again from the cold-start voltages.

pandapower and lightsim2grid are imported when a model is built, so importing this module (for
`available_networks`, say) stays cheap.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from simulators.grid.networks import (
    Feeder,
    add_bus_loads,
    auto_buses,
    available_networks,
    candidate_buses,
    load_feeder,
    resolve_buses,
)

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

Backend = Literal["auto", "pandapower", "lightsim2grid"]
BACKENDS: tuple[Backend, ...] = ("auto", "pandapower", "lightsim2grid")
SQRT3 = float(np.sqrt(3.0))
_PP_RECYCLE = {"bus_pq": True, "trafo": False, "gen": False}

FloatArray = npt.NDArray[np.float64]


def lightsim2grid_available() -> bool:
    """Whether the lightsim2grid backend can be used."""
    return importlib.util.find_spec("lightsim2grid") is not None


def resolve_backend(backend: str) -> Literal["pandapower", "lightsim2grid"]:
    """The concrete backend for `backend` (`auto` → lightsim2grid if importable)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if backend == "lightsim2grid" and not lightsim2grid_available():
        raise ValueError("backend 'lightsim2grid' requested but lightsim2grid is not installed "
                         "(pip install lightsim2grid, or use backend 'auto' / 'pandapower')")
    if backend == "auto":
        return "lightsim2grid" if lightsim2grid_available() else "pandapower"
    return backend


@dataclass(frozen=True, eq=False)
class PowerFlowResult:
    """One power flow of the feeder.

    Per-element arrays follow `GridModel.bus_ids`, `line_ids`, `trafo_ids` (NaN if not
    converged). Powers in kW / kvar with the signs of the module docstring; `losses_kw =
    line_losses_kw + trafo_losses_kw`; `p_connections_kw` is the sum of the requested connection
    powers (known even when the power flow failed). `message` says why it did not converge ("" if
    it did); `iterations` is the number of Newton-Raphson iterations (None if unknown).
    """

    converged: bool
    v_pu: FloatArray
    v_connection_pu: FloatArray
    line_loading_pct: FloatArray
    line_pl_kw: FloatArray
    trafo_loading_pct: FloatArray
    trafo_pl_kw: FloatArray
    p_ext_kw: float
    q_ext_kvar: float
    p_connections_kw: float
    q_connections_kvar: float
    line_losses_kw: float
    trafo_losses_kw: float
    losses_kw: float
    iterations: int | None
    solve_time_ms: float
    message: str

    @property
    def v_min_pu(self) -> float:
        return _nan_reduce(np.min, self.v_pu)

    @property
    def v_max_pu(self) -> float:
        return _nan_reduce(np.max, self.v_pu)

    @property
    def max_line_loading_pct(self) -> float:
        return _nan_reduce(np.max, self.line_loading_pct)


def _nan_reduce(reduce: Any, values: FloatArray) -> float:
    """`reduce(values)`, NaN for an empty array or any NaN."""
    return float(reduce(values)) if values.size else float("nan")


@dataclass(frozen=True, eq=False)
class _Flows:
    """What a backend returns after a converged solve (MW / Mvar / pu / %)."""

    vm_pu: FloatArray
    line_pl_mw: FloatArray
    line_loading_pct: FloatArray
    trafo_pl_mw: FloatArray
    trafo_loading_pct: FloatArray
    p_ext_mw: float
    q_ext_mvar: float
    iterations: int | None


class _Diverged(Exception):
    """A backend's power flow did not converge; the message says why."""


class _Solver(Protocol):
    name: str

    def solve(self, p_mw: FloatArray, q_mvar: FloatArray) -> _Flows:
        """Solve with one (p, q) per load of the net; raise `_Diverged` if it fails."""
        ...


def _line_loading_pct(i_ka: FloatArray, i_max_ka: FloatArray) -> FloatArray:
    """Loading as pandapower defines it: current over max_i_ka·df·parallel (inf for a zero rating)."""
    loading = np.full_like(i_ka, np.inf)
    np.divide(i_ka, i_max_ka, out=loading, where=i_max_ka != 0)
    return loading * 100.0


class _PandapowerSolver:
    """pandapower's own Newton-Raphson, recycling its internal matrices after a converged solve."""

    name = "pandapower"

    def __init__(self, net: pandapowerNet, tolerance_mva: float, max_iterations: int, numba: bool) -> None:
        import pandapower

        self.pp = pandapower
        self.net = net
        numba = numba and importlib.util.find_spec("numba") is not None
        self.options: dict[str, Any] = {"tolerance_mva": tolerance_mva, "max_iteration": max_iterations,
                                        "numba": numba, "lightsim2grid": False}
        self.warm = False

    def solve(self, p_mw: FloatArray, q_mvar: FloatArray) -> _Flows:
        net = self.net
        net.load["p_mw"] = p_mw
        net.load["q_mvar"] = q_mvar
        try:
            if self.warm:
                self.pp.runpp(net, recycle=_PP_RECYCLE, **self.options)
            else:
                self.pp.runpp(net, init="auto", **self.options)
        except (self.pp.LoadflowNotConverged, np.linalg.LinAlgError) as exc:
            self.warm = False
            raise _Diverged(f"pandapower: {exc}") from exc
        self.warm = True
        return _Flows(
            vm_pu=net.res_bus["vm_pu"].to_numpy(dtype=float),
            line_pl_mw=net.res_line["pl_mw"].to_numpy(dtype=float),
            line_loading_pct=net.res_line["loading_percent"].to_numpy(dtype=float),
            trafo_pl_mw=net.res_trafo["pl_mw"].to_numpy(dtype=float),
            trafo_loading_pct=net.res_trafo["loading_percent"].to_numpy(dtype=float),
            p_ext_mw=float(net.res_ext_grid["p_mw"].sum()),
            q_ext_mvar=float(net.res_ext_grid["q_mvar"].sum()),
            iterations=int(net._ppc["iterations"]),
        )


class _LightsimSolver:
    """lightsim2grid's grid model, built once; each solve changes the loads and re-runs NR warm."""

    name = "lightsim2grid"

    def __init__(self, net: pandapowerNet, tolerance_mva: float, max_iterations: int) -> None:
        from lightsim2grid.network import init_from_pandapower

        with warnings.catch_warnings():
            # it announces that it models the ext_grid as a slack generator, which is what we want
            warnings.filterwarnings("ignore", message="LightSim has not found any generators")
            # and that it reads missing tap-changer data as 0, which is how pandapower reads it too
            warnings.filterwarnings("ignore", message=r"There were some Nan in the pp_net\.trafo")
            # the default transformer conversion ("pandapower_v2") reproduces pandapower 3.5's results on
            # every feeder of the registry; "pandapower_v3" differs in the magnetising branch (2e-5 pu)
            self.grid = init_from_pandapower(net, pp_orig_file="pandapower_v2")
        self.tol_pu = tolerance_mva / float(net.sn_mva)
        self.max_iterations = max_iterations
        self.n_bus = len(net.bus)
        line, trafo = net.line, net.trafo
        self.line_i_max_ka = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy(dtype=float)
        self.trafo_vn_kv = trafo[["vn_hv_kv", "vn_lv_kv"]].to_numpy(dtype=float)
        self.trafo_s_max_mva = (trafo["sn_mva"] * trafo["parallel"] * trafo["df"]).to_numpy(dtype=float)
        # a DC power flow at zero load gives a cold start that carries the transformers' phase shift
        self.v_cold = self.grid.dc_pf(np.ones(self.n_bus, dtype=complex), max_iterations, self.tol_pu)
        if len(self.v_cold) != self.n_bus:
            raise RuntimeError("lightsim2grid: the cold-start DC power flow failed on the empty feeder")
        self.v = self.v_cold.copy()

    def _set_loads(self, p_mw: FloatArray, q_mvar: FloatArray) -> None:
        # one call per load in float64 (the vectorised update_loads_p takes float32)
        change_p, change_q = self.grid.change_p_load, self.grid.change_q_load
        for i, (p, q) in enumerate(zip(p_mw.tolist(), q_mvar.tolist(), strict=True)):
            change_p(i, p)
            change_q(i, q)

    def solve(self, p_mw: FloatArray, q_mvar: FloatArray) -> _Flows:
        self._set_loads(p_mw, q_mvar)
        v = self.grid.ac_pf(self.v, self.max_iterations, self.tol_pu)
        algo = self.grid.get_algo()
        if len(v) != self.n_bus or not np.all(np.isfinite(v)):
            self.v = self.v_cold.copy()
            self.grid.tell_solver_need_reset()
            raise _Diverged(f"lightsim2grid: Newton-Raphson did not converge ({algo.get_error()}, "
                            f"{algo.get_nb_iter()} iterations)")
        self.v = v
        return self._flows(algo.get_nb_iter())

    def _flows(self, iterations: int) -> _Flows:
        g = self.grid
        (lp1, _, _, la1), (lp2, _, _, la2) = g.get_line_res1(), g.get_line_res2()
        (tp1, _, _, ta1), (tp2, _, _, ta2) = g.get_trafo_res1(), g.get_trafo_res2()
        gen_p, gen_q, _ = g.get_gen_res()
        s_trafo_mva = np.maximum(ta1 * self.trafo_vn_kv[:, 0], ta2 * self.trafo_vn_kv[:, 1]) * SQRT3
        return _Flows(
            vm_pu=np.abs(self.v),
            line_pl_mw=lp1 + lp2,
            line_loading_pct=_line_loading_pct(np.maximum(la1, la2), self.line_i_max_ka),
            trafo_pl_mw=tp1 + tp2,
            trafo_loading_pct=s_trafo_mva / self.trafo_s_max_mva * 100.0,
            p_ext_mw=float(gen_p.sum()),
            q_ext_mvar=float(gen_q.sum()),
            iterations=int(iterations),
        )


class GridModel:
    """A feeder with connections at fixed buses, solved step by step.

    `connection_buses` gives the bus of every connection; None entries are mapped round-robin
    onto the feeder's candidate buses (the buses that carried loads in the original network).
    `tolerance_mva` is the Newton-Raphson power mismatch tolerance (default 1e-10 MVA = 0.1 mW,
    so the energy balance closes to ~1e-9 relative). `numba` switches pandapower's JIT on (pandapower
    backend only; it costs ~10 s of compilation at the first solve of every process).
    """

    def __init__(
        self,
        network: str | Feeder,
        connection_buses: Sequence[int | None],
        backend: Backend = "auto",
        *,
        tolerance_mva: float = 1e-10,
        max_iterations: int = 20,
        numba: bool = False,
    ) -> None:
        if tolerance_mva <= 0 or max_iterations < 1:
            raise ValueError(f"need tolerance_mva > 0 and max_iterations >= 1, "
                             f"got {tolerance_mva}, {max_iterations}")
        self.backend: Literal["pandapower", "lightsim2grid"] = resolve_backend(backend)
        self.feeder = load_feeder(network) if isinstance(network, str) else network
        self.connection_buses = resolve_buses(list(connection_buses), self.feeder)
        self.connection_buses.setflags(write=False)
        self._load_buses, self._load_of_connection = np.unique(self.connection_buses, return_inverse=True)
        net = self.feeder.net
        add_bus_loads(net, self._load_buses.tolist())
        self._solver: _Solver = (
            _LightsimSolver(net, tolerance_mva, max_iterations) if self.backend == "lightsim2grid"
            else _PandapowerSolver(net, tolerance_mva, max_iterations, numba)
        )

    @classmethod
    def auto(cls, network: str | Feeder, n_connections: int, backend: Backend = "auto",
             **options: Any) -> GridModel:
        """`n_connections` connections mapped round-robin onto the feeder's candidate buses."""
        return cls(network, [None] * n_connections, backend, **options)

    @property
    def network(self) -> str:
        return self.feeder.name

    @property
    def n_connections(self) -> int:
        return len(self.connection_buses)

    @property
    def bus_ids(self) -> npt.NDArray[np.int64]:
        return np.asarray(self.feeder.net.bus.index, dtype=np.int64)

    @property
    def line_ids(self) -> npt.NDArray[np.int64]:
        return np.asarray(self.feeder.net.line.index, dtype=np.int64)

    @property
    def trafo_ids(self) -> npt.NDArray[np.int64]:
        return np.asarray(self.feeder.net.trafo.index, dtype=np.int64)

    @property
    def trafo_sn_kva(self) -> FloatArray:
        """Rated apparent power of every transformer (kVA)."""
        return np.asarray(self.feeder.net.trafo["sn_mva"], dtype=np.float64) * 1e3

    def solve(self, p_kw: npt.ArrayLike, q_kvar: npt.ArrayLike | None = None) -> PowerFlowResult:
        """AC power flow for one (p_kw, q_kvar) per connection (q defaults to 0).

        Wrong lengths raise ValueError. Non-finite powers and non-convergence return
        `converged=False` with NaN results and the reason.
        """
        p = self._vector(p_kw, "p_kw")
        q = np.zeros_like(p) if q_kvar is None else self._vector(q_kvar, "q_kvar")
        start = time.perf_counter()
        finite = np.isfinite(p) & np.isfinite(q)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            return self._failed(p, q, start, f"non-finite power at connection(s) {bad[:10].tolist()}")
        p_bus_mw = np.bincount(self._load_of_connection, weights=p, minlength=len(self._load_buses)) / 1e3
        q_bus_mvar = np.bincount(self._load_of_connection, weights=q, minlength=len(self._load_buses)) / 1e3
        try:
            with warnings.catch_warnings():
                # a diverging Newton-Raphson overflows and meets singular Jacobians; reported as not converged
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.filterwarnings("ignore", message=".*singular", category=Warning)
                flows = self._solver.solve(p_bus_mw, q_bus_mvar)
        except _Diverged as exc:
            return self._failed(p, q, start, str(exc))
        return self._converged(p, q, start, flows)

    def _vector(self, values: npt.ArrayLike, name: str) -> FloatArray:
        vector = np.asarray(values, dtype=float)
        if vector.shape != (self.n_connections,):
            raise ValueError(f"{name}: need one value per connection ({self.n_connections}), "
                             f"got shape {vector.shape}")
        return vector

    def _converged(self, p: FloatArray, q: FloatArray, start: float, flows: _Flows) -> PowerFlowResult:
        line_pl_kw, trafo_pl_kw = flows.line_pl_mw * 1e3, flows.trafo_pl_mw * 1e3
        line_losses, trafo_losses = float(line_pl_kw.sum()), float(trafo_pl_kw.sum())
        return PowerFlowResult(
            converged=True, v_pu=_frozen(flows.vm_pu),
            v_connection_pu=_frozen(flows.vm_pu[self.connection_buses]),
            line_loading_pct=_frozen(flows.line_loading_pct), line_pl_kw=_frozen(line_pl_kw),
            trafo_loading_pct=_frozen(flows.trafo_loading_pct), trafo_pl_kw=_frozen(trafo_pl_kw),
            p_ext_kw=flows.p_ext_mw * 1e3, q_ext_kvar=flows.q_ext_mvar * 1e3,
            p_connections_kw=float(p.sum()), q_connections_kvar=float(q.sum()),
            line_losses_kw=line_losses, trafo_losses_kw=trafo_losses, losses_kw=line_losses + trafo_losses,
            iterations=flows.iterations, solve_time_ms=(time.perf_counter() - start) * 1e3, message="",
        )

    def _failed(self, p: FloatArray, q: FloatArray, start: float, message: str) -> PowerFlowResult:
        net, nan = self.feeder.net, float("nan")
        return PowerFlowResult(
            converged=False, v_pu=_nans(len(net.bus)), v_connection_pu=_nans(self.n_connections),
            line_loading_pct=_nans(len(net.line)), line_pl_kw=_nans(len(net.line)),
            trafo_loading_pct=_nans(len(net.trafo)), trafo_pl_kw=_nans(len(net.trafo)),
            p_ext_kw=nan, q_ext_kvar=nan,
            p_connections_kw=float(np.sum(p)), q_connections_kvar=float(np.sum(q)),
            line_losses_kw=nan, trafo_losses_kw=nan, losses_kw=nan, iterations=None,
            solve_time_ms=(time.perf_counter() - start) * 1e3, message=message,
        )


def _frozen(values: FloatArray) -> FloatArray:
    out = np.array(values, dtype=float)
    out.setflags(write=False)
    return out


def _nans(n: int) -> FloatArray:
    return _frozen(np.full(n, np.nan))


__all__ = [
    "BACKENDS",
    "Backend",
    "Feeder",
    "GridModel",
    "PowerFlowResult",
    "auto_buses",
    "available_networks",
    "candidate_buses",
    "lightsim2grid_available",
    "load_feeder",
    "resolve_backend",
]
