"""Run the sources simulator as its own process: ``python -m simulators.sources HOST:PORT``."""

import mosaik_api_v3

from simulators.sources.sim import SourcesSim

if __name__ == "__main__":
    mosaik_api_v3.start_simulation(SourcesSim(), "weather and price sources")
