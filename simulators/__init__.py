"""mosaik API v3 simulators: each a pure model (`model.py`) plus its adapter (`sim.py`)."""
