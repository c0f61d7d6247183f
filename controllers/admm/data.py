"""Input data of the ADMM agents and of the coordinator: plain numbers, no simulator objects.

Every array runs over the prediction horizon k = 0 … T−1 of one control step (Δt = `dt_h` hours);
step k covers [t + kΔt, t + (k+1)Δt). States (indoor and mass temperature, battery energy) are
predicted at the ends of the steps, k + 1 = 1 … T. Signs: powers in kW, positive when drawn from
the grid at the meter; battery power positive when charging. Prices per kWh, penalties in the
same currency.

Thermal model (2R2C, exact ZOH discretisation, as in `simulators/building/thermal.py`):

    x_{k+1} = A x_k + B [t_out_k, q_air_k + COP_k · P_hp,k, q_mass_k],   x = [t_in_c, t_mass_c]

where q_air_k are the heat gains to the air node other than the heat pump (internal gains and the
air share of the solar gains) and q_mass_k the solar gains to the mass node.

Battery: e_{k+1} = (1 − loss_per_h Δt) e_k + Δt (η_c p_ch,k − p_dis,k / η_d), with
0 ≤ p_ch, p_dis, p_ch + p_dis ≤ c_rate · capacity and soc_min · cap ≤ e ≤ soc_max · cap.

Hot-water tank (heat-pump buildings): the same storage equation in heat (q_ch, q_dis, kW thermal);
charging runs the heat pump for q_ch / COP_dhw,k more, discharging serves hot water the heat pump
would otherwise heat (q_dis ≤ the hot-water demand, q_dis / COP_dhw,k less electricity). Step 0's
tank power is already applied (the setpoint decided at the previous control time), so it is fixed,
and the tank's energy at the end of step 0 is the measured one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def _vector(name: str, value: object, horizon: int) -> FloatArray:
    """A float vector of length `horizon` (scalars are broadcast); ValueError otherwise."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(horizon, float(arr))
    if arr.shape != (horizon,):
        raise ValueError(f"{name}: expected shape ({horizon},), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: values must be finite")
    return arr


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _check_storage(
    kind: str, eta_charge: float, eta_discharge: float, soc_min: float, soc_max: float
) -> None:
    """The efficiency and state-of-charge limits a battery and a tank share; ValueError otherwise."""
    if not (0 < eta_charge <= 1 and 0 < eta_discharge <= 1):
        raise ValueError(f"{kind} efficiencies must lie in (0, 1]")
    if not 0 <= soc_min <= soc_max <= 1:
        raise ValueError(f"{kind} needs 0 ≤ soc_min ≤ soc_max ≤ 1")


