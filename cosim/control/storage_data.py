"""The ADMM data of a scenario's storage: standalone batteries (agents of their own, with no load of
their own) and hot-water tanks (in their heat-pump building's local problem).

Both start from what the control adapter receives: a standalone unit's state of charge (time-shifted,
at t) and a tank's state at the end of the step already applied (`tank_soc`, `tank_p_th_kw`). A
tank's hot-water demand and hot-water COP over the horizon are the forecaster's, issued with the
buildings' other forecasts (`DistrictForecaster.tables`: the twin's exact values, or with a
scenario `forecast:` section the hot-water demand forecast from the history before the step and
the COP at the forecast weather).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from controllers.admm import AgentData
from controllers.admm.data import Tank
from cosim.control.adapter import Values
from cosim.control.forecast import DistrictForecaster
from cosim.control.storage_params import battery, storage_params
from cosim.scenario.model import Scenario, StorageUnit

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

    def with_tanks(self, data: list[AgentData], start: int, received: dict[str, Values]) -> list[AgentData]:
        """`data` (the buildings' `AgentData`, in the forecaster's order) with their tanks."""
        if not self.tanks:
            return data
        f = self.forecaster.tables(start)  # the step's forecasts (issued once, with the buildings')
        dhw, cop = f.dhw_th_kw, f.cop_dhw
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
