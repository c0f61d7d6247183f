"""Run the heat-network simulator as its own process: ``python -m simulators.heat_network HOST:PORT``."""

import mosaik_api_v3

from simulators.heat_network.sim import HeatNetworkSim

if __name__ == "__main__":
    mosaik_api_v3.start_simulation(HeatNetworkSim(), "district heating network simulator (pandapipes)")