@dataclass(frozen=True)
class ThermalModel:
    """A building's discretised 2R2C model, heat pump and comfort band (see module docstring).

    `hp_p_prev_kw` is the heat-pump power already applied for step 0 (the setpoint decided at the
    previous control time; actuation delay of one step). None leaves step 0 free.
    Comfort is soft: violations cost Δt·(linear·s + quadratic·s²) per step with s in kelvin.
    """

    a: FloatArray
    b: FloatArray
    x0_c: FloatArray
    t_out_c: FloatArray
    q_air_gain_kw: FloatArray
    q_mass_gain_kw: FloatArray
    cop: FloatArray
    hp_p_max_kw: float
    t_min_c: FloatArray
    t_max_c: FloatArray
    hp_p_prev_kw: float | None = None
    comfort_linear_per_kh: float = 10.0
    comfort_quad_per_k2h: float = 10.0

    def __post_init__(self) -> None:
        a = np.asarray(self.a, dtype=float)
        b = np.asarray(self.b, dtype=float)
        if a.shape != (2, 2) or b.shape != (2, 3):
            raise ValueError(f"thermal a must be (2, 2) and b (2, 3), got {a.shape} and {b.shape}")
        x0 = np.asarray(self.x0_c, dtype=float)
        if x0.shape != (2,):
            raise ValueError(f"thermal x0_c must be [t_in_c, t_mass_c], got shape {x0.shape}")
        horizon = np.asarray(self.t_out_c).shape[0]
        _set(self, "a", a)
        _set(self, "b", b)
        _set(self, "x0_c", x0)
        for name in ("t_out_c", "q_air_gain_kw", "q_mass_gain_kw", "cop", "t_min_c", "t_max_c"):
            _set(self, name, _vector(f"thermal.{name}", getattr(self, name), horizon))
        if (self.cop <= 0).any():
            raise ValueError("thermal.cop must be positive")
        if self.hp_p_max_kw < 0:
            raise ValueError(f"thermal.hp_p_max_kw must be ≥ 0, got {self.hp_p_max_kw}")
        if (self.t_min_c > self.t_max_c).any():
            raise ValueError("thermal.t_min_c must not exceed t_max_c")
        if self.hp_p_prev_kw is not None and not 0 <= self.hp_p_prev_kw <= self.hp_p_max_kw:
            raise ValueError(f"thermal.hp_p_prev_kw must lie in [0, {self.hp_p_max_kw}]")
        if self.comfort_linear_per_kh < 0 or self.comfort_quad_per_k2h <= 0:
            raise ValueError("comfort penalties: linear ≥ 0 and quadratic > 0 required")

    @property
    def horizon(self) -> int:
        return int(self.t_out_c.shape[0])


@dataclass(frozen=True)
class Battery:
    """A battery behind the building's meter or standing alone (see module docstring)."""

    capacity_kwh: float
    e0_kwh: float
    eta_charge: float = 0.9
    eta_discharge: float = 0.9
    loss_per_h: float = 1e-4
    c_rate_per_h: float = 0.3
    soc_min: float = 0.0
    soc_max: float = 1.0
    e_final_min_kwh: float | None = None
    throughput_cost_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        if self.capacity_kwh <= 0:
            raise ValueError(f"battery capacity_kwh must be positive, got {self.capacity_kwh}")
        _check_storage("battery", self.eta_charge, self.eta_discharge, self.soc_min, self.soc_max)
        if not self.e_min_kwh - 1e-9 <= self.e0_kwh <= self.e_max_kwh + 1e-9:
            raise ValueError(f"battery e0_kwh={self.e0_kwh} outside [{self.e_min_kwh}, {self.e_max_kwh}]")
        if self.e_final_min_kwh is not None and self.e_final_min_kwh > self.e_max_kwh:
            raise ValueError("battery e_final_min_kwh above the maximum energy")
        if self.loss_per_h < 0 or self.c_rate_per_h <= 0 or self.throughput_cost_per_kwh < 0:
            raise ValueError("battery loss ≥ 0, c-rate > 0 and throughput cost ≥ 0 required")

    @property
    def p_max_kw(self) -> float:
        return self.c_rate_per_h * self.capacity_kwh

    @property
    def e_min_kwh(self) -> float:
        return self.soc_min * self.capacity_kwh

    @property
    def e_max_kwh(self) -> float:
        return self.soc_max * self.capacity_kwh


