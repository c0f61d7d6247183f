"""A scenario storage unit's parameters as the model-predictive controllers take them (the ADMM
`Battery` and `Tank`), with the simulator's defaults by kind where the scenario leaves them unset."""

from __future__ import annotations

import numpy as np

from controllers.admm import Battery
from cosim.scenario.model import StorageUnit
from simulators.storage.model import DEFAULTS as STORAGE_DEFAULTS

__all__ = ["battery", "storage_params"]


def storage_params(unit: StorageUnit, kind: str) -> dict[str, float]:
    """The parameters the ADMM battery and tank share, with the kind's defaults (`battery`, `tank`)."""
    defaults = STORAGE_DEFAULTS[kind]
    return {
        "capacity_kwh": unit.capacity_kwh,
        "eta_charge": unit.eta_charge,
        "eta_discharge": unit.eta_discharge,
        "loss_per_h": defaults["loss_per_h"] if unit.loss_per_h is None else unit.loss_per_h,
        "c_rate_per_h": defaults["c_rate_per_h"] if unit.c_rate_per_h is None else unit.c_rate_per_h,
        "soc_min": unit.soc_min,
        "soc_max": unit.soc_max,
    }


def battery(unit: StorageUnit, e0_kwh: float) -> Battery:
    """The ADMM `Battery` of `unit` holding `e0_kwh` (kept within its state-of-charge limits)."""
    e0 = float(np.clip(e0_kwh, unit.soc_min * unit.capacity_kwh, unit.soc_max * unit.capacity_kwh))
    return Battery(e0_kwh=e0, **storage_params(unit, "battery"))
