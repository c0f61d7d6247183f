"""Solar-thermal collectors with a hot-water store (pure model; `model.py`)."""
