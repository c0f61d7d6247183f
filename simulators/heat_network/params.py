"""Parameters of a heat network, validated (pydantic, unknown keys refused). Units in the names.

`NetworkParams.model_validate(dict)` reads the plain dict a scenario or a mosaik `create` call
passes; an error names the field and the allowed range.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.heat_network.layout import Topology, build_district
from simulators.heat_network.plant import GAS_BOILER, WOOD_BOILER, SourceSpec
from simulators.storage.model import StorageSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayoutParams(_Strict):
    """The parametric district of `layout.build_district`. `insulation_series`: the pipes' EN 253
    insulation series (1, 2, 3); None keeps the default loss fit (about series 1). `twin_pipes`:
    supply and return in one casing (EN 15698-1, up to DN200; series 1 unless given)."""

    n_substations: int = Field(default=10, ge=1, le=5000)
    total_length_m: float = Field(default=1000.0, gt=0)
    design_kw: float | list[float] = 15.0
    n_streets: int | None = Field(default=None, ge=1)
    trunk_share: float = Field(default=0.3, gt=0, lt=1)
    v_design_m_s: float = Field(default=1.0, gt=0)
    insulation_series: Literal[1, 2, 3] | None = None
    twin_pipes: bool = False

    @model_validator(mode="after")
    def _loads(self) -> LayoutParams:
        loads = self.design_kw if isinstance(self.design_kw, list) else [self.design_kw]
        if isinstance(self.design_kw, list) and len(loads) != self.n_substations:
            raise ValueError(f"design_kw has {len(loads)} values for {self.n_substations} substations")
        if min(loads) <= 0:
            raise ValueError("design_kw must be positive")
        return self

    def topology(self, dt_design_k: float) -> Topology:
        return build_district(self.n_substations, self.total_length_m, design_kw=self.design_kw,
                              n_streets=self.n_streets, trunk_share=self.trunk_share,
                              dt_design_k=dt_design_k, v_design_m_s=self.v_design_m_s,
                              insulation_series=self.insulation_series, twin_pipes=self.twin_pipes)


class SourceParams(_Strict):
    """One heat source (see `plant.SourceSpec`)."""

    name: str
    q_max_kw: float = Field(gt=0)
    heat_per_unit_kwh: float = Field(gt=0)
    fuel_unit: str = "MWh"
    price_per_unit: float = Field(default=0.0, ge=0)
    co2_kg_per_unit: float = Field(default=0.0, ge=0)
    pm_kg_per_unit: float = Field(default=0.0, ge=0)

    def spec(self) -> SourceSpec:
        return SourceSpec(**self.model_dump())


class StoreParams(_Strict):
    """The plant's heat store (a stratified tank): capacity, power limit, efficiencies, standing loss."""

    capacity_kwh: float = Field(gt=0)
    p_max_kw: float = Field(gt=0)
    eta_charge: float = Field(default=0.98, gt=0, le=1)
    eta_discharge: float = Field(default=0.98, gt=0, le=1)
    loss_per_h: float = Field(default=0.002, ge=0, lt=1)
    soc_init: float = Field(default=0.5, ge=0, le=1)

    def spec(self) -> StorageSpec:
        return StorageSpec(kind="tank", capacity_kwh=self.capacity_kwh, eta_charge=self.eta_charge,
                           eta_discharge=self.eta_discharge, loss_per_h=self.loss_per_h,
                           c_rate_per_h=self.p_max_kw / self.capacity_kwh, soc_init=self.soc_init)


