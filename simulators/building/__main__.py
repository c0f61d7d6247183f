"""Run the building simulator as its own process: ``python -m simulators.building HOST:PORT``."""

import mosaik_api_v3

from simulators.building.sim import BuildingSim

if __name__ == "__main__":
    mosaik_api_v3.start_simulation(BuildingSim(), "building simulator")
