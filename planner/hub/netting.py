"""Net metering solved as a relaxation, then proven exact by scheduling the bank.

The net-metering bank is an hourly chain over the whole horizon, B_t = B_{t−1} + Δt·(x_t − w_t)
with B_0 = 0 and B_t ≥ 0 (credit x banked from solar export, w drawn back in place of import).
That chain is what makes the reference case's net-metering scenarios slow for the simplex (it
makes the basis dense, docs/planner.md). When the import price takes only a few distinct values
(flat, time of use) the planner first solves relaxations without the chain, each a lower bound of
the true optimum (every feasible point of the chained model maps to one of the relaxation with the
same or a lower cost):

1. *credit paid*: no bank, solar export paid at the highest import price p_max (a feed-in tariff);
   the credit is worth at most p_max per kWh, so this bounds every withdrawal schedule;
2. *bank settled over the horizon* (:class:`planner.hub.formulation.NettedBank`): credit drawn at
   price level k at most the draws at that level, in total at most the credit banked.

Net metering is per metering interval: in a step the site draws from the grid or banks credit,
never both (:class:`planner.hub.formulation.MeterInterval`). The relaxations keep that
constraint (binaries in the steps where depositing while drawing could pay, so they are MILPs
when there are such steps); in every other step a draw and a deposit are netted afterwards
(:func:`net_interval`), which never costs anything: the credit lost could only replace later
draws at prices no higher than the step's own, which the netting saves.

After each, with every other decision fixed (the netted draws d_t = import_t + w_t and the banked
x_t), the small LP max Σ_t p_t·w_t subject to the chain and 0 ≤ w_t ≤ d_t finds the best order of
withdrawals. If it recovers the credit value of the relaxation (within
:data:`VALUE_TOLERANCE_CHF` per CHF of cost), the relaxed decisions with these withdrawals are
feasible for the real bank at the relaxation's cost, hence optimal: the answer is exact, not an
approximation. Otherwise the next relaxation is tried, and at last the chained model is solved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cvxpy as cp
import numpy as np

from planner.hub.case import Case
from planner.hub.formulation import HubVariables, arbitrage_steps
from planner.hub.policies import PriceSpec, ResolvedPrices
from planner.hub.quiet import silence_highs_banner

MAX_PRICE_LEVELS = 24          # more distinct import prices (e.g. a real-time series): keep the chain
VALUE_TOLERANCE_CHF = 1e-6     # per CHF of annual cost: how much credit value the schedule may miss


def applies(prices: ResolvedPrices) -> bool:
    """Whether the relaxation is tried: net metering and at most :data:`MAX_PRICE_LEVELS` prices."""
    return prices.net_metering and np.unique(prices.import_per_kwh).size <= MAX_PRICE_LEVELS


def net_interval(draw_kw: np.ndarray, banked_kw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One net flow per step: min(d_t, x_t) is taken off both the draw and the banked export."""
    draw, banked = np.maximum(draw_kw, 0.0), np.maximum(banked_kw, 0.0)
    both = np.minimum(draw, banked)
    return draw - both, banked - both


@dataclass(frozen=True)
class BankSchedule:
    """Withdrawals w_t (kW) and bank B_t (kWh, B_0 first) that respect the bank's order."""

    withdrawal_kw: np.ndarray
    bank_kwh: np.ndarray
    value_chf: float          # weight·Δt·Σ_t p_t·w_t
    draw_kw: np.ndarray | None = None     # the netted draws d_t (import = d_t − w_t)
    banked_kw: np.ndarray | None = None   # the netted banked export x_t


