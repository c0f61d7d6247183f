"""The planner's side of case B (`cosim eco-district`): calibrate the aggregated model of the
scenario's heat network against the detailed one (`simulators.heat_network.aggregate.calibrate`,
one-week periods of synthetic Paris demand, a held-out week), check it over the co-simulated year
(aggregated against detailed losses), and size the plant with it (`cosim.heat.sizing`) for the
year's substation demands: the study's plant as given, the gas boiler free, both boilers free with
the scenario's store, and everything free. Each source's heat costs its fuel and its particulates
(`fuel_price_per_kwh`), as the annual table counts them.
`gas_by_wood_size`: how the gas line follows the wood boiler's size, for the run's own network heat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cosim.heat.ecodistrict import Assumptions, annuity
from cosim.heat.sizing import Sizing, SourceOption, StoreOption, network_heat_kw, size_plant
from cosim.results import read_table
from simulators.heat_network.aggregate import (
    CALIBRATION_PERIODS,
    HELD_OUT,
    Calibration,
    calibrate,
    make_period,
)
from simulators.heat_network.params import NetworkParams

STUDY_PLANT = {"wood": 1200.0, "gas": 800.0, "store": 2000.0}


@dataclass(frozen=True)
class YearCheck:
    """The aggregated model against the detailed co-simulated year (hourly losses)."""

    hours: int
    loss_nrmse: float
    loss_energy_error: float
    detailed_loss_mwh: float
    aggregated_loss_mwh: float


@dataclass(frozen=True)
class Planning:
    calibration: Calibration
    year: YearCheck
    designs: dict[str, Sizing]


def _demand_by_substation(out_dir: Path, time_s: np.ndarray) -> np.ndarray:
    subs = read_table(out_dir, "substations")
    order = list(dict.fromkeys(subs["entity"]))  # the recorder's (the layout's) order
    wide = subs.pivot(index="time_s", columns="entity", values="q_demand_kw")[order]
    return np.asarray(wide.reindex(time_s).fillna(0.0).to_numpy(), dtype=float)


def plan_case_b(out_dir: Path, network_params: dict[str, Any], a: Assumptions, days: int = 7) -> Planning:
    """Calibrate, check over the run in `out_dir`, size (see the module docstring)."""
    params = NetworkParams.from_dict(network_params, where="case B heat network")
    control = params.control
    topology = params.layout.topology(control.t_supply_design_c - control.t_return_design_c)
    periods = [
        make_period(name, start, days, topology, seed=i + 1)
        for i, (name, start) in enumerate(CALIBRATION_PERIODS)
    ]
    held_out = make_period(HELD_OUT[0], HELD_OUT[1], days, topology, seed=11)
    cal = calibrate(params, topology, periods, held_out)
    network = read_table(out_dir, "heat_network").set_index("time_s").sort_index()
    time_s = network.index.to_numpy()
    dt_h = float(time_s[1] - time_s[0]) / 3600.0 if len(time_s) > 1 else 1.0
    demand = _demand_by_substation(out_dir, time_s)
    t_ground, t_supply = network["t_ground_c"].to_numpy(), network["t_supply_c"].to_numpy()
    x = np.column_stack([demand[:, c.substations].sum(axis=1) / c.design_kw for c in cal.model.clusters])
    loss_agg = cal.model.loss_kw(x, t_ground, t_supply).sum(axis=1)
    loss_det = network["q_loss_kw"].to_numpy()
    ok = np.isfinite(loss_det) & np.isfinite(t_supply)
    year = YearCheck(
        hours=int(ok.sum()),
        loss_nrmse=float(np.sqrt(np.mean((loss_agg[ok] - loss_det[ok]) ** 2)) / loss_det[ok].mean()),
        loss_energy_error=float(loss_agg[ok].sum() / loss_det[ok].sum() - 1.0),
        detailed_loss_mwh=float(loss_det[ok].sum() * dt_h / 1e3),
        aggregated_loss_mwh=float(loss_agg[ok].sum() * dt_h / 1e3),
    )
    t_supply_filled = np.where(np.isfinite(t_supply), t_supply, np.nanmean(t_supply))
    heat = network_heat_kw(cal.model, demand, t_ground, t_supply_filled, dt_h)
    return Planning(cal, year, _designs(heat, dt_h, a, params))


def fuel_price_per_kwh(params: NetworkParams, a: Assumptions) -> dict[str, float]:
    """Each source's cost per kWh of heat as case B's table counts it: its fuel
    (`price_per_unit` / `heat_per_unit_kwh`) and its particulates at `a.pm_eur_per_kg`."""
    return {
        s.name: (s.price_per_unit + s.pm_kg_per_unit * a.pm_eur_per_kg) / s.heat_per_unit_kwh
        for s in params.sources
    }


def _designs(heat_kw: np.ndarray, dt_h: float, a: Assumptions, params: NetworkParams) -> dict[str, Sizing]:
    """The plant designs sized for the network heat `heat_kw`: investment and fixed O&M per kW of
    the wood and gas boilers and per kWh of store from `a`, the sources' heat prices from the
    scenario (`fuel_price_per_kwh`)."""
    factor = annuity(a.rate, a.years)
    prices = fuel_price_per_kwh(params, a)
    wood_price, gas_price = prices["wood"], prices["gas"]

    def sources(wood: float | None, gas: float | None) -> list[SourceOption]:
        return [
            SourceOption("wood", wood_price, a.wood_boiler_eur_per_kw, a.wood_om_eur_per_kw_a, wood),
            SourceOption("gas", gas_price, a.gas_boiler_eur_per_kw, a.gas_om_eur_per_kw_a, gas),
        ]

    def store(kwh: float | None, p_per_kwh: float = 0.35) -> StoreOption:
        return StoreOption(a.store_eur_per_kwh, p_per_kwh=p_per_kwh, fixed_kwh=kwh)

    w, g, s = STUDY_PLANT["wood"], STUDY_PLANT["gas"], STUDY_PLANT["store"]
    own = params.store
    own_store = store(own.capacity_kwh, own.p_max_kw / own.capacity_kwh) if own is not None else store(0.0)
    return {
        "the study's plant": size_plant(heat_kw, dt_h, sources(w, g), store(s), factor),
        "gas boiler free": size_plant(heat_kw, dt_h, sources(w, None), store(s), factor),
        "boilers free, the scenario's store": size_plant(
            heat_kw, dt_h, sources(None, None), own_store, factor
        ),
        "all free": size_plant(heat_kw, dt_h, sources(None, None), store(None), factor),
    }


@dataclass(frozen=True)
class WoodSize:
    """Gas and wood for one wood-boiler size (perfect-foresight dispatch of a network heat series)."""

    wood_kw: float
    gas_heat_mwh: float
    wood_heat_mwh: float
    gas_keur: float
    wood_keur: float


def gas_by_wood_size(
    heat_kw: np.ndarray,
    dt_h: float,
    wood_kw: list[float],
    store_kwh: float,
    store_p_kw: float,
    year: float = 1.0,
) -> list[WoodSize]:
    """For each wood boiler in `wood_kw`: the least-cost dispatch with perfect foresight of the
    network heat `heat_kw` (kW per step) by that wood boiler, a gas boiler large enough for any hour
    and the given store (`cosim.heat.sizing.size_plant` with every capacity fixed), at the study's
    fuel prices (wood 30 €/t at 3 MWh/t, gas 30 €/MWh at 0.77 MWh of heat per MWh). Fuel heat and
    cost are scaled by `year` (a run's duration to a year)."""
    heat = np.asarray(heat_kw, dtype=float)
    wood_price, gas_price = 30.0 / 3000.0, 30.0 / 770.0
    gas_kw = float(np.max(heat, initial=0.0)) + 1.0
    store = StoreOption(0.0, p_per_kwh=store_p_kw / store_kwh if store_kwh > 0 else 0.0, fixed_kwh=store_kwh)
    rows = []
    for wood in wood_kw:
        sized = size_plant(
            heat,
            dt_h,
            [
                SourceOption("wood", wood_price, 0.0, 0.0, wood),
                SourceOption("gas", gas_price, 0.0, 0.0, gas_kw),
            ],
            store,
            0.0,
        )
        gas_kwh, wood_kwh = sized.heat_kwh["gas"] * year, sized.heat_kwh["wood"] * year
        rows.append(WoodSize(wood, gas_kwh / 1e3, wood_kwh / 1e3, gas_kwh * gas_price / 1e3,
                             wood_kwh * wood_price / 1e3))
    return rows


def run_network_heat_kw(out_dir: Path) -> tuple[np.ndarray, float]:
    """The co-simulated network heat (`q_network_kw`, kW per step) of a run and its step (h)."""
    network = read_table(out_dir, "heat_network").set_index("time_s").sort_index()
    time_s = network.index.to_numpy()
    dt_h = float(time_s[1] - time_s[0]) / 3600.0 if len(time_s) > 1 else 1.0
    return np.asarray(network["q_network_kw"].fillna(0.0).to_numpy(), dtype=float), dt_h
