"""Run the grid simulator as its own process: ``python -m simulators.grid HOST:PORT``."""

import mosaik_api_v3

from simulators.grid.sim import GridSim

if __name__ == "__main__":
    mosaik_api_v3.start_simulation(GridSim(), "low-voltage grid simulator (pandapower / lightsim2grid)")
