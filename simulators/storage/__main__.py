"""Run the storage simulator as its own process: ``python -m simulators.storage HOST:PORT``."""

import mosaik_api_v3

from simulators.storage.sim import StorageSim

if __name__ == "__main__":
    mosaik_api_v3.start_simulation(StorageSim(), "storage simulator")
