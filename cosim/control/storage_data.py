"""The ADMM data of a scenario's storage: standalone batteries (agents of their own, with no load of
their own) and hot-water tanks (in their heat-pump building's local problem).

Both start from what the control adapter receives: a standalone unit's state of charge (time-shifted,
at t) and a tank's state at the end of the step already applied (`tank_soc`, `tank_p_th_kw`). A
tank's hot-water demand and hot-water COP over the horizon come from the same building models as
the other forecasts (`DistrictForecaster`'s fleet, weather and time axis).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from controllers.admm import AgentData
from controllers.admm.data import Tank
from cosim.control.adapter import Values
from cosim.control.forecast import WEATHER_FIELDS, DistrictForecaster
from cosim.control.storage_params import battery, storage_params
from cosim.scenario.model import Scenario, StorageUnit
from simulators.building.model import WeatherInputs

__all__ = ["StorageData"]


class StorageData:
    """Standalone batteries' `AgentData` and tanks added to their buildings' (see the module
    docstring)."""

    def __init__(self, scenario: Scenario, forecaster: DistrictForecaster) -> None:
        self.forecaster = forecaster
        self.units = list(scenario.storage)
        self.names = [u.name for u in self.units]
        fleet = forecaster.fleet
        # tanks of heat-pump buildings: a tank beside a boiler or a substation has no electricity to move
        self.tanks: dict[int, StorageUnit] = {
            i: group.tank
            for i, group in enumerate(forecaster.groups)
            if group.tank is not None and bool(fleet.is_hp[i])
        }
        self._hot_water: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # step → (dhw_th_kw, cop_dhw)

    def battery_agents(self, start: int, received: dict[str, Values]) -> list[AgentData]:
        """One `AgentData` per standalone battery: no load, no PV, its battery from its state."""
        f = self.forecaster
        price, export_price = f.price_tables(start)
        export = np.minimum(export_price, price)
        zeros = np.zeros(f.horizon)
        out = []
        for unit in self.units:
            values = received.get(unit.name, {})
            soc = values.get("soc")
            e0 = unit.soc_init * unit.capacity_kwh if soc is None else soc * unit.capacity_kwh
            out.append(
                AgentData(
                    name=unit.name,
                    dt_h=f.dt_s / 3600.0,
                    price_per_kwh=price,
                    p_base_kw=zeros,
                    pv_kw=zeros,
                    battery=battery(unit, e0),
                    export_price_per_kwh=export,
                )
            )
        return out

    def _hot_water_at(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index not in self._hot_water:
            f = self.forecaster
            n = f.fleet.n
            weather = WeatherInputs(*(np.full(n, getattr(f.weather, w)[index]) for w in WEATHER_FIELDS))
            ex = f.fleet.exogenous(f.times[index], index, weather)
            self._hot_water[index] = (np.asarray(ex.dhw_th_kw, float), np.asarray(ex.cop_dhw, float))
        return self._hot_water[index]

    def with_tanks(self, data: list[AgentData], start: int, received: dict[str, Values]) -> list[AgentData]:
        """`data` (the buildings' `AgentData`, in the forecaster's order) with their tanks."""
        if not self.tanks:
            return data
        horizon = self.forecaster.horizon
        for k in [k for k in self._hot_water if k < start]:
            del self._hot_water[k]
        rows = [self._hot_water_at(k) for k in range(start, start + horizon)]
        dhw = np.stack([r[0] for r in rows])
        cop = np.stack([r[1] for r in rows])
        out = list(data)
        for i, unit in self.tanks.items():
            values = received.get(data[i].name, {})
            soc, q0 = values.get("tank_soc"), values.get("tank_p_th_kw")
            tank = Tank(
                e1_kwh=(unit.soc_init if soc is None else soc) * unit.capacity_kwh,
                q0_kw=0.0 if q0 is None or q0 != q0 else q0,
                q_dhw_kw=dhw[:, i],
                cop_dhw=cop[:, i],
                **storage_params(unit, "tank"),
            )
            out[i] = dataclasses.replace(data[i], tank=tank)
        return out
