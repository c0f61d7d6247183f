"""The heating plant: heat sources in merit order and a heat store. Pure NumPy.

Signs: source heat `q_kw` >= 0 (delivered to the plant's header); store power `p_kw` is positive
when charging (heat taken from the header) and negative when discharging, as in
`simulators.storage`. Over a step the header balances:

    Σ q_source_kw = q_network_kw + p_store_kw + dumped_kw − unserved_kw

Rule-based dispatch (the default): sources run in merit order (cheapest heat first: fuel price
per unit / heat per unit). The store sits between the cheapest source and the others: it
charges from the cheapest source's spare capacity and discharges before any dearer source runs.
A store setpoint (an input) replaces the rule for the store; the sources then cover the network
plus the store in merit order. Heat the sources cannot cover is `unserved_kw` (an event);
heat the network gives back with nowhere to go is `dumped_kw`.

Fuel and emissions per source: fuel = q · Δt / heat_per_unit_kwh (in the source's fuel unit, e.g.
t of wood chips or MWh of gas), CO2 and particulates (PM) = fuel × their factors per unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.storage.model import StorageFleet, StorageSpec


@dataclass(frozen=True)
class SourceSpec:
    """One heat source. `heat_per_unit_kwh`: heat delivered per unit of fuel (efficiency
    included); `price_per_unit`: fuel price (currency per unit), which sets the merit order."""

    name: str
    q_max_kw: float
    heat_per_unit_kwh: float
    fuel_unit: str
    price_per_unit: float
    co2_kg_per_unit: float
    pm_kg_per_unit: float

    @property
    def price_per_kwh_heat(self) -> float:
        return self.price_per_unit / self.heat_per_unit_kwh


# the urban-planning study's case B plant (wood 1.2 MW, 3 MWh heat per t, 30 €/t; gas 0.8 MW,
# 0.77 MWh heat per MWh gas, 30 €/MWh, 0.2 t CO2/MWh); the particulate factors are assumptions
# (wood chips without an electrostatic filter ~1 kg/t, natural gas ~0.5 mg/MJ)
WOOD_BOILER = SourceSpec("wood", 1200.0, 3000.0, "t", 30.0, 0.0, 1.0)
GAS_BOILER = SourceSpec("gas", 800.0, 770.0, "MWh", 30.0, 200.0, 0.0018)


@dataclass(frozen=True)
class PlantStep:
    """One step of the plant. Arrays per source in the plant's merit order."""

    q_source_kw: np.ndarray
    fuel: np.ndarray
    co2_kg: np.ndarray
    pm_kg: np.ndarray
    p_store_kw: float
    e_store_kwh: float
    soc: float
    store_loss_kw: float
    unserved_kw: float
    dumped_kw: float


class Plant:
    """Sources in merit order and an optional heat store (a `StorageFleet` tank of one unit)."""

    def __init__(self, sources: list[SourceSpec], store: StorageSpec | None = None) -> None:
        if not sources:
            raise ValueError("a plant needs at least one heat source")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"heat source names must be unique, got {names}")
        # stable sort: equal prices keep the given order
        self.sources = sorted(sources, key=lambda s: s.price_per_kwh_heat)
        self.q_max_kw = np.array([s.q_max_kw for s in self.sources])
        self.store = StorageFleet([store]) if store is not None else None

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    def _store_power_kw(self, q_network_kw: float, dt_h: float, p_set_kw: float | None) -> float:
        """The store's power for this step: the setpoint clipped to what the store can do, or the
        rule (charge from the cheapest source's spare capacity, discharge before dearer ones)."""
        if self.store is None:
            return 0.0
        low, high = (float(v[0]) for v in self.store.feasible_range_kw(dt_h))
        if p_set_kw is not None:
            return min(max(p_set_kw, low), high)
        spare_base = self.q_max_kw[0] - max(q_network_kw, 0.0)
        if spare_base >= 0:
            return min(float(spare_base), high)
        return max(float(spare_base), low)  # spare_base < 0: the deficit the dearer sources would cover

    def dispatch(self, q_network_kw: float, dt_h: float, p_store_set_kw: float | None = None) -> PlantStep:
        """Cover `q_network_kw` (heat into the network, kW) over a step of `dt_h` hours."""
        p_store = self._store_power_kw(q_network_kw, dt_h, p_store_set_kw)
        if self.store is not None:
            applied = self.store.step(np.array([p_store]), dt_h)
            p_store = float(applied.p_kw[0])
            e_kwh, soc, loss = float(applied.e_kwh[0]), float(applied.soc[0]), float(applied.loss_kw[0])
        else:
            e_kwh = soc = loss = float("nan")
        need = q_network_kw + p_store
        dumped = max(-need, 0.0)
        need = max(need, 0.0)
        cumulative = np.cumsum(self.q_max_kw)
        q = np.clip(need - (cumulative - self.q_max_kw), 0.0, self.q_max_kw)
        unserved = max(need - float(q.sum()), 0.0)
        fuel = q * dt_h / np.array([s.heat_per_unit_kwh for s in self.sources])
        co2 = fuel * np.array([s.co2_kg_per_unit for s in self.sources])
        pm = fuel * np.array([s.pm_kg_per_unit for s in self.sources])
        return PlantStep(q, fuel, co2, pm, p_store, e_kwh, soc, loss, unserved, dumped)
