"""Run the solar-thermal simulator as its own process: ``python -m simulators.solar_thermal HOST:PORT``."""

import mosaik_api_v3

from simulators.solar_thermal.sim import SolarThermalSim

if __name__ == "__main__":
    mosaik_api_v3.start_simulation(SolarThermalSim(), "solar-thermal collectors and their stores")
