"""The platform's simulators in a plain mosaik scenario of your own, without the `cosim` command.

Three houses with PV on a rural cable feeder for one March day; one has a battery that a small
controller of this file (a mosaik simulator too) runs for self-consumption. Run it with

    python examples/mosaik_district.py                    # with the battery controller
    python examples/mosaik_district.py --no-controller    # the battery stays idle, for comparison

It prints what the district drew from the grid, what it fed in and what the battery did. Walked
through in docs/mosaik.md; tests/examples/test_mosaik_example.py runs it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import mosaik
import mosaik_api_v3

# Every time-based simulator of the platform needs the same calendar: the start (local time in `tz`),
# the time zone, the step and the number of steps. They have no defaults: a simulator started
# without them refuses to start (simulators.base.CalendarError).
CALENDAR = {"start": "2024-03-20T00:00:00", "tz": "Europe/Berlin", "step_size": 900, "n_steps": 96}
SITE = {"latitude_deg": 48.14, "longitude_deg": 11.58, "altitude_m": 520.0, "tz": "Europe/Berlin"}
WEATHER_ATTRS = ["t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s"]  # what a Building needs
FEEDER = "kerber_landnetz_kabel_1"
HOUSE_BUSES = [3, 5, 7]  # low-voltage house connection buses of the feeder (bus 0 is the 10 kV side)


class BatteryController(mosaik_api_v3.Simulator):
    """Self-consumption: the battery takes the house's PV surplus and covers its import, within the
    power it can take or give over the step. Inputs: the house's `p_kw` (+ = import) of the step
    and the battery's `p_charge_max_kw` / `p_discharge_max_kw`; output: the battery's `p_set_kw`
    (+ = charging) for the same step."""

    def __init__(self) -> None:
        super().__init__({"api_version": "3.0", "type": "time-based", "models": {"Controller": {
            "public": True, "params": [],
            "attrs": ["p_kw", "p_charge_max_kw", "p_discharge_max_kw", "p_set_kw"]}}})
        self.step_size = 900
        self.setpoints: dict[str, float] = {}

    def init(self, sid: str, time_resolution: float = 1.0, step_size: int = 900, **_: Any) -> Any:
        self.step_size = step_size
        return self.meta

    def create(self, num: int, model: str, **_: Any) -> list[dict[str, Any]]:
        start = len(self.setpoints)
        for k in range(start, start + num):
            self.setpoints[f"Controller_{k}"] = 0.0
        return [{"eid": eid, "type": model} for eid in list(self.setpoints)[start:]]

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        for eid, got in inputs.items():
            house_kw = sum(got["p_kw"].values())
            charge_max = min(got["p_charge_max_kw"].values())
            discharge_max = min(got["p_discharge_max_kw"].values())
            self.setpoints[eid] = max(-discharge_max, min(charge_max, -house_kw))
        return time + self.step_size

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        return {eid: {"p_set_kw": self.setpoints[eid]} for eid in outputs}


class Collector(mosaik_api_v3.Simulator):
    """Keeps every value it is sent, per step, in the list it is started with (`rows`)."""

    def __init__(self) -> None:
        super().__init__({"api_version": "3.0", "type": "event-based", "models": {"Collector": {
            "public": True, "params": [], "attrs": [], "any_inputs": True}}})
        self.rows: list[dict[str, Any]] = []

    def init(self, sid: str, time_resolution: float = 1.0, rows: list[dict[str, Any]] | None = None,
             **_: Any) -> Any:
        self.rows = rows if rows is not None else []
        return self.meta

    def create(self, num: int, model: str, **_: Any) -> list[dict[str, Any]]:
        return [{"eid": "Collector", "type": model}]

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> None:
        row: dict[str, Any] = {"time_s": time}
        for values in inputs.values():
            for attr, sources in values.items():
                for source, value in sources.items():
                    row[f"{source.split('.')[-1]}.{attr}"] = value
        self.rows.append(row)
        return None

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Summary:
    """Energies over the run (kWh) and the rows the collector kept."""

    import_kwh: float
    export_kwh: float
    pv_kwh: float
    battery_charged_kwh: float
    battery_discharged_kwh: float
    rows: list[dict[str, Any]]


def sim_config(module: str) -> dict[str, dict[str, str]]:
    """The platform's simulators in process ({"cmd": "python -m simulators.building %(addr)s"}
    runs one in a process of its own) and this file's two."""
    return {
        "Sources": {"python": "simulators.sources.sim:SourcesSim"},
        "Building": {"python": "simulators.building.sim:BuildingSim"},
        "Storage": {"python": "simulators.storage.sim:StorageSim"},
        "Grid": {"python": "simulators.grid.sim:GridSim"},
        "Controller": {"python": f"{module}:BatteryController"},
        "Collector": {"python": f"{module}:Collector"},
    }


