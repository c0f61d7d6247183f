"""The shared constraints as seen by sharing ADMM: a linear map from agent powers to coupling rows.

Row r of the aggregate w_{r,k} = Σ_i a_{r,i} p_net,i,k must lie in [lo_{r,k}, hi_{r,k}]:

* row 0, the transformer: a_{0,i} = 1, p_min_k ≤ Σ_i p_i,k ≤ p_max_k, plus the peak-import cost
  peak_price · max(0, max_k w_{0,k});
* rows 1…B, the buses: v_min ≤ v0_b + Σ_i S_{b,i}(p_i,k − p0_i) ≤ v_max, scaled by
  ω_b = 1 / max_i |S_{b,i}| so that every row has coefficients of order one (the residuals and ρ
  then weigh kilowatts and volts alike): a_{b,i} = ω_b S_{b,i},
  lo_b = ω_b (v_min − v0_b + S_b · p0), hi_b = ω_b (v_max − v0_b + S_b · p0).

A row may be soft (`soft_price`, per row unit and step; the voltage rows with
`VoltageSensitivity.violation_price_per_pu`, divided by ω_b): leaving its band then costs
soft_price · (distance to the band) instead of being forbidden.

Each agent only needs its own column a_i (m values) to compute its local update.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controllers.admm.data import FloatArray, SharedLimits


@dataclass(frozen=True)
class Coupling:
    """Coupling rows for agents in the order `agents` (see module docstring)."""

    agents: tuple[str, ...]
    matrix: FloatArray  # (m, N)
    lo: FloatArray  # (m, T)
    hi: FloatArray  # (m, T)
    row_scale: FloatArray  # (m,)
    peak_price_per_kw: float
    soft_price: FloatArray | None = None  # (m,): price per row unit and step outside the band; inf = hard

    @classmethod
    def from_limits(cls, agents: tuple[str, ...], limits: SharedLimits) -> Coupling:
        n, t = len(agents), limits.horizon
        rows = [np.ones((1, n))]
        lo = [limits.p_min_kw[None, :]]
        hi = [limits.p_max_kw[None, :]]
        scale = [np.ones(1)]
        soft = [np.full(1, np.inf)]
        volt = limits.voltage
        if volt is not None:
            s = volt.s_pu_per_kw
            if s.shape[1] != n:
                raise ValueError(f"voltage sensitivity has {s.shape[1]} columns for {n} agents")
            keep = np.abs(s).max(axis=1) > 0
            s, v0 = s[keep], volt.v0_pu[keep]
            omega = 1.0 / np.abs(s).max(axis=1)
            offset = s @ volt.p0_kw - v0
            rows.append(omega[:, None] * s)
            lo.append(np.repeat((omega * (volt.v_min_pu + offset))[:, None], t, axis=1))
            hi.append(np.repeat((omega * (volt.v_max_pu + offset))[:, None], t, axis=1))
            scale.append(omega)
            price = np.inf if volt.violation_price_per_pu is None else volt.violation_price_per_pu
            soft.append(price / omega)  # a row unit is 1/ω pu
        soft_price = np.concatenate(soft)
        return cls(
            agents,
            np.vstack(rows),
            np.vstack(lo),
            np.vstack(hi),
            np.concatenate(scale),
            limits.peak_price_per_kw,
            soft_price if np.isfinite(soft_price).any() else None,
        )

    @property
    def n_rows(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.lo.shape[1])

    def column(self, agent: str) -> FloatArray:
        return self.matrix[:, self.agents.index(agent)].copy()

    def aggregate(self, p_net_kw: FloatArray) -> FloatArray:
        """w = a @ p for p of shape (N, T)."""
        return self.matrix @ p_net_kw

    def violation(self, p_net_kw: FloatArray) -> FloatArray:
        """How far each row lies outside its band, in the row's (scaled) units, shape (m, T)."""
        w = self.aggregate(p_net_kw)
        return np.maximum(w - self.hi, 0.0) + np.maximum(self.lo - w, 0.0)

    def shared_cost(self, p_net_kw: FloatArray) -> float:
        """g without its indicator part: the peak-import cost and the soft rows' violation cost."""
        cost = 0.0
        if self.peak_price_per_kw != 0:
            cost += self.peak_price_per_kw * max(0.0, float(np.max(p_net_kw.sum(axis=0))))
        soft = self._soft_rows()
        if soft.any():
            assert self.soft_price is not None
            cost += float(self.soft_price[soft] @ self.violation(p_net_kw)[soft].sum(axis=1))
        return cost

    def _soft_rows(self) -> np.ndarray:
        if self.soft_price is None:
            return np.zeros(self.n_rows, dtype=bool)
        return np.isfinite(self.soft_price)

    def prox(self, y: FloatArray, step: float) -> FloatArray:
        """argmin_w step·g(w) + ½‖w − y‖²: clip to the bands (soft rows leak beyond
        step·soft_price), with a water-filling cap on row 0 when a peak cost applies (the cap τ ≥ 0
        balances step · peak_price against the shaved excess, see `water_level`)."""
        w = np.clip(y, self.lo, self.hi)
        soft = self._soft_rows()
        if soft.any():  # prox of t·max(0, w − hi) + t·max(0, lo − w): the band, leaking beyond t
            assert self.soft_price is not None
            t = step * self.soft_price[soft][:, None]
            ys, lo, hi = y[soft], self.lo[soft], self.hi[soft]
            w[soft] = np.where(ys > hi + t, ys - t, np.where(ys < lo - t, ys + t, w[soft]))
        lam = step * self.peak_price_per_kw
        if lam > 0:
            cap = water_level(y[0], self.hi[0], lam)
            w[0] = np.clip(np.minimum(y[0], cap), self.lo[0], self.hi[0])
        return w


def water_level(y: FloatArray, hi: FloatArray, lam: float) -> float:
    """The cap τ ≥ 0 of the peak-cost prox: τ = inf{t ≥ 0 : g(t) ≤ lam} with
    g(t) = Σ_{k: t < min(y_k, hi_k)} (y_k − t), decreasing and right-continuous; it jumps down where
    t passes a bound hi_k < y_k, so τ is either the root of a linear piece or such a breakpoint.
    Exact: every candidate (breakpoints and the root of each piece) is evaluated."""
    b = np.minimum(y, hi)

    def g(t: FloatArray) -> FloatArray:
        active = t[:, None] < b[None, :]
        return np.asarray(((y[None, :] - t[:, None]) * active).sum(axis=1))

    by_bound = np.argsort(-b)
    roots = (np.cumsum(y[by_bound]) - lam) / np.arange(1, b.shape[0] + 1)
    candidates = np.concatenate([[0.0], b, roots])
    candidates = candidates[candidates >= 0.0]
    feasible = candidates[g(candidates) <= lam + 1e-12 * max(1.0, lam)]
    return float(feasible.min())