@dataclass(frozen=True)
class Tank:
    """A hot-water tank charged by the building's heat pump (see the module docstring).

    `q_dhw_kw` and `cop_dhw` are the forecasts of the hot-water heat demand and the heat pump's
    hot-water COP over the horizon; `q0_kw` the tank power applied in step 0 (+ = charging) and
    `e1_kwh` the energy at the end of step 0."""

    capacity_kwh: float
    e1_kwh: float
    q0_kw: float
    q_dhw_kw: FloatArray
    cop_dhw: FloatArray
    eta_charge: float = 0.9
    eta_discharge: float = 0.9
    loss_per_h: float = 1e-3
    c_rate_per_h: float = 0.25
    soc_min: float = 0.0
    soc_max: float = 1.0

    def __post_init__(self) -> None:
        horizon = np.asarray(self.q_dhw_kw).shape[0] if np.ndim(self.q_dhw_kw) else 0
        _set(self, "q_dhw_kw", np.maximum(_vector("tank.q_dhw_kw", self.q_dhw_kw, horizon), 0.0))
        _set(self, "cop_dhw", _vector("tank.cop_dhw", self.cop_dhw, horizon))
        if self.capacity_kwh <= 0 or self.c_rate_per_h <= 0 or self.loss_per_h < 0:
            raise ValueError("tank: capacity and c-rate must be positive, the loss ≥ 0")
        _check_storage("tank", self.eta_charge, self.eta_discharge, self.soc_min, self.soc_max)
        if (self.cop_dhw <= 0).any():
            raise ValueError("tank.cop_dhw must be positive")
        _set(self, "e1_kwh", float(np.clip(self.e1_kwh, self.e_min_kwh, self.e_max_kwh)))

    @property
    def horizon(self) -> int:
        return int(self.q_dhw_kw.shape[0])

    @property
    def q_max_kw(self) -> float:
        return self.c_rate_per_h * self.capacity_kwh

    @property
    def e_min_kwh(self) -> float:
        return self.soc_min * self.capacity_kwh

    @property
    def e_max_kwh(self) -> float:
        return self.soc_max * self.capacity_kwh


@dataclass(frozen=True)
class AgentData:
    """Everything one agent (a building, possibly with a battery and a hot-water tank, or a
    standalone battery) needs.

    Net power at the meter: p_net,k = p_base,k − pv,k + P_hp,k + p_ch,k − p_dis,k
    + (q_ch,k − q_dis,k) / COP_dhw,k (the last term with a tank).
    Local cost: Σ_k Δt price_k p_net,k (or, with `export_price_per_kwh`, Δt(price_k p_imp,k −
    export_price_k p_exp,k) with p_net = p_imp − p_exp, p_imp, p_exp ≥ 0), plus the comfort
    penalty, the plan-tracking penalty plan_weight · Σ_k (p_net,k − p_plan,k)², the battery
    throughput cost and the regularisation reg_weight · Σ_k (P_hp² + p_ch² + p_dis² + p_imp² + p_exp²).
    """

    name: str
    dt_h: float
    price_per_kwh: FloatArray
    p_base_kw: FloatArray
    pv_kw: FloatArray
    thermal: ThermalModel | None = None
    battery: Battery | None = None
    export_price_per_kwh: FloatArray | None = None
    tank: Tank | None = None
    p_plan_kw: FloatArray | None = None
    plan_weight_per_kw2: float = 0.0
    reg_weight_per_kw2: float = 1e-4
    horizon: int = field(init=False)

    def __post_init__(self) -> None:
        price = np.asarray(self.price_per_kwh, dtype=float)
        if price.ndim != 1 or price.shape[0] < 2:
            raise ValueError(f"agent {self.name}: price_per_kwh must be a vector of length ≥ 2")
        horizon = int(price.shape[0])
        _set(self, "horizon", horizon)
        for name in ("price_per_kwh", "p_base_kw", "pv_kw"):
            _set(self, name, _vector(f"agent {self.name}: {name}", getattr(self, name), horizon))
        for name in ("export_price_per_kwh", "p_plan_kw"):
            if getattr(self, name) is not None:
                _set(self, name, _vector(f"agent {self.name}: {name}", getattr(self, name), horizon))
        if self.dt_h <= 0:
            raise ValueError(f"agent {self.name}: dt_h must be positive")
        if self.thermal is not None and self.thermal.horizon != horizon:
            raise ValueError(f"agent {self.name}: thermal forecasts must have length {horizon}")
        if self.tank is not None and self.tank.horizon != horizon:
            raise ValueError(f"agent {self.name}: tank forecasts must have length {horizon}")
        if self.export_price_per_kwh is not None and np.any(self.export_price_per_kwh > self.price_per_kwh):
            raise ValueError(f"agent {self.name}: an export price above the import price is unbounded")
        if self.plan_weight_per_kw2 < 0 or self.reg_weight_per_kw2 < 0:
            raise ValueError(f"agent {self.name}: plan and regularisation weights must be ≥ 0")
        if self.plan_weight_per_kw2 > 0 and self.p_plan_kw is None:
            raise ValueError(f"agent {self.name}: plan_weight_per_kw2 > 0 needs p_plan_kw")


