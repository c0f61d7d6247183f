"""Run the constant simulator as its own process: ``python -m simulators.constant HOST:PORT``."""

import mosaik_api_v3

from simulators.constant.sim import ConstantSim

if __name__ == "__main__":
    mosaik_api_v3.start_simulation(ConstantSim(), "constant values")
