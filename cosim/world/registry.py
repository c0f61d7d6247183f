"""The one registry of simulators: names → "module:Class", resolved before any run starts.

Simulators of the `simulators` package can run in process (mosaik `python`) or each in its own
process (mosaik `cmd`, `python -m simulators.<kind> HOST:PORT`). The control adapter and the
recorder always run in process (the recorder writes through the run's `ResultsWriter`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

SIMULATORS: dict[str, str] = {
    "Sources": "simulators.sources.sim:SourcesSim",
    "Building": "simulators.building.sim:BuildingSim",
    "Storage": "simulators.storage.sim:StorageSim",
    "Grid": "simulators.grid.sim:GridSim",
    "Control": "cosim.control.adapter:ControlAdapter",
    "Devices": "cosim.mqtt.devices:DeviceSim",
    "Recorder": "cosim.world.recorder:RecorderSim",
    "Constant": "simulators.constant.sim:ConstantSim",
    "HeatNetwork": "simulators.heat_network.sim:HeatNetworkSim",
    "SolarThermal": "simulators.solar_thermal.sim:SolarThermalSim",
}
PROCESS_CAPABLE = {
    "Sources": "simulators.sources",
    "Building": "simulators.building",
    "Storage": "simulators.storage",
    "Grid": "simulators.grid",
    "Constant": "simulators.constant",
    "HeatNetwork": "simulators.heat_network",
    "SolarThermal": "simulators.solar_thermal",
}


def resolve(name: str) -> type:
    """Import the class registered under `name`; a clear error if it is missing."""
    if name not in SIMULATORS:
        raise KeyError(f"no simulator {name!r}; registered: {', '.join(SIMULATORS)}")
    module_name, class_name = SIMULATORS[name].split(":")
    try:
        cls: type = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"simulator {name!r} ({SIMULATORS[name]}) cannot be loaded: {exc}") from exc
    return cls


def sim_config(processes: bool = False) -> dict[str, dict[str, Any]]:
    """mosaik SimConfig for every registered simulator, checking that each one resolves."""
    config: dict[str, dict[str, Any]] = {}
    for name, target in SIMULATORS.items():
        resolve(name)
        if processes and name in PROCESS_CAPABLE:
            config[name] = {"cmd": f"{sys.executable} -m {PROCESS_CAPABLE[name]} %(addr)s"}
        else:
            config[name] = {"python": target}
    return config


# Simulators in their own process build their model in init() (a Kerber feeder alone takes seconds
# on a busy machine); mosaik's default of 10 s is too short for that.
MOSAIK_CONFIG = {"start_timeout": 120.0, "stop_timeout": 30.0}


def new_world(processes: bool = False) -> Any:
    """A mosaik World with every registered simulator, integer seconds and quiet logging."""
    import mosaik

    config: Any = sim_config(processes)  # mosaik's SimConfig TypedDicts; each entry resolved above
    return mosaik.World(
        config,
        mosaik_config=MOSAIK_CONFIG,  # type: ignore[arg-type]
        time_resolution=1.0,
        skip_greetings=True,
        configure_logging=False,
    )