class ControlParams(_Strict):
    """Supply-temperature curve and substation behaviour.

    Supply temperature (plant outlet): `t_supply_design_c` at `t_out_design_c`, falling linearly
    to `t_supply_min_c` at `t_heating_limit_c` and above; a `t_supply_set_c` input replaces the
    curve (clipped to [t_supply_min_c, t_supply_max_c]). Substation return temperature target:
    `t_return_min_c` at no load rising linearly to `t_return_design_c` at the design load; the
    substation's flow is Q / (c_p · (T_supply,local − T_return,target)) with at least
    `dt_min_k` between the two and at least `m_min_share` of its design flow (a summer bypass: with
    20 % the local supply temperature stays above ~55 °C, enough for hot water, at the far end of a
    7 km, 250-substation network on summer nights; with 3 % it falls to ~25 °C there and the
    substations' flows no longer settle). `return_tol_k`: the substation flows are recomputed from the solved
    local supply temperatures until every return temperature is within this of its target (at most
    `max_solves` solves per step)."""

    t_supply_design_c: float = 90.0
    t_supply_min_c: float = 70.0
    t_supply_max_c: float = 110.0
    t_out_design_c: float = -12.0
    t_heating_limit_c: float = 15.0
    t_return_design_c: float = 50.0
    t_return_min_c: float = 35.0
    dt_min_k: float = Field(default=5.0, gt=0)
    m_min_share: float = Field(default=0.2, gt=0, le=1)
    bypass: Literal["every", "ends"] = "every"
    return_tol_k: float = Field(default=1.0, gt=0)
    max_solves: int = Field(default=5, ge=1, le=10)

    @model_validator(mode="after")
    def _order(self) -> ControlParams:
        if not self.t_supply_min_c <= self.t_supply_design_c <= self.t_supply_max_c:
            raise ValueError("need t_supply_min_c <= t_supply_design_c <= t_supply_max_c")
        if not self.t_out_design_c < self.t_heating_limit_c:
            raise ValueError("need t_out_design_c < t_heating_limit_c")
        if not self.t_return_min_c <= self.t_return_design_c < self.t_supply_min_c:
            raise ValueError("need t_return_min_c <= t_return_design_c < t_supply_min_c")
        return self


class SolverParams(_Strict):
    """pandapipes' limits and tolerances and the pump (see `hydraulics.SolverOptions`)."""

    max_iter_hyd: int = Field(default=30, ge=1)
    max_iter_therm: int = Field(default=30, ge=1)
    tol: float = Field(default=1e-6, gt=0, lt=1)
    roughness_mm: float = Field(default=0.05, gt=0)
    p_hold_bar: float = Field(default=2.0, gt=0)
    dp_min_bar: float = Field(default=0.5, gt=0)
    pump_efficiency: float = Field(default=0.6, gt=0, le=1)
    use_numba: bool = False


class DispatchParams(_Strict):
    """How the plant's heat store is operated (`dispatch.py`): `merit_order`, the rule (charge from
    the cheapest source's spare capacity, discharge before any dearer source runs), or `mpc`, a
    linear programme over `horizon_h` hours with a level-adjusted daily persistence forecast of the
    network's heat (unserved heat at `unserved_penalty_per_kwh`). A `p_th_set_kw` input on the
    store replaces either."""

    kind: Literal["merit_order", "mpc"] = "merit_order"
    horizon_h: float = Field(default=24.0, gt=0, le=168)
    unserved_penalty_per_kwh: float = Field(default=10.0, gt=0)
    fade_h: float = Field(default=6.0, gt=0)


class NetworkParams(_Strict):
    """Everything a heat network needs. `sources` default to the study's case B plant (wood
    1.2 MW, gas 0.8 MW); `store` None means no heat store."""

    layout: LayoutParams = Field(default_factory=LayoutParams)
    sources: list[SourceParams] = Field(default_factory=lambda: [
        SourceParams(**WOOD_BOILER.__dict__), SourceParams(**GAS_BOILER.__dict__)])
    store: StoreParams | None = None
    control: ControlParams = Field(default_factory=ControlParams)
    solver: SolverParams = Field(default_factory=SolverParams)
    dispatch: DispatchParams = Field(default_factory=DispatchParams)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, where: str = "heat network") -> NetworkParams:
        """Validate a plain dict; a ValueError naming the field on bad input."""
        from pydantic import ValidationError

        try:
            return cls.model_validate(values or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"{where}: {problems}") from None