def schedule_withdrawals(draw_kw: np.ndarray, banked_kw: np.ndarray, price_per_kwh: np.ndarray,
                         step_h: float, weight: float) -> BankSchedule:
    """The most valuable withdrawals w (0 ≤ w_t ≤ d_t) that the chained bank allows."""
    n = draw_kw.size
    draw, banked = np.maximum(draw_kw, 0.0), np.maximum(banked_kw, 0.0)
    w = cp.Variable(n, nonneg=True)
    bank = cp.Variable(n + 1, nonneg=True)
    problem = cp.Problem(cp.Maximize(weight * step_h * (price_per_kwh @ w)),
                         [w <= draw, bank[0] == 0, bank[1:] == bank[:-1] + step_h * (banked - w)])
    silence_highs_banner()
    problem.solve(solver=cp.HIGHS)  # type: ignore[no-untyped-call]
    if w.value is None or bank.value is None:  # w = 0 is always feasible: only numerics get here
        return BankSchedule(np.zeros(n), np.zeros(n + 1), 0.0)
    withdrawal = np.clip(np.asarray(w.value, dtype=float), 0.0, draw)
    stored = np.concatenate([[0.0], np.cumsum(step_h * (banked - withdrawal))])
    return BankSchedule(withdrawal, np.maximum(stored, 0.0),
                        float(weight * step_h * (price_per_kwh @ withdrawal)))


@dataclass(frozen=True)
class Relaxation:
    """A relaxed model of a net-metering policy: ``case`` under ``policy``, with or without the
    settled bank (``netted``)."""

    label: str
    case: Case
    policy: str
    netted: bool
    credit_price_per_kwh: float | None   # the feed-in price of the *credit paid* relaxation
    meter_steps: np.ndarray               # the steps of the metering-interval binaries (original policy's)

    def credit_value_chf(self, v: HubVariables) -> float:
        """The value the relaxation gives the banked credit (CHF over the case's year weight)."""
        weight, step_h = self.case.weight, self.case.step_h
        g = v.grid
        if self.credit_price_per_kwh is not None and g.export_solar_kw is not None:
            banked = np.asarray(g.export_solar_kw.value, dtype=float)
            return float(weight * step_h * self.credit_price_per_kwh * banked.sum())
        nb = g.netted
        if nb is None or nb.withdrawn_kwh.value is None:
            return 0.0
        return float(weight * (nb.price_levels_per_kwh @ np.asarray(nb.withdrawn_kwh.value, dtype=float)))


def relaxations(case: Case, policy: str, prices: ResolvedPrices) -> list[Relaxation]:
    """The relaxations to try for ``policy``, cheapest first (none when :func:`applies` is False)."""
    if not applies(prices):
        return []
    steps = arbitrage_steps(prices.import_per_kwh, case.irradiance_kw_per_m2)
    top = float(np.max(prices.import_per_kwh))
    paid_name = f"{policy} (credit paid at {top:g}/kWh)"
    paid = case.policies[policy].model_copy(
        update={"net_metering": False, "feed_in": PriceSpec(flat_per_kwh=top)})
    return [Relaxation("credit paid", replace(case, policies={**case.policies, paid_name: paid}), paid_name,
                       netted=False, credit_price_per_kwh=top, meter_steps=steps),
            Relaxation("bank settled over the horizon", case, policy, netted=True, credit_price_per_kwh=None,
                       meter_steps=steps)]


def proven_schedule(relaxation: Relaxation, v: HubVariables, prices: ResolvedPrices,
                    total_cost_chf: float) -> BankSchedule | None:
    """The bank schedule that makes a solved relaxation exact, or None when the bank's order (or
    a credit worth less than the relaxation assumed) would cost more."""
    g = v.grid
    if g.export_solar_kw is None:
        return None
    case = relaxation.case
    draw = np.asarray(g.import_kw.value, dtype=float).reshape(-1)
    banked = np.asarray(g.export_solar_kw.value, dtype=float).reshape(-1)
    netted_draw, netted_banked = net_interval(draw, banked)
    schedule = schedule_withdrawals(netted_draw, netted_banked, prices.import_per_kwh, case.step_h,
                                    case.weight)
    saved_chf = case.weight * case.step_h * float(prices.import_per_kwh @ (draw - netted_draw))
    shortfall = relaxation.credit_value_chf(v) - schedule.value_chf - saved_chf
    if shortfall > VALUE_TOLERANCE_CHF * max(1.0, abs(total_cost_chf)):
        return None
    return replace(schedule, draw_kw=netted_draw, banked_kw=netted_banked)