@dataclass(frozen=True)
class VoltageSensitivity:
    """Linearised voltage magnitudes: v_k = v0 + S (p_k − p0_k) for every step k.

    `s_pu_per_kw` is (buses × agents) with agents in the coordinator's order, `v0_pu` (buses,),
    `p0_kw` (agents,) the operating point of the linearisation (net active power per agent).
    `violation_price_per_pu`: None keeps the band hard; a price makes it soft, every pu a bus
    leaves the band in a step then costs that much (an exact penalty: above the constraint's dual
    the solution is the hard one whenever the band can be held, and the least-cost violation when
    it cannot).
    """

    s_pu_per_kw: FloatArray
    v0_pu: FloatArray
    p0_kw: FloatArray
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    violation_price_per_pu: float | None = None

    def __post_init__(self) -> None:
        s = np.asarray(self.s_pu_per_kw, dtype=float)
        if s.ndim != 2:
            raise ValueError("voltage s_pu_per_kw must be a (buses, agents) matrix")
        _set(self, "s_pu_per_kw", s)
        _set(self, "v0_pu", _vector("voltage v0_pu", self.v0_pu, s.shape[0]))
        _set(self, "p0_kw", _vector("voltage p0_kw", self.p0_kw, s.shape[1]))
        if self.v_min_pu >= self.v_max_pu:
            raise ValueError("voltage v_min_pu must be below v_max_pu")
        if self.violation_price_per_pu is not None and not self.violation_price_per_pu > 0:
            raise ValueError("voltage violation_price_per_pu must be > 0 (None for a hard band)")


@dataclass(frozen=True)
class SharedLimits:
    """The coordinator's shared constraints and costs over the horizon.

    p_min_kw ≤ Σ_i p_net,i,k ≤ p_max_kw (transformer, both directions), the peak-import cost
    peak_price_per_kw · max(0, max_k Σ_i p_net,i,k), and optional linearised voltage limits.
    """

    p_max_kw: FloatArray
    p_min_kw: FloatArray
    peak_price_per_kw: float = 0.0
    voltage: VoltageSensitivity | None = None

    def __post_init__(self) -> None:
        p_max = np.asarray(self.p_max_kw, dtype=float)
        if p_max.ndim != 1:
            raise ValueError("shared p_max_kw must be a vector over the horizon")
        horizon = int(p_max.shape[0])
        _set(self, "p_max_kw", _vector("shared p_max_kw", p_max, horizon))
        _set(self, "p_min_kw", _vector("shared p_min_kw", self.p_min_kw, horizon))
        if np.any(self.p_min_kw > self.p_max_kw):
            raise ValueError("shared p_min_kw must not exceed p_max_kw")
        if self.peak_price_per_kw < 0:
            raise ValueError("shared peak_price_per_kw must be ≥ 0")
        if self.peak_price_per_kw > 0 and (np.any(self.p_min_kw > 0) or np.any(self.p_max_kw < 0)):
            raise ValueError("a peak-import cost needs p_min_kw ≤ 0 ≤ p_max_kw")

    @classmethod
    def transformer(
        cls,
        p_max_kw: float,
        horizon: int,
        peak_price_per_kw: float = 0.0,
        voltage: VoltageSensitivity | None = None,
    ) -> SharedLimits:
        """Symmetric transformer limit ±p_max_kw at every step."""
        return cls(np.full(horizon, p_max_kw), np.full(horizon, -p_max_kw), peak_price_per_kw, voltage)

    @property
    def horizon(self) -> int:
        return int(self.p_max_kw.shape[0])