def run(controller: bool = True, module: str = __name__) -> Summary:
    """Build the world, run it for the day and sum up (`module`: where this file was imported as)."""
    rows: list[dict[str, Any]] = []
    world = mosaik.World(sim_config(module), time_resolution=1, debug=False)
    try:
        sources = world.start("Sources", **CALENDAR)
        weather = sources.Weather(spec={"kind": "synthetic", "seed": 7}, site=SITE)
        buildings = world.start("Building", seed=7, site=SITE, **CALENDAR)
        houses = [buildings.Building(type="single_family", spec={"pv_kwp": 6.0}) for _ in HOUSE_BUSES]
        storage = world.start("Storage", **CALENDAR)
        battery = storage.Battery(spec={"capacity_kwh": 10.0, "soc_init": 0.2})
        grid_sim = world.start("Grid", network=FEEDER, step_size=CALENDAR["step_size"])
        grid = grid_sim.Grid()
        collector = world.start("Collector", rows=rows).Collector()

        for house, bus in zip(houses, HOUSE_BUSES, strict=True):
            world.connect(weather, house, *WEATHER_ATTRS)
            world.connect(house, grid_sim.Connection(bus=bus, kind="building"), "p_kw", "q_kvar")
            world.connect(house, collector, "p_kw", "pv_kw")
        world.connect(battery, grid_sim.Connection(bus=HOUSE_BUSES[0], kind="storage"), "p_kw")
        world.connect(battery, collector, "p_kw", "soc")
        world.connect(grid, collector, "p_ext_kw", "losses_kw")
        if controller:
            control = world.start("Controller", step_size=CALENDAR["step_size"]).Controller()
            world.connect(houses[0], control, "p_kw")
            world.connect(control, battery, ("p_set_kw", "p_set_kw"))
            # the battery's limits reach the controller one step later (mosaik needs the shift to
            # break the cycle); at the first step it takes them from `initial_data`
            world.connect(battery, control, "p_charge_max_kw", "p_discharge_max_kw", time_shifted=True,
                          initial_data={"p_charge_max_kw": 0.0, "p_discharge_max_kw": 0.0})
        world.run(until=CALENDAR["n_steps"] * CALENDAR["step_size"], print_progress=False)
    finally:
        world.shutdown()
    return _summary(rows)


def _summary(rows: list[dict[str, Any]]) -> Summary:
    hours = CALENDAR["step_size"] / 3600.0
    grid = [r["Grid.p_ext_kw"] for r in rows]
    battery = [r["Battery_0.p_kw"] for r in rows]
    pv = [sum(v for k, v in r.items() if k.endswith(".pv_kw")) for r in rows]
    return Summary(
        import_kwh=sum(max(p, 0.0) for p in grid) * hours,
        export_kwh=abs(sum(min(p, 0.0) for p in grid)) * hours,
        pv_kwh=sum(pv) * hours,
        battery_charged_kwh=sum(max(p, 0.0) for p in battery) * hours,
        battery_discharged_kwh=abs(sum(min(p, 0.0) for p in battery)) * hours,
        rows=rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-controller", action="store_true", help="leave the battery idle")
    args = parser.parse_args()
    s = run(controller=not args.no_controller)
    print(f"grid import {s.import_kwh:.1f} kWh, export {s.export_kwh:.1f} kWh, PV {s.pv_kwh:.1f} kWh, "
          f"battery charged {s.battery_charged_kwh:.1f} kWh, discharged {s.battery_discharged_kwh:.1f} kWh")


if __name__ == "__main__":
    main()
