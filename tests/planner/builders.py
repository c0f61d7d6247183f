"""Tiny hand-built planning cases with known optima."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from planner.hub.case import Case, Fuel
from planner.hub.policies import Policy, PriceSpec
from planner.hub.technologies import Catalogue, load_catalogue

START = pd.Timestamp("2021-01-04 00:00")


def catalogue(conversion: dict[str, dict[str, Any]] | None = None,
              storage: dict[str, dict[str, Any]] | None = None) -> Catalogue:
    return Catalogue.model_validate({"conversion": conversion or {}, "storage": storage or {}})


def boiler(eff: float = 0.9, **extra: Any) -> dict[str, Any]:
    return {"input": "gas", "outputs": {"heat": eff}, "capacity_on": "heat", "lifetime_a": 1,
            "capex_per_unit_chf": 0.0, **extra}


def pv(capex_per_m2: float) -> dict[str, Any]:
    """Solar PV yielding 0.2 kWh per m² and kW/m² of irradiance, one-year lifetime."""
    return {"input": "solar", "outputs": {"elec": 0.2}, "capacity_on": "elec", "capacity_unit": "m2",
            "lifetime_a": 1, "capex_per_unit_chf": capex_per_m2}


def flat_policy(import_per_kwh: float, feed_in_per_kwh: float = 0.0, net_metering: bool = False) -> Policy:
    return Policy(import_price=PriceSpec(flat_per_kwh=import_per_kwh),
                  feed_in=PriceSpec(flat_per_kwh=feed_in_per_kwh), net_metering=net_metering)


def tiny_case(heat_kw: list[float], elec_kw: list[float] | None = None, *, cat: Catalogue,
              policies: dict[str, Policy] | None = None, irradiance: list[float] | None = None,
              gas_per_kwh: float = 0.1, **extra: Any) -> Case:
    n = len(heat_kw)
    return Case(
        name="tiny", start=START, step_h=1.0,
        heat_demand_kw=np.asarray(heat_kw, float),
        elec_demand_kw=np.asarray(elec_kw if elec_kw is not None else [0.0] * n, float),
        irradiance_w_per_m2=np.asarray(irradiance if irradiance is not None else [0.0] * n, float),
        catalogue=cat, policies=policies or {"flat": flat_policy(0.3)},
        fuels={"gas": Fuel(gas_per_kwh, 0.2)}, interest_rate=0.0, grid_co2_kg_per_kwh=0.1,
        operation_weight=1.0, **extra)


def synthetic_series(n_hours: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic demand, irradiance and prices with daily shapes (no reference data)."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n_hours)
    hod = hours % 24
    day = hours // 24
    winter = 0.5 * (1 + np.cos(2 * np.pi * (day + 10) / 365))
    heat = 300 + 900 * winter * (1.1 - 0.3 * np.sin(np.pi * hod / 24)) + rng.normal(0, 15, n_hours)
    elec = 500 + 250 * np.exp(-((hod - 19) ** 2) / 8) + 150 * np.exp(-((hod - 8) ** 2) / 4)
    sun = np.clip(np.sin(np.pi * (hod - 6) / 12), 0, None) * (350 + 500 * (1 - winter))
    tou = np.where((hod >= 6) & (hod < 22) & (((day + 3) % 7) < 6), 0.27, 0.14)
    return {"heat": np.clip(heat, 0, None), "elec": elec, "irradiance": sun, "tou": tou}


def synthetic_case(days: int, catalogue: Catalogue | None = None, gas_per_kwh: float = 0.09) -> Case:
    """`days` of seeded synthetic hourly series with the shipped catalogue and a TOU price series."""
    s = synthetic_series(24 * days, seed=3)
    return Case(name="synthetic", start=START, step_h=1.0, heat_demand_kw=s["heat"], elec_demand_kw=s["elec"],
                irradiance_w_per_m2=s["irradiance"], catalogue=catalogue or load_catalogue(),
                price_series={"tou": s["tou"]}, roof_area_m2=2000.0, fuels={"gas": Fuel(gas_per_kwh, 0.198)})
