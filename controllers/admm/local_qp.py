"""An agent's local problem as one sparse QP in OSQP form, built without per-step loops.

    minimise ½ xᵀ P x + qᵀ x + c   subject to   l ≤ A x ≤ u

Every variable family and every row block has exactly T entries (one per horizon step), so the
layout is a list of length-T blocks: shifting a solution by one step for a warm start is the same
operation for every block (`shift_blocks`). P is diagonal. The ADMM proximal term
(w/2)‖p_net − c‖² only changes q (and the diagonal of P when w = ρ‖a_i‖² changes).

Variables (k = 0 … T−1; states at the end of step k):
    p_net               net power at the meter [kW]
    p_imp, p_exp        import / export split (only with an export price)
    p_hp                heat-pump electric power [kW]
    t_in, t_mass        indoor and mass temperature at the end of step k [°C]
    s_lo, s_hi          comfort slack below t_min / above t_max [K]
    p_ch, p_dis         battery charge / discharge power at the meter [kW]
    e                   battery energy at the end of step k [kWh]
    q_tch, q_tdis       hot-water tank charge / discharge heat [kW thermal]
    e_tank              tank energy at the end of step k [kWh thermal]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from controllers.admm.data import AgentData, FloatArray
from controllers.admm.kernels import quadratic_value

INF = np.inf
FREE_VARIABLES = ("p_net", "t_in", "t_mass")


@dataclass(frozen=True)
class QpLayout:
    """Positions of the variable families and row blocks (each of length `horizon`).

    Each family's and block's slice and the hash are computed once, on creation (a control step's
    new data look them up ~30 times an agent, a round a few times); `for_agent` hands out one
    instance per layout."""

    horizon: int
    variables: tuple[str, ...]
    rows: tuple[str, ...]
    _var_slices: dict[str, slice] = field(init=False, repr=False, compare=False)
    _row_slices: dict[str, slice] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        t = self.horizon
        object.__setattr__(
            self, "_var_slices", {n: slice(i * t, (i + 1) * t) for i, n in enumerate(self.variables)}
        )
        object.__setattr__(
            self, "_row_slices", {n: slice(i * t, (i + 1) * t) for i, n in enumerate(self.rows)}
        )
        object.__setattr__(self, "_hash", hash((self.horizon, self.variables, self.rows)))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def for_agent(cls, agent: AgentData) -> QpLayout:
        variables = ["p_net"]
        rows = ["balance"]
        if agent.export_price_per_kwh is not None:
            variables += ["p_imp", "p_exp"]
            rows += ["split"]
        if agent.thermal is not None:
            variables += ["p_hp", "t_in", "t_mass", "s_lo", "s_hi"]
            rows += ["dyn_in", "dyn_mass", "comfort_lo", "comfort_hi"]
        if agent.battery is not None:
            variables += ["p_ch", "p_dis", "e"]
            rows += ["battery", "rate"]
        if agent.tank is not None:
            variables += ["q_tch", "q_tdis", "e_tank"]
            rows += ["tank", "tank_rate"]
        rows += [f"bound_{v}" for v in variables if v not in FREE_VARIABLES]
        key = (agent.horizon, tuple(variables), tuple(rows))
        found = _LAYOUTS.get(key)
        if found is None:
            found = _LAYOUTS[key] = cls(*key)
        return found

    @property
    def n_var(self) -> int:
        return len(self.variables) * self.horizon

    @property
    def n_row(self) -> int:
        return len(self.rows) * self.horizon

    @property
    def n_bounded(self) -> int:
        """The number of bound rows (A's last rows)."""
        return int(_bounded_indices(self).shape[0])

    def bounded_indices(self) -> np.ndarray:
        """The variable of each bound row: the bound rows are A's last rows, one identity block per
        family not in FREE_VARIABLES, in layout order."""
        return _bounded_indices(self).copy()

    def var(self, name: str) -> slice:
        found = self._var_slices.get(name)
        if found is None:
            raise ValueError(f"{name!r} is not a variable family of this layout")
        return found

    def row(self, name: str) -> slice:
        found = self._row_slices.get(name)
        if found is None:
            raise ValueError(f"{name!r} is not a row block of this layout")
        return found


_LAYOUTS: dict[tuple[int, tuple[str, ...], tuple[str, ...]], QpLayout] = {}


@functools.cache
def _bounded_indices(layout: QpLayout) -> np.ndarray:
    bounded = [v for v in layout.variables if v not in FREE_VARIABLES]
    return np.concatenate([np.arange(layout.var(v).start, layout.var(v).stop) for v in bounded])


@dataclass(frozen=True)
class QpMatrices:
    """OSQP data of a local problem without the ADMM term; P is diagonal (`p_diag`)."""

    layout: QpLayout
    p_diag: FloatArray
    q: FloatArray
    a: sp.csc_matrix
    l: FloatArray  # noqa: E741 (OSQP's name)
    u: FloatArray
    constant: float

    def p_matrix(self, extra_p_net: float = 0.0) -> sp.csc_matrix:
        """P (upper triangle = diagonal) with `extra_p_net` added on the p_net entries."""
        return diagonal_csc(self.p_diag + extra_p_net * self.p_net_mask())

    def p_net_mask(self) -> FloatArray:
        mask = np.zeros(self.layout.n_var)
        mask[self.layout.var("p_net")] = 1.0
        return mask

    def objective(self, x: FloatArray) -> float:
        """½xᵀPx + qᵀx + c: the agent's true local cost (no ADMM term)."""
        return quadratic_value(self.p_diag, self.q, x) + self.constant


def diagonal_csc(diag: FloatArray) -> sp.csc_matrix:
    """A diagonal CSC matrix that keeps every diagonal entry, zeros included (fixed pattern)."""
    n = diag.shape[0]
    return sp.csc_matrix((diag.astype(float), np.arange(n), np.arange(n + 1)), shape=(n, n))


@dataclass(frozen=True)
class _Entries:
    """Coefficients of one variable family in one row block: diagonal (k, k) or lag (k, k−1);
    `values` a float when every entry has that value (`_assemble` writes it without an array)."""

    row_block: str
    variable: str
    lag: bool
    values: FloatArray | float


def _diag(row_block: str, variable: str, values: FloatArray | float, horizon: int) -> _Entries:
    if isinstance(values, (int, float)):  # the common case, without numpy's broadcasting (~15 µs)
        return _Entries(row_block, variable, False, float(values))
    return _Entries(row_block, variable, False, np.broadcast_to(np.asarray(values, float), (horizon,)).copy())


def _lag(row_block: str, variable: str, value: float, horizon: int) -> _Entries:
    return _Entries(row_block, variable, True, float(value))


def define_balance_rows(agent: AgentData, lay: QpLayout) -> tuple[list[_Entries], FloatArray]:
    """Meter balance: p_net,k − P_hp,k − p_ch,k + p_dis,k − (q_tch,k − q_tdis,k) / COP_dhw,k
    = p_base,k − pv,k."""
    t = lay.horizon
    entries = [_diag("balance", "p_net", 1.0, t)]
    if agent.thermal is not None:
        entries.append(_diag("balance", "p_hp", -1.0, t))
    if agent.battery is not None:
        entries += [_diag("balance", "p_ch", -1.0, t), _diag("balance", "p_dis", 1.0, t)]
    if agent.tank is not None:
        per_heat = 1.0 / agent.tank.cop_dhw
        entries += [_diag("balance", "q_tch", -per_heat, t), _diag("balance", "q_tdis", per_heat, t)]
    return entries, agent.p_base_kw - agent.pv_kw


def define_split_rows(lay: QpLayout) -> list[_Entries]:
    """Import/export split: p_net,k − p_imp,k + p_exp,k = 0."""
    t = lay.horizon
    return [
        _diag("split", "p_net", 1.0, t),
        _diag("split", "p_imp", -1.0, t),
        _diag("split", "p_exp", 1.0, t),
    ]


def define_thermal_rows(agent: AgentData, lay: QpLayout) -> tuple[list[_Entries], FloatArray, FloatArray]:
    """2R2C dynamics x_{k+1} − A x_k − B[:, 1] COP_k P_hp,k = B [t_out_k, q_air_k, q_mass_k]
    (A x_0 moved to the right-hand side of the first row). Returns the entries and both rhs."""
    th = agent.thermal
    if th is None:
        raise ValueError("define_thermal_rows needs a thermal model")
    t = lay.horizon
    a, b = th.a, th.b
    entries = [
        _diag("dyn_in", "t_in", 1.0, t),
        _lag("dyn_in", "t_in", -a[0, 0], t),
        _lag("dyn_in", "t_mass", -a[0, 1], t),
        _diag("dyn_in", "p_hp", -b[0, 1] * th.cop, t),
        _diag("dyn_mass", "t_mass", 1.0, t),
        _lag("dyn_mass", "t_in", -a[1, 0], t),
        _lag("dyn_mass", "t_mass", -a[1, 1], t),
        _diag("dyn_mass", "p_hp", -b[1, 1] * th.cop, t),
    ]
    disturbance = np.stack([th.t_out_c, th.q_air_gain_kw, th.q_mass_gain_kw])  # (3, T)
    rhs = b @ disturbance  # (2, T)
    rhs[:, 0] += a @ th.x0_c
    return entries, rhs[0], rhs[1]


def define_comfort_rows(lay: QpLayout) -> list[_Entries]:
    """Soft comfort band: t_in,k + s_lo,k ≥ t_min,k and t_in,k − s_hi,k ≤ t_max,k."""
    t = lay.horizon
    return [
        _diag("comfort_lo", "t_in", 1.0, t),
        _diag("comfort_lo", "s_lo", 1.0, t),
        _diag("comfort_hi", "t_in", 1.0, t),
        _diag("comfort_hi", "s_hi", -1.0, t),
    ]


def define_battery_rows(agent: AgentData, lay: QpLayout) -> tuple[list[_Entries], FloatArray]:
    """Energy balance e_{k+1} − (1 − loss Δt) e_k − Δt η_c p_ch,k + Δt p_dis,k / η_d = 0 (e_0 on the
    rhs of the first row) and the converter limit p_ch,k + p_dis,k ≤ c_rate · capacity."""
    bat = agent.battery
    if bat is None:
        raise ValueError("define_battery_rows needs a battery")
    t, dt = lay.horizon, agent.dt_h
    keep = 1.0 - bat.loss_per_h * dt
    entries = [
        _diag("battery", "e", 1.0, t),
        _lag("battery", "e", -keep, t),
        _diag("battery", "p_ch", -dt * bat.eta_charge, t),
        _diag("battery", "p_dis", dt / bat.eta_discharge, t),
        _diag("rate", "p_ch", 1.0, t),
        _diag("rate", "p_dis", 1.0, t),
    ]
    rhs = np.zeros(t)
    rhs[0] = keep * bat.e0_kwh
    return entries, rhs


def define_tank_rows(agent: AgentData, lay: QpLayout) -> list[_Entries]:
    """Heat balance e_k − (1 − loss Δt) e_{k−1} − Δt η_c q_tch,k + Δt q_tdis,k / η_d = 0 for k ≥ 1
    (row 0 repeats what the applied step 0 fixes: e_0, the energy after it, and its powers) and the
    limit q_tch,k + q_tdis,k ≤ c_rate · capacity."""
    tank = agent.tank
    if tank is None:
        raise ValueError("define_tank_rows needs a tank")
    t, dt = lay.horizon, agent.dt_h
    return [
        _diag("tank", "e_tank", 1.0, t),
        _lag("tank", "e_tank", -(1.0 - tank.loss_per_h * dt), t),
        _diag("tank", "q_tch", -dt * tank.eta_charge, t),
        _diag("tank", "q_tdis", dt / tank.eta_discharge, t),
        _diag("tank_rate", "q_tch", 1.0, t),
        _diag("tank_rate", "q_tdis", 1.0, t),
    ]


def define_bounds(agent: AgentData, lay: QpLayout) -> tuple[list[_Entries], FloatArray, FloatArray]:
    """Identity rows with the variable bounds (families in FREE_VARIABLES get no rows)."""
    t = lay.horizon
    lo = np.full(lay.n_var, -INF)
    hi = np.full(lay.n_var, INF)
    for name in ("p_imp", "p_exp", "s_lo", "s_hi"):
        if name in lay.variables:
            lo[lay.var(name)] = 0.0
    if agent.thermal is not None:
        th, s = agent.thermal, lay.var("p_hp")
        lo[s], hi[s] = 0.0, th.hp_p_max_kw
        if th.hp_p_prev_kw is not None:
            lo[s.start] = hi[s.start] = th.hp_p_prev_kw
    if agent.battery is not None:
        bat = agent.battery
        for name in ("p_ch", "p_dis"):
            lo[lay.var(name)], hi[lay.var(name)] = 0.0, bat.p_max_kw
        s = lay.var("e")
        lo[s], hi[s] = bat.e_min_kwh, bat.e_max_kwh
        if bat.e_final_min_kwh is not None:
            lo[s.stop - 1] = max(bat.e_min_kwh, bat.e_final_min_kwh)
    if agent.tank is not None:
        tank = agent.tank
        charge, discharge, energy = lay.var("q_tch"), lay.var("q_tdis"), lay.var("e_tank")
        lo[charge], hi[charge] = 0.0, tank.q_max_kw
        lo[discharge], hi[discharge] = 0.0, np.minimum(tank.q_max_kw, tank.q_dhw_kw)
        lo[energy], hi[energy] = tank.e_min_kwh, tank.e_max_kwh
        lo[charge.start] = hi[charge.start] = max(tank.q0_kw, 0.0)  # step 0: already applied
        lo[discharge.start] = hi[discharge.start] = max(-tank.q0_kw, 0.0)
        lo[energy.start] = hi[energy.start] = tank.e1_kwh
    entries = [_diag(f"bound_{v}", v, 1.0, t) for v in lay.variables if v not in FREE_VARIABLES]
    keep = _bounded_indices(lay)
    return entries, lo[keep], hi[keep]


def define_objective(agent: AgentData, lay: QpLayout) -> tuple[FloatArray, FloatArray, float]:
    """Diagonal of P, q and the constant of the local cost (see `AgentData`)."""
    dt = agent.dt_h
    p_diag = np.zeros(lay.n_var)
    q = np.zeros(lay.n_var)
    constant = 0.0
    reg2 = 2.0 * agent.reg_weight_per_kw2
    if agent.export_price_per_kwh is None:
        q[lay.var("p_net")] = dt * agent.price_per_kwh
    else:
        q[lay.var("p_imp")] = dt * agent.price_per_kwh
        q[lay.var("p_exp")] = -dt * agent.export_price_per_kwh
        p_diag[lay.var("p_imp")] = reg2
        p_diag[lay.var("p_exp")] = reg2
    if agent.p_plan_kw is not None and agent.plan_weight_per_kw2 > 0:
        w = agent.plan_weight_per_kw2
        p_diag[lay.var("p_net")] += 2.0 * w
        q[lay.var("p_net")] += -2.0 * w * agent.p_plan_kw
        constant += w * float(agent.p_plan_kw @ agent.p_plan_kw)
    if agent.thermal is not None:
        th = agent.thermal
        p_diag[lay.var("p_hp")] = reg2
        for name in ("s_lo", "s_hi"):
            q[lay.var(name)] = dt * th.comfort_linear_per_kh
            p_diag[lay.var(name)] = 2.0 * dt * th.comfort_quad_per_k2h
    if agent.battery is not None:
        for name in ("p_ch", "p_dis"):
            q[lay.var(name)] = dt * agent.battery.throughput_cost_per_kwh
            p_diag[lay.var(name)] = reg2
    if agent.tank is not None:
        for name in ("q_tch", "q_tdis"):
            p_diag[lay.var(name)] = reg2
    return p_diag, q, constant


@dataclass(frozen=True)
class _Assembly:
    """A's pattern for a layout and entry list: `template` (a CSC matrix of that pattern, index
    arrays read-only), where entry j's values land in A's data (`target`) and each entry's slice of
    the concatenated values (`bounds`)."""

    template: sp.csc_matrix
    target: np.ndarray
    bounds: tuple[int, ...]


_ASSEMBLY: dict[tuple[QpLayout, tuple[tuple[str, str, bool], ...]], _Assembly] = {}


def _assemble(entries: list[_Entries], lay: QpLayout) -> sp.csc_matrix:
    """Stack the coefficients into A with a pattern that depends only on the layout (zeros kept).
    The pattern and where each entry's values land are computed once per layout and entry list."""
    key = (lay, tuple((e.row_block, e.variable, e.lag) for e in entries))
    found = _ASSEMBLY.get(key)
    if found is None:
        found = _ASSEMBLY[key] = _assembly(entries, lay)
    bounds = found.bounds
    values = np.empty(bounds[-1])
    for j, e in enumerate(entries):
        values[bounds[j] : bounds[j + 1]] = e.values
    data = np.asarray(
        np.bincount(found.target, weights=values, minlength=found.template.indices.shape[0]), float
    )
    return csc_with_data(found.template, data)


def _assembly(entries: list[_Entries], lay: QpLayout) -> _Assembly:
    t = lay.horizon
    rows, cols = [], []
    for e in entries:
        r0 = lay.row(e.row_block).start
        c0 = lay.var(e.variable).start
        k = np.arange(1, t) if e.lag else np.arange(t)
        rows.append(r0 + k)
        cols.append(c0 + k - (1 if e.lag else 0))
    r, c = np.concatenate(rows), np.concatenate(cols)
    position = sp.coo_matrix(
        (np.arange(1, r.shape[0] + 1, dtype=float), (r, c)), shape=(lay.n_row, lay.n_var)
    )
    csc = sp.csc_matrix(position)  # duplicates (none in the layouts today) would be summed
    csc.sort_indices()
    # entry j goes to data position target[j]: the order of (column, row) of the unique pairs
    order = np.lexsort((r, c))
    pairs = np.stack([c[order], r[order]])
    new = np.concatenate([[True], np.any(pairs[:, 1:] != pairs[:, :-1], axis=0)])
    target = np.empty(r.shape[0], dtype=np.int64)
    target[order] = np.cumsum(new) - 1
    indices, indptr = csc.indices.copy(), csc.indptr.copy()
    indices.flags.writeable = False
    indptr.flags.writeable = False
    template = sp.csc_matrix((np.zeros(indices.shape[0]), indices, indptr), shape=csc.shape)
    bounds = np.cumsum([0] + [t - 1 if e.lag else t for e in entries])
    return _Assembly(template, target, tuple(int(b) for b in bounds))


def csc_with_data(template: sp.csc_matrix, data: FloatArray) -> sp.csc_matrix:
    """A CSC matrix of `template`'s pattern with values `data`, sharing the template's (read-only)
    index arrays, without scipy's checks of them (~20 µs, a sixth of `build_local_qp`): the
    template's attributes, as scipy set them, with `data` in place of its values."""
    if data.shape != template.data.shape or data.dtype != template.data.dtype:
        raise ValueError("data does not fit the template's pattern")
    matrix = object.__new__(type(template))
    matrix.__dict__.update(template.__dict__)
    matrix.data = data
    return matrix


def build_local_qp(agent: AgentData) -> QpMatrices:
    """The OSQP matrices of one agent's local problem (no ADMM term)."""
    lay = QpLayout.for_agent(agent)
    l = np.full(lay.n_row, -INF)  # noqa: E741 (OSQP's name)
    u = np.full(lay.n_row, INF)

    def eq(block: str, rhs: FloatArray) -> None:
        l[lay.row(block)] = rhs
        u[lay.row(block)] = rhs

    entries, rhs = define_balance_rows(agent, lay)
    eq("balance", rhs)
    if agent.export_price_per_kwh is not None:
        entries += define_split_rows(lay)
        eq("split", np.zeros(lay.horizon))
    if agent.thermal is not None:
        th_entries, rhs_in, rhs_mass = define_thermal_rows(agent, lay)
        entries += th_entries + define_comfort_rows(lay)
        eq("dyn_in", rhs_in)
        eq("dyn_mass", rhs_mass)
        l[lay.row("comfort_lo")] = agent.thermal.t_min_c
        u[lay.row("comfort_hi")] = agent.thermal.t_max_c
    if agent.battery is not None:
        bat_entries, rhs = define_battery_rows(agent, lay)
        entries += bat_entries
        eq("battery", rhs)
        u[lay.row("rate")] = agent.battery.p_max_kw
    if agent.tank is not None:
        entries += define_tank_rows(agent, lay)
        tank, dt = agent.tank, agent.dt_h
        tank_rows = lay.row("tank")
        l[tank_rows], u[tank_rows] = 0.0, 0.0
        # row 0 holds what the fixed step 0 gives (e_0 and the step's powers are fixed by their
        # bounds); a free row instead would make PIQP warn on every first solve
        first = (
            tank.e1_kwh
            - dt * tank.eta_charge * max(tank.q0_kw, 0.0)
            + dt / tank.eta_discharge * max(-tank.q0_kw, 0.0)
        )
        l[tank_rows.start] = u[tank_rows.start] = first
        u[lay.row("tank_rate")] = tank.q_max_kw
    bound_entries, lo, hi = define_bounds(agent, lay)
    entries += bound_entries
    first_bound = lay.n_row - lo.shape[0]
    l[first_bound:] = lo
    u[first_bound:] = hi
    p_diag, q, constant = define_objective(agent, lay)
    return QpMatrices(lay, p_diag, q, _assemble(entries, lay), l, u, constant)


def shift_blocks(values: FloatArray, horizon: int) -> FloatArray:
    """Shift every length-`horizon` block one step ahead, repeating the last entry."""
    blocks = values.reshape(-1, horizon)
    shifted = np.concatenate([blocks[:, 1:], blocks[:, -1:]], axis=1)
    return shifted.reshape(-1)
