"""Energy-hub variables and constraint families (vectorised cvxpy, one function per family).

Notation: t = 0 … T−1 time steps of Δt hours; all flows are average powers over a step in kW,
storage contents in kWh. Conventions: storage charge and discharge are both ≥ 0 (power at the
store's terminals, charge drawn from the bus, discharge delivered to it); grid import and
exports are both ≥ 0. For a converter k with input flow f_k,t (kW of fuel, electricity or
irradiance on its collector) the output of carrier c is y_k,c,t = η_k,c · f_k,t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from planner.hub.case import Case
from planner.hub.errors import PlannerInputError
from planner.hub.policies import ResolvedPrices
from planner.hub.technologies import ConversionTech, StorageTech

# cvxpy is untyped through its package namespace (its comparisons are typed as bool): expressions
# and constraints are used untyped here, as in controllers.mpc.formulation
atoms: Any = cp
Expr = Any
Constraint = Any


@dataclass(frozen=True)
class ConverterVars:
    """Variables of one converter: capacity (kW of ``capacity_on`` output, or m² for solar)."""

    name: str
    tech: ConversionTech
    cap: cp.Variable
    inflow_kw: Expr
    install: cp.Variable | None
    on: cp.Variable | None

    def output_kw(self, carrier: str) -> Expr | None:
        eff = self.tech.outputs.get(carrier)  # type: ignore[call-overload]
        return None if eff is None else eff * self.inflow_kw


@dataclass(frozen=True)
class StorageVars:
    """Variables of one store; ``e_kwh[0]`` is the content before the first step."""

    name: str
    tech: StorageTech
    cap_kwh: cp.Variable
    charge_kw: cp.Variable
    discharge_kw: cp.Variable
    e_kwh: cp.Variable
    install: cp.Variable | None


@dataclass(frozen=True)
class NettedBank:
    """Net metering settled over the horizon instead of step by step (a relaxation of the bank).

    The import price takes few distinct values p_k (flat, time of use); W_k (kWh) is the credit
    drawn back in the steps of price level k. The order of banking and withdrawal within the
    horizon is not modelled: :mod:`planner.hub.netting` schedules the withdrawals afterwards and
    proves (or refutes) that the bank's order costs nothing.
    """

    price_levels_per_kwh: np.ndarray
    level_of_step: np.ndarray
    withdrawn_kwh: cp.Variable


@dataclass(frozen=True)
class MeterInterval:
    """Net metering per metering interval: in step t a site either draws from the grid or deposits
    credit, never both (the meter registers one net flow per interval).

    Only the ``steps`` where depositing while drawing could pay carry the constraint (the import
    price is below a later one and the sun is up, :func:`arbitrage_steps`); ``on`` is 1 where the
    step deposits: binary (a MILP), continuous in [0, 1] (the MILP's LP relaxation, a lower bound)
    or a fixed 0/1 pattern (an LP). ``deposit_area_m2`` splits each solar-electric collector's area
    per step into the part counted as depositing (a¹, the rest a⁰ = A − a¹ counted as drawing), with
    ``max_area_m2`` its largest area; ``max_draw_kw`` bounds the draw where electricity consumers or
    electric stores can raise it above the demand (None without them). Empty with a fixed pattern.
    """

    steps: np.ndarray
    on: Any
    deposit_area_m2: dict[str, cp.Variable]
    max_area_m2: dict[str, float]
    max_draw_kw: np.ndarray | None


@dataclass(frozen=True)
class GridVars:
    """Grid exchange; the net-metering bank exists only under net metering.

    With ``netted`` (the relaxation of :class:`NettedBank`) ``import_kw`` is the whole grid draw
    (import plus withdrawals of credit) and there is no per-step bank.
    """

    import_kw: cp.Variable
    export_solar_kw: cp.Variable | None
    export_other_kw: cp.Variable | None
    bank_kwh: cp.Variable | None
    bank_withdrawal_kw: cp.Variable | None
    netted: NettedBank | None = None
    interval: MeterInterval | None = None

    @property
    def net_metering(self) -> bool:
        return self.bank_kwh is not None or self.netted is not None

    @property
    def draw_kw(self) -> Expr:
        """d_t: everything drawn from the grid (import, plus withdrawals of credit with the chained bank)."""
        return self.import_kw if self.bank_withdrawal_kw is None else self.import_kw + self.bank_withdrawal_kw


@dataclass(frozen=True)
class HubVariables:
    converters: dict[str, ConverterVars]
    storage: dict[str, StorageVars]
    grid: GridVars


def _big_m(name: str, limit: float | None, why: str = "") -> float:
    if limit is None:
        if why:
            raise PlannerInputError(f"technology {name!r} needs a max capacity ({why}): net metering per "
                                    "metering interval is a MILP whose binaries need a bound")
        raise PlannerInputError(f"technology {name!r} needs a max capacity: its fixed costs, minimum "
                                "capacity "
                                "or part load make it a MILP, whose install/on-off binaries need a bound")
    return float(limit)


def _netted_bank(prices: ResolvedPrices) -> NettedBank:
    levels, level_of_step = np.unique(prices.import_per_kwh, return_inverse=True)
    return NettedBank(levels, level_of_step.reshape(-1),
                      cp.Variable(levels.size, nonneg=True, name="nm_withdrawn_by_price_kwh"))


ARBITRAGE_PRICE_TOLERANCE = 1e-9   # CHF/kWh: a later price must exceed p_t by more to count


def arbitrage_steps(import_per_kwh: np.ndarray, irradiance_kw_per_m2: np.ndarray) -> np.ndarray:
    """Steps where banking solar credit while drawing from the grid could pay: the sun is up and the
    import price p_t is below the highest later price max_{s>t} p_s (the most a credit banked at t
    can be worth). In every other step netting draw and deposit never raises the cost
    (:func:`planner.hub.netting.net_interval`), so only these steps need the binary."""
    price = np.asarray(import_per_kwh, dtype=float)
    later = np.append(np.maximum.accumulate(price[::-1])[::-1][1:], -np.inf)
    sunny = np.asarray(irradiance_kw_per_m2) > 0
    return np.flatnonzero((price < later - ARBITRAGE_PRICE_TOLERANCE) & sunny)


def _has_elec_consumers(case: Case) -> bool:
    return (any(t.input == "elec" for t in case.catalogue.conversion.values())
            or any(s.carrier == "elec" for s in case.catalogue.storage.values()))


def _max_draw_kw(case: Case, steps: np.ndarray) -> np.ndarray:
    """An upper bound of the grid draw in ``steps``: the import limit, else demand plus every
    electricity consumer and electric store charging at its largest size."""
    if case.max_import_kw is not None:
        return np.full(steps.size, float(case.max_import_kw))
    extra = 0.0
    for name, tech in case.catalogue.conversion.items():
        if tech.input == "elec":
            limit = _big_m(name, tech.max_capacity, "or the grid a max_import_kw")
            extra += limit / tech.outputs[tech.capacity_on]
    for name, store in case.catalogue.storage.items():
        if store.carrier == "elec":
            extra += store.c_rate_charge_per_h * _big_m(name, store.max_capacity_kwh,
                                                       "or the grid a max_import_kw")
    bound: np.ndarray = np.asarray(case.elec_demand_kw, dtype=float)[steps] + extra
    return bound


def _max_area_m2(case: Case) -> dict[str, float]:
    """The largest area of every solar-electric collector: its max capacity or the roof."""
    out: dict[str, float] = {}
    for name, tech in case.catalogue.conversion.items():
        if tech.is_solar and "elec" in tech.outputs:
            limits = [x for x in (tech.max_capacity, case.roof_area_m2) if x is not None]
            out[name] = min(limits) if limits else _big_m(name, None, "or the case a roof area")
    return out


def _meter_interval(case: Case, steps: np.ndarray, pattern: np.ndarray | None,
                    relaxed: bool) -> MeterInterval | None:
    if steps.size == 0:
        return None
    if pattern is not None:
        return MeterInterval(steps, np.asarray(pattern, dtype=float), {}, {}, None)
    on: Any = (cp.Variable(steps.size, bounds=[0.0, 1.0], name="nm_deposit_share") if relaxed
               else cp.Variable(steps.size, boolean=True, name="nm_deposit_on"))
    max_area = _max_area_m2(case)
    areas = {name: cp.Variable(steps.size, nonneg=True, name=f"{name}_deposit_area_m2") for name in max_area}
    draw = _max_draw_kw(case, steps) if _has_elec_consumers(case) else None
    return MeterInterval(steps, on, areas, max_area, draw)


def define_variables(case: Case, prices: ResolvedPrices, netted: bool = False,
                     meter_steps: np.ndarray | None = None,
                     meter_pattern: np.ndarray | None = None, meter_relaxed: bool = False) -> HubVariables:
    """Create the decision variables; solar input is the fixed expression area · I_t (no curtailment).

    ``netted`` replaces the net-metering bank by its relaxation :class:`NettedBank` (no effect
    without net metering). ``meter_steps``: the steps of :class:`MeterInterval` (default: the
    :func:`arbitrage_steps` of a net-metering policy, none otherwise); the relaxations of
    :mod:`planner.hub.netting` pass their policy's. ``meter_pattern`` fixes its binaries (0/1 per step);
    ``meter_relaxed`` makes them continuous in [0, 1] (the LP relaxation of the MILP).
    """
    n = case.n_steps
    irr_kw_per_m2 = case.irradiance_kw_per_m2
    converters: dict[str, ConverterVars] = {}
    for name, tech in case.catalogue.conversion.items():
        cap = cp.Variable(nonneg=True, name=f"{name}_cap")
        inflow = cap * irr_kw_per_m2 if tech.is_solar else cp.Variable(n, nonneg=True, name=f"{name}_in_kw")
        install = cp.Variable(boolean=True, name=f"{name}_install") if tech.needs_install_binary else None
        on = cp.Variable(n, boolean=True, name=f"{name}_on") if tech.needs_on_off_binary else None
        converters[name] = ConverterVars(name, tech, cap, inflow, install, on)
    storage = {
        name: StorageVars(
            name, tech,
            cap_kwh=cp.Variable(nonneg=True, name=f"{name}_cap_kwh"),
            charge_kw=cp.Variable(n, nonneg=True, name=f"{name}_charge_kw"),
            discharge_kw=cp.Variable(n, nonneg=True, name=f"{name}_discharge_kw"),
            e_kwh=cp.Variable(n + 1, nonneg=True, name=f"{name}_e_kwh"),
            install=cp.Variable(boolean=True, name=f"{name}_install") if tech.needs_install_binary else None,
        )
        for name, tech in case.catalogue.storage.items()
    }
    elec = [c.tech for c in converters.values() if "elec" in c.tech.outputs]
    has_solar_elec = any(t.is_solar for t in elec)
    has_other_elec = any(not t.is_solar for t in elec)
    nm = prices.net_metering and has_solar_elec
    chain = nm and not netted
    if meter_steps is None:
        meter_steps = (arbitrage_steps(prices.import_per_kwh, irr_kw_per_m2) if nm
                       else np.zeros(0, dtype=int))
    interval = _meter_interval(case, np.asarray(meter_steps, dtype=int), meter_pattern, meter_relaxed) \
        if has_solar_elec else None
    grid = GridVars(
        import_kw=cp.Variable(n, nonneg=True, name="grid_draw_kw" if nm and netted else "grid_import_kw"),
        export_solar_kw=cp.Variable(n, nonneg=True, name="export_solar_kw") if has_solar_elec else None,
        export_other_kw=cp.Variable(n, nonneg=True, name="export_other_kw") if has_other_elec else None,
        bank_kwh=cp.Variable(n + 1, nonneg=True, name="nm_bank_kwh") if chain else None,
        bank_withdrawal_kw=cp.Variable(n, nonneg=True, name="nm_withdrawal_kw") if chain else None,
        netted=_netted_bank(prices) if nm and netted else None,
        interval=interval,
    )
    return HubVariables(converters, storage, grid)


def define_conversion_capacity(v: HubVariables) -> list[Constraint]:
    """Output on the capacity carrier within the capacity: η_k,cap · f_k,t ≤ C_k  ∀t (non-solar k)."""
    out: list[Constraint] = []
    for c in v.converters.values():
        if not c.tech.is_solar:
            out.append(c.tech.outputs[c.tech.capacity_on] * c.inflow_kw <= c.cap)
    return out


def define_capacity_bounds(v: HubVariables) -> list[Constraint]:
    """Size limits: C_min·z_k ≤ C_k ≤ C_max·z_k with install binary z_k, else C_k ≤ C_max.

    Same for stores (kWh). Without an install binary the minimum size cannot apply (C_k = 0 must stay
    possible), so ``min_capacity`` > 0 always creates the binary.
    """
    out: list[Constraint] = []
    sized = [(c.name, c.cap, c.install, c.tech.min_capacity, c.tech.max_capacity)
             for c in v.converters.values()]
    sized += [(s.name, s.cap_kwh, s.install, s.tech.min_capacity_kwh, s.tech.max_capacity_kwh)
              for s in v.storage.values()]
    for name, cap, install, c_min, c_max in sized:
        if install is not None:
            out += [cap <= _big_m(name, c_max) * install, cap >= c_min * install]
        elif c_max is not None:
            out.append(cap <= c_max)
    return out


def define_roof_area(v: HubVariables, case: Case) -> list[Constraint]:
    """Collector area: Σ_{k solar} A_k ≤ A_roof."""
    areas = [c.cap for c in v.converters.values() if c.tech.is_solar]
    if not areas or case.roof_area_m2 is None:
        return []
    return [atoms.sum(atoms.hstack(areas)) <= case.roof_area_m2]


def define_part_load(v: HubVariables) -> list[Constraint]:
    """On/off with minimum part load (u_k,t binary, M = C_max):

    y_k,t ≤ M·u_k,t,  y_k,t ≥ π_k·C_k − M·(1 − u_k,t),  with y = η_k,cap · f_k,t
    (and u_k,t ≤ z_k when the unit also has an install binary).
    """
    out: list[Constraint] = []
    for c in v.converters.values():
        if c.on is None:
            continue
        big_m = _big_m(c.name, c.tech.max_capacity)
        y = c.tech.outputs[c.tech.capacity_on] * c.inflow_kw
        out += [y <= big_m * c.on, y >= c.tech.min_part_load * c.cap - big_m * (1 - c.on)]
        if c.install is not None:
            out.append(c.on <= c.install)
    return out


def define_storage_dynamics(v: HubVariables, step_h: float) -> list[Constraint]:
    """E_t = (1 − d)^Δt · E_{t−1} + η_c·Δt·charge_t − Δt/η_d·discharge_t   (E_0 is the start content)."""
    out: list[Constraint] = []
    for s in v.storage.values():
        keep = (1.0 - s.tech.decay_per_h) ** step_h
        out.append(s.e_kwh[1:] == keep * s.e_kwh[:-1] + s.tech.eta_charge * step_h * s.charge_kw
                   - (step_h / s.tech.eta_discharge) * s.discharge_kw)
    return out


def define_storage_limits(v: HubVariables) -> list[Constraint]:
    """charge_t ≤ r_c·E_cap, discharge_t ≤ r_d·E_cap, s_min·E_cap ≤ E_t ≤ E_cap."""
    out: list[Constraint] = []
    for s in v.storage.values():
        out += [s.charge_kw <= s.tech.c_rate_charge_per_h * s.cap_kwh,
                s.discharge_kw <= s.tech.c_rate_discharge_per_h * s.cap_kwh,
                s.e_kwh <= s.cap_kwh]
        if s.tech.min_soc > 0:
            out.append(s.e_kwh >= s.tech.min_soc * s.cap_kwh)
    return out


def define_storage_boundary(v: HubVariables, case: Case) -> list[Constraint]:
    """Start ``empty``: E_0 = s_min·E_cap (end free). ``cyclic``: E_T = E_0 (start free).

    A given initial content overrides the start: E_0 = E_init (cyclic stores then end at E_init).
    """
    out: list[Constraint] = []
    for s in v.storage.values():
        if s.name in case.initial_e_kwh:
            out += [s.e_kwh[0] == case.initial_e_kwh[s.name]]
        elif s.tech.start == "empty":
            out.append(s.e_kwh[0] == s.tech.min_soc * s.cap_kwh)
        if s.tech.start == "cyclic":
            out.append(s.e_kwh[-1] == s.e_kwh[0])
    return out


def define_fixed_design(v: HubVariables, case: Case) -> list[Constraint]:
    """C_k = C_k,fixed for every technology the case fixes (dispatch-only runs)."""
    caps = {n: c.cap for n, c in v.converters.items()} | {n: s.cap_kwh for n, s in v.storage.items()}
    return [caps[name] == value for name, value in case.fixed_capacities.items()]


def _sum(terms: list[Expr], n: int) -> Expr:
    return sum(terms[1:], terms[0]) if terms else cp.Constant(np.zeros(n))


def carrier_supply(v: HubVariables, carrier: str, n: int) -> Expr:
    """Σ_k y_k,c,t − Σ_k f_k,t [input c] + Σ_s (discharge − charge) of carrier c's stores."""
    terms: list[Expr] = []
    for c in v.converters.values():
        out = c.output_kw(carrier)
        if out is not None:
            terms.append(out)
        if c.tech.input == carrier:
            terms.append(-c.inflow_kw)
    terms += [s.discharge_kw - s.charge_kw for s in v.storage.values() if s.tech.carrier == carrier]
    return _sum(terms, n)


def define_electricity_balance(v: HubVariables, case: Case) -> list[Constraint]:
    """import_t + w_t + Σ y_k,el,t − Σ f_k,t[el input] + Σ (dis − ch)_el = D_el,t + x_pv,t + x_other,t.

    w_t is the net-metering withdrawal (absent without net metering).
    """
    g = v.grid
    lhs = g.import_kw + carrier_supply(v, "elec", case.n_steps)
    if g.bank_withdrawal_kw is not None:
        lhs = lhs + g.bank_withdrawal_kw
    rhs: Expr = cp.Constant(np.asarray(case.elec_demand_kw, dtype=float))
    for export in (g.export_solar_kw, g.export_other_kw):
        if export is not None:
            rhs = rhs + export
    return [lhs == rhs]


def define_heat_balance(v: HubVariables, case: Case) -> list[Constraint]:
    """Σ y_k,heat,t + Σ (dis − ch)_heat = D_heat,t  (heat cannot be exported or dumped)."""
    return [carrier_supply(v, "heat", case.n_steps) == np.asarray(case.heat_demand_kw, dtype=float)]


def define_export_limits(v: HubVariables) -> list[Constraint]:
    """x_pv,t ≤ Σ_{k solar} y_k,el,t;  x_other,t ≤ Σ_{k not solar} y_k,el,t (e.g. the CHP)."""
    out: list[Constraint] = []
    for export, solar in ((v.grid.export_solar_kw, True), (v.grid.export_other_kw, False)):
        if export is None:
            continue
        produced = [c.output_kw("elec") for c in v.converters.values()
                    if c.tech.is_solar == solar and "elec" in c.tech.outputs]
        out.append(export <= _sum(produced, export.shape[0]))
    return out


def define_netted_bank(v: HubVariables, step_h: float) -> list[Constraint]:
    """Relaxed bank: W_k ≤ Δt·Σ_{t: p_t = p_k} d_t (credit replaces draws of its price level),
    Σ_k W_k ≤ Δt·Σ_t x_pv,t (no more credit drawn than banked over the horizon)."""
    g = v.grid
    if g.netted is None or g.export_solar_kw is None:
        return []
    nb = g.netted
    n = nb.level_of_step.size
    by_level = sp.csr_matrix((np.full(n, step_h), (nb.level_of_step, np.arange(n))),
                             shape=(nb.price_levels_per_kwh.size, n))
    return [nb.withdrawn_kwh <= by_level @ g.import_kw,
            atoms.sum(nb.withdrawn_kwh) <= step_h * atoms.sum(g.export_solar_kw)]


def define_net_metering(v: HubVariables, step_h: float) -> list[Constraint]:
    """Bank B (kWh): B_0 = 0, B_t = B_{t−1} + Δt·x_pv,t − Δt·w_t, B_t ≥ 0; x_pv is banked, not paid.

    With the relaxed bank (``GridVars.netted``) see :func:`define_netted_bank`.
    """
    g = v.grid
    if g.netted is not None:
        return define_netted_bank(v, step_h)
    if g.bank_kwh is None or g.bank_withdrawal_kw is None or g.export_solar_kw is None:
        return []
    return [g.bank_kwh[0] == 0,
            g.bank_kwh[1:] == g.bank_kwh[:-1] + step_h * (g.export_solar_kw - g.bank_withdrawal_kw)]


def _elec_consumed_kw(v: HubVariables, steps: np.ndarray) -> Expr | None:
    """e_t: electricity taken by converters with an electricity input and charged into electric stores."""
    terms = [c.inflow_kw[steps] for c in v.converters.values() if c.tech.input == "elec"]
    terms += [s.charge_kw[steps] for s in v.storage.values() if s.tech.carrier == "elec"]
    return _sum(terms, steps.size) if terms else None


def define_metering_interval(v: HubVariables, case: Case) -> list[Constraint]:
    """One net flow per metering interval in the steps S of :class:`MeterInterval` (u_t = 1: deposit,
    d_t = import_t + w_t the whole draw, x_t the banked solar export); the draw rows are
    :func:`define_metering_draw`.

    Each solar-electric collector's area is split per step, A_k = a¹_k,t + a⁰_k,t (the part counted
    in the deposit and in the draw state; κ_k,t = η_k,el·I_t its output per m², Ā_k its largest area):

        0 ≤ a¹_k,t ≤ A_k,   a¹_k,t ≤ Ā_k·u_t,   A_k − a¹_k,t ≤ Ā_k·(1 − u_t)
        x_t ≤ Σ_k κ_k,t·a¹_k,t

    At u_t = 1 these say a¹ = A and x_t ≤ PV output, at u_t = 0 x_t = 0: the same integer points as
    x_t ≤ X·u_t, but a much tighter LP relaxation together with the draw rows (a fractional u_t no
    longer lets the full PV output be banked while the full demand is drawn). With a fixed 0/1
    pattern: x_t ≤ 0 where u_t = 0.
    """
    g = v.grid
    iv = g.interval
    if iv is None or g.export_solar_kw is None:
        return []
    steps, on = iv.steps, iv.on
    if isinstance(on, np.ndarray):  # a fixed pattern: plain bounds
        return [g.export_solar_kw[steps[on < 0.5]] <= 0] if np.any(on < 0.5) else []
    out: list[Constraint] = []
    banked_max: Expr = 0
    for name, a1 in iv.deposit_area_m2.items():
        conv = v.converters[name]
        kappa = conv.tech.outputs["elec"] * case.irradiance_kw_per_m2[steps]
        area_max = iv.max_area_m2[name]
        out += [a1 <= conv.cap, a1 <= area_max * on, conv.cap - a1 <= area_max * (1 - on)]
        banked_max = banked_max + atoms.multiply(kappa, a1)
    out.append(g.export_solar_kw[steps] <= banked_max)
    return out


def define_metering_draw(v: HubVariables, case: Case) -> list[Constraint]:
    """The draw rows of :func:`define_metering_interval` (a¹, a⁰, κ as there), the first one first:

        d_t ≤ D_t·(1 − u_t) − Σ_k κ_k,t·a⁰_k,t + e_t
        d_t ≤ M_t·(1 − u_t)   (only with electricity consumers or electric stores)

    D_t is the demand, e_t the electricity consumed by converters and charged into electric stores,
    M_t a bound of the draw. At u_t = 1 they give d_t = 0; at u_t = 0 the first says
    d_t ≤ D_t − PV + e_t, which the electricity balance implies. With a fixed 0/1 pattern: d_t ≤ 0
    where u_t = 1.
    """
    g = v.grid
    iv = g.interval
    if iv is None or g.export_solar_kw is None:
        return []
    steps, on = iv.steps, iv.on
    if isinstance(on, np.ndarray):
        return [g.draw_kw[steps[on >= 0.5]] <= 0] if np.any(on >= 0.5) else []
    drawing_pv: Expr = 0
    for name, a1 in iv.deposit_area_m2.items():
        kappa = v.converters[name].tech.outputs["elec"] * case.irradiance_kw_per_m2[steps]
        drawing_pv = drawing_pv + atoms.multiply(kappa, v.converters[name].cap - a1)
    demand = np.asarray(case.elec_demand_kw, dtype=float)[steps]
    draw_bound = atoms.multiply(demand, 1 - on) - drawing_pv
    consumed = _elec_consumed_kw(v, steps)
    if consumed is not None:
        draw_bound = draw_bound + consumed
    out = [g.draw_kw[steps] <= draw_bound]
    if iv.max_draw_kw is not None:
        out.append(g.draw_kw[steps] <= atoms.multiply(iv.max_draw_kw, 1 - on))
    return out


def define_grid_limits(v: HubVariables, case: Case) -> list[Constraint]:
    """import_t + w_t ≤ P_imp,max;  x_pv,t + x_other,t ≤ P_exp,max (when the case caps them)."""
    g = v.grid
    out: list[Constraint] = []
    if case.max_import_kw is not None:
        drawn = g.import_kw if g.bank_withdrawal_kw is None else g.import_kw + g.bank_withdrawal_kw
        out.append(drawn <= case.max_import_kw)
    exports = [x for x in (g.export_solar_kw, g.export_other_kw) if x is not None]
    if case.max_export_kw is not None and exports:
        out.append(_sum(exports, case.n_steps) <= case.max_export_kw)
    return out


def constraint_families(v: HubVariables, case: Case) -> dict[str, list[Constraint]]:
    """Every constraint family of the hub, by name (the pricing of left-out technologies reads the
    duals of ``electricity_balance``, ``heat_balance``, ``export_limits`` and ``roof_area``)."""
    return {
        "conversion_capacity": define_conversion_capacity(v),
        "capacity_bounds": define_capacity_bounds(v),
        "roof_area": define_roof_area(v, case),
        "part_load": define_part_load(v),
        "storage_dynamics": define_storage_dynamics(v, case.step_h),
        "storage_limits": define_storage_limits(v),
        "storage_boundary": define_storage_boundary(v, case),
        "fixed_design": define_fixed_design(v, case),
        "electricity_balance": define_electricity_balance(v, case),
        "heat_balance": define_heat_balance(v, case),
        "export_limits": define_export_limits(v),
        "net_metering": define_net_metering(v, case.step_h),
        "metering_interval": define_metering_interval(v, case),
        "metering_draw": define_metering_draw(v, case),
        "grid_limits": define_grid_limits(v, case),
    }


def define_constraints(v: HubVariables, case: Case) -> list[Constraint]:
    """All constraint families of the hub."""
    return [c for family in constraint_families(v, case).values() for c in family]
