"""Peer-to-peer ADMM without a coordinator: neighbours trade shares of the transformer limit.

The shared band p_min ≤ Σ_i x_i ≤ p_max (x_i the agent's net power over the horizon) is split
into equal shares, and agents connected in a graph (e.g. neighbours on the feeder) move capacity
along its edges: a_ij is what agent i receives from neighbour j, and the flow is antisymmetric,
a_ij = −a_ji. With the local constraint

    p_min/N ≤ x_i − Σ_j a_ij ≤ p_max/N

the flows sum to zero, so the band holds for the sum; and every x with Σ x in the band has such
flows when the graph is connected, so the problem is the same as the coordinator's (without the
peak-import cost and the voltage rows, which need the aggregate: refused here). One edge variable
e per edge (i < j) makes it a two-block ADMM (agents, edges), which converges like any ADMM:

    (x_i, a_i·) = argmin f_i(x_i) + (ρ/2) Σ_j ‖a_ij − σ_ij e_ij + u_ij‖²   s.t. the local band
    e_ij        = ½ [σ_ij (a_ij + u_ij) + σ_ji (a_ji + u_ji)]               (σ_ij = +1 if i < j, else −1)
    u_ij       += a_ij − σ_ij e_ij

Each agent sends a_ij + u_ij to neighbour j once per round and both compute e_ij: no coordinator,
no aggregate anywhere. For fixed x_i the best a_i· differ from their centres c_ij = σ_ij e_ij − u_ij
by one common shift, so the agent solves min f_i(x) + (ρ/2d_i)‖w‖² s.t. p_min/N ≤ x − Σ_j c_ij − w
≤ p_max/N (d_i neighbours) and sets a_ij = c_ij + w/d_i.

The local problems are the agent's OSQP problem (`controllers.admm.local_qp`) with w appended, set
up once and re-solved with new bounds (`PeerAgent`); `ReferencePeerAgent` writes the same problem
in cvxpy (`controllers.mpc.formulation`) and is used to check it (`PeerSettings(reference=True)`).
Residuals and the stopping test (Boyd §3.3.1 on the edge copies) are evaluated over all agents
here, in process; on a real network the agents would agree on stopping by a max-consensus of
their local tests (diameter-many extra exchanges). ρ is fixed. A disagreement left on each edge
adds up along the paths capacity travels, so the tolerances are divided by half the graph's
diameter (`scale_tolerance_with_diameter`): without that the stopping test held 0.34–1.4 % from the
optimum at 96 agents (docs/admm.md).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import osqp
import scipy.sparse as sp

from controllers.admm.agent import SOLVED_STATUSES, OsqpSettings
from controllers.admm.data import AgentData, FloatArray, SharedLimits
from controllers.admm.local_qp import build_local_qp, diagonal_csc
from controllers.mpc.formulation import build_agents_model

Edge = tuple[int, int]
atoms: Any = cp  # cvxpy's atoms are untyped through the package namespace


def line_graph(n_agents: int) -> tuple[Edge, ...]:
    """Agents in feeder order, each connected to the next (a radial feeder's chain)."""
    return tuple((i, i + 1) for i in range(n_agents - 1))


def ring_graph(n_agents: int) -> tuple[Edge, ...]:
    """The line closed into a ring (two paths between any two agents)."""
    return (*line_graph(n_agents), (0, n_agents - 1)) if n_agents > 2 else line_graph(n_agents)


def neighbour_lists(n_agents: int, edges: Sequence[Edge]) -> list[list[int]]:
    """Each agent's neighbours, in the order of `edges`."""
    neighbours: list[list[int]] = [[] for _ in range(n_agents)]
    for i, j in edges:
        neighbours[i].append(j)
        neighbours[j].append(i)
    return neighbours


def _distances_from(start: int, neighbours: Sequence[Sequence[int]]) -> list[int]:
    dist = [-1] * len(neighbours)
    dist[start] = 0
    queue = deque([start])
    while queue:
        i = queue.popleft()
        for k in neighbours[i]:
            if dist[k] < 0:
                dist[k] = dist[i] + 1
                queue.append(k)
    return dist


def diameter(neighbours: Sequence[Sequence[int]]) -> int:
    """The longest shortest path (edges) of a connected graph given as neighbour lists."""
    return max(max(_distances_from(i, neighbours)) for i in range(len(neighbours)))


def _check_graph(n: int, edges: Sequence[Edge]) -> tuple[Edge, ...]:
    checked: set[Edge] = set()
    for i, j in edges:
        if not (0 <= i < n and 0 <= j < n) or i == j:
            raise ValueError(f"edge {(i, j)} must join two different agents among 0 … {n - 1}")
        checked.add((min(i, j), max(i, j)))
    graph = tuple(sorted(checked))
    seen = {i for i, d in enumerate(_distances_from(0, neighbour_lists(n, graph))) if d >= 0}
    if len(seen) != n:
        raise ValueError(f"the agents' graph must be connected; agents {sorted(set(range(n)) - seen)[:10]} "
                         "cannot reach agent 0")
    return graph


# accurate local solves; OSQP's own step size at its defaults (with the ADMM agents' 0.02 / 25 the
# ring test's OSQP and cvxpy runs stop one round apart, 44 / 43, at the tolerance's edge)
LOCAL_OSQP = OsqpSettings(eps_abs=1e-6, eps_rel=1e-6, polishing=True, rho=0.1, adaptive_rho_interval=50)


@dataclass(frozen=True)
class PeerSettings:
    rho: float = 0.05
    eps_abs: float = 1e-4
    eps_rel: float = 1e-4
    scale_tolerance_with_diameter: bool = True
    max_iterations: int = 2000
    local: OsqpSettings = LOCAL_OSQP
    reference: bool = False  # solve the local problems with the cvxpy reference instead (slow)

    def __post_init__(self) -> None:
        if self.rho <= 0 or self.eps_abs <= 0 or self.eps_rel < 0 or self.max_iterations < 1:
            raise ValueError("peer ADMM needs rho > 0, eps_abs > 0, eps_rel ≥ 0 and max_iterations ≥ 1")


class ReferencePeerAgent:
    """One agent's local problem in cvxpy (the readable reference): its own cost and devices, and
    the band on x − Σ received capacity with the one-sided penalty on the shift w."""

    def __init__(self, data: AgentData, low_kw: FloatArray, high_kw: FloatArray, degree: int,
                 rho: float) -> None:
        self.data, self.degree = data, degree
        model = build_agents_model([data])
        self.x = model.p_net[0]
        self.local_cost = model.cost
        self.w = cp.Variable(data.horizon, name="w")
        self.centre_sum = cp.Parameter(data.horizon, name="centre_sum")
        shifted = self.x - self.centre_sum - self.w
        objective = model.cost + (rho / (2.0 * degree)) * atoms.sum_squares(self.w)
        self.problem = cp.Problem(cp.Minimize(objective), [*model.constraints, shifted >= low_kw,
                                                           shifted <= high_kw])

    def solve(self, centres: FloatArray) -> tuple[FloatArray, FloatArray, float, float]:
        """x, the received capacities a (rows: neighbours, centres' order), local cost, solve time."""
        self.centre_sum.value = centres.sum(axis=0)
        start = time.perf_counter()
        self.problem.solve(solver=cp.OSQP, warm_start=True, eps_abs=1e-7, eps_rel=1e-7,  # type: ignore[no-untyped-call]
                           polishing=True, max_iter=20000)
        if self.x.value is None or self.w.value is None:
            raise RuntimeError(f"peer agent {self.data.name}: local problem {self.problem.status}")
        received = centres + np.asarray(self.w.value, dtype=float)[None, :] / self.degree
        cost = float(np.asarray(self.local_cost.value))
        return np.asarray(self.x.value, dtype=float), received, cost, time.perf_counter() - start


class PeerAgent:
    """The same local problem as :class:`ReferencePeerAgent` set up once in OSQP: the agent's QP
    (`controllers.admm.local_qp`) with the shift w appended, P += (ρ/d)·I on w, and the rows
    low + Σc ≤ p_net − w ≤ high + Σc whose bounds change every round (warm started)."""

    def __init__(self, data: AgentData, low_kw: FloatArray, high_kw: FloatArray, degree: int,
                 rho: float, settings: OsqpSettings) -> None:
        self.data, self.degree = data, degree
        self.qp = build_local_qp(data)
        lay, t = self.qp.layout, data.horizon
        self._n = lay.n_var
        select = sp.csr_matrix((np.ones(t), (np.arange(t), np.arange(lay.n_var)[lay.var("p_net")])),
                               shape=(t, lay.n_var))
        a = sp.vstack([sp.hstack([self.qp.a, sp.csr_matrix((self.qp.a.shape[0], t))]),
                       sp.hstack([select, -sp.identity(t)])], format="csc")
        p_diag = np.concatenate([self.qp.p_diag, np.full(t, rho / degree)])
        self._low, self._high = np.asarray(low_kw, dtype=float), np.asarray(high_kw, dtype=float)
        self._l = np.concatenate([self.qp.l, self._low])
        self._u = np.concatenate([self.qp.u, self._high])
        self._solver = osqp.OSQP()
        self._solver.setup(diagonal_csc(p_diag), np.concatenate([self.qp.q, np.zeros(t)]), a, self._l,
                           self._u, **settings.as_kwargs())

    def solve(self, centres: FloatArray) -> tuple[FloatArray, FloatArray, float, float]:
        """x, the received capacities a (rows: neighbours, centres' order), local cost, solve time."""
        total = centres.sum(axis=0)
        n_base = self.qp.l.shape[0]
        self._l[n_base:] = self._low + total
        self._u[n_base:] = self._high + total
        self._solver.update(l=self._l, u=self._u)
        start = time.perf_counter()
        res = self._solver.solve(raise_error=False)
        elapsed = time.perf_counter() - start
        if str(res.info.status) not in SOLVED_STATUSES or res.x is None:
            raise RuntimeError(f"peer agent {self.data.name}: OSQP status {res.info.status!r}")
        x_all = np.asarray(res.x, dtype=float)
        x = x_all[: self._n]
        w = x_all[self._n:]
        p_net = x[self.qp.layout.var("p_net")]
        return p_net.copy(), centres + w[None, :] / self.degree, self.qp.objective(x), elapsed


@dataclass(frozen=True)
class PeerRound:
    iteration: int
    primal: float
    dual: float
    eps_primal: float
    eps_dual: float
    max_solve_time_s: float


@dataclass(frozen=True)
class PeerResult:
    converged: bool
    iterations: int
    p_net_kw: FloatArray          # (agents, horizon)
    objective: float              # Σ local costs of the plans
    max_violation_kw: float       # largest excess of Σ x over the band
    messages: int                 # agent-to-agent messages (one per edge direction and round)
    history: tuple[PeerRound, ...]
    wall_time_s: float


def run_peer_to_peer(agents: Sequence[AgentData], limits: SharedLimits, edges: Sequence[Edge] | None = None,
                     settings: PeerSettings | None = None) -> PeerResult:
    """One control step of peer-to-peer ADMM over `edges` (default: `line_graph`)."""
    start = time.perf_counter()
    s = settings or PeerSettings()
    n = len(agents)
    if n < 2:
        raise ValueError("peer-to-peer ADMM needs at least two agents")
    if limits.peak_price_per_kw > 0 or limits.voltage is not None:
        raise ValueError("peer-to-peer ADMM shares the transformer band only: the peak-import cost and the "
                         "voltage rows need the aggregate (use the coordinator)")
    t = agents[0].horizon
    if limits.horizon != t:
        raise ValueError("shared limits and agents must have the same horizon")
    graph = _check_graph(n, line_graph(n) if edges is None else edges)
    neighbours = neighbour_lists(n, graph)
    scale = 1.0 / max(1.0, diameter(neighbours) / 2.0) if s.scale_tolerance_with_diameter else 1.0
    eps_abs, eps_rel = s.eps_abs * scale, s.eps_rel * scale
    # one row per directed copy (i receives from j); the edge index and orientation of each copy
    copies = [(i, j) for i in range(n) for j in neighbours[i]]
    edge_of = {e: k for k, e in enumerate(graph)}
    copy_edge = np.array([edge_of[(min(i, j), max(i, j))] for i, j in copies])
    sigma = np.array([1.0 if i < j else -1.0 for i, j in copies])
    rows_of = [np.array([k for k, (i, _) in enumerate(copies) if i == a]) for a in range(n)]
    peers: list[PeerAgent | ReferencePeerAgent] = [
        ReferencePeerAgent(a, limits.p_min_kw / n, limits.p_max_kw / n, len(neighbours[i]), s.rho)
        if s.reference else
        PeerAgent(a, limits.p_min_kw / n, limits.p_max_kw / n, len(neighbours[i]), s.rho, s.local)
        for i, a in enumerate(agents)]
    costs = np.zeros(n)
    a = np.zeros((len(copies), t))
    u = np.zeros((len(copies), t))
    e = np.zeros((len(graph), t))
    x = np.zeros((n, t))
    history: list[PeerRound] = []
    size = len(copies) * t
    converged = False
    for iteration in range(s.max_iterations):
        centres = sigma[:, None] * e[copy_edge] - u
        slowest = 0.0
        for i, peer in enumerate(peers):
            x[i], a[rows_of[i]], costs[i], solve_s = peer.solve(centres[rows_of[i]])
            slowest = max(slowest, solve_s)
        e_old = e
        sent = sigma[:, None] * (a + u)  # what each agent sends to its neighbour
        e = np.zeros_like(e)
        np.add.at(e, copy_edge, 0.5 * sent)
        gap = a - sigma[:, None] * e[copy_edge]
        u = u + gap
        primal = float(np.linalg.norm(gap))
        dual = s.rho * float(np.linalg.norm((e - e_old)[copy_edge]))
        eps_pri = np.sqrt(size) * eps_abs + eps_rel * max(float(np.linalg.norm(a)),
                                                          float(np.linalg.norm(e[copy_edge])))
        eps_dual = np.sqrt(size) * eps_abs + eps_rel * s.rho * float(np.linalg.norm(u))
        history.append(PeerRound(iteration, primal, dual, float(eps_pri), float(eps_dual), slowest))
        if primal <= eps_pri and dual <= eps_dual:
            converged = True
            break
    total = x.sum(axis=0)
    excess = np.maximum(total - limits.p_max_kw, 0.0) + np.maximum(limits.p_min_kw - total, 0.0)
    objective = float(costs.sum())
    return PeerResult(converged, len(history), x.copy(), objective, float(excess.max()),
                      len(copies) * len(history), tuple(history), time.perf_counter() - start)
