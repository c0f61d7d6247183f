"""The urban-planning study's eco-district comparison (studies.md, section 2): the annual cost and
emission lines of case A (all-electric houses, PV, solar thermal) and case B (flats on a district
heating network) from the two co-simulation runs, next to the study's.

Operation comes from the runs' result tables (buildings' meters, PV, heaters; the heat network's
sources, pump and emissions); case A's solar-thermal collectors and hot-water stores are simulated
with the houses (`simulators.solar_thermal`, the scenario's `solar_thermal`), their heat replacing
the resistance heaters' hot-water electricity in the run (a run without them gets them dispatched
here on its weather and heat demands). Capital and fixed O&M follow from the installed
equipment and the unit costs of `Assumptions` (not given by the study; chosen and documented
there). Every line in k€ a year, CO2 in t a year.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.results import read_table
from cosim.results.writer import list_tables
from simulators.solar_thermal.model import (
    CollectorParams,
    collector_heat_w_m2,
    dispatch,
    plane_irradiance_w_m2,
)

LINES = [
    "capital",
    "fixed O&M",
    "electricity purchase",
    "PV feed-in income",
    "gas",
    "wood",
    "particulates",
    "total",
    "CO2 (t/a)",
]
# the study's annual results (k€/a; CO2 t/a), case A / case B; None: not in the case
STUDY: dict[str, tuple[float | None, float | None]] = {
    "capital": (2117.0, 454.0),
    "fixed O&M": (0.0, 120.0),
    "electricity purchase": (1149.0, 581.0),
    "PV feed-in income": (1754.0, None),
    "gas": (None, 4.2),
    "wood": (None, 61.0),
    "particulates": (None, 40.0),
    "total": (1512.0, 1260.0),
    "CO2 (t/a)": (1146.0, 785.0),
}
# lines the issue asks to reproduce within 15 % (the others depend on the assumptions below)
CHECKED = ("electricity purchase", "PV feed-in income", "gas", "wood", "total")


def annuity(rate: float, years: float) -> float:
    """Capital recovery factor: the yearly payment per unit of investment."""
    return float(rate / (1.0 - (1.0 + rate) ** -years))


@dataclass(frozen=True)
class Assumptions:
    """Unit costs and factors the study does not give (2010-era French prices, chosen here).

    Capital: investment × annuity(`rate`, `years`) for every item. Case A: PV 2.88 €/Wp installed
    (7.2 MWp: the study's 72,000 m² of 100 Wp/m² modules; 288 €/m² of roof), solar-thermal systems
    with their in-house stores 700 €/m² (8,000 m²); the houses'
    heaters are not counted (as the study's zero O&M suggests, only the energy equipment is).
    Case B: 7 km of buried twin pipes 400 €/m, wood-chip boiler 500 €/kW, gas boiler 60 €/kW,
    heat store 25 €/kWh, substations 8,000 € per building. Fixed O&M: wood boiler 60 €/kW·a, gas
    boiler 10 €/kW·a, network and substations 1 % of their investment a year; none in case A (as
    the study). Electricity: the runs' time-of-use tariff (scenario prices), all consumption bought;
    PV: all production sold at the study's feed-in tariff 258 €/MWh (France's total-sale scheme);
    the study's "80 % system efficiency" is the performance ratio, which the simulated PV's pvlib
    losses (angle of incidence, temperature, wiring, inverter: ~0.8 in Paris) already are, so the
    peak power is the modules' 7.2 MWp, not 80 % of it (5.76 MWp, which counted the losses twice;
    the earlier 3.6 €/Wp on 5.76 MWp was the same investment);
    grid CO2 0.09 kg/kWh (the run's carbon intensity). Particulates priced 10 €/kg (the study's
    "10 €/t" read per kilogram: see docs/heat_network.md). Solar thermal: `CollectorParams` (the
    study's 90 % read as the system efficiency η_sys), 8,000 m² and 1 MWh of store shared evenly.
    """

    rate: float = 0.05
    years: float = 20.0
    pv_eur_per_wp: float = 2.88
    solar_thermal_eur_per_m2: float = 700.0
    solar_thermal_m2: float = 8000.0
    hot_water_store_kwh: float = 1000.0
    network_eur_per_m: float = 400.0
    wood_boiler_eur_per_kw: float = 500.0
    gas_boiler_eur_per_kw: float = 60.0
    store_eur_per_kwh: float = 25.0
    substation_eur: float = 8000.0
    wood_om_eur_per_kw_a: float = 60.0
    gas_om_eur_per_kw_a: float = 10.0
    network_om_share: float = 0.01
    feed_in_eur_per_kwh: float = 0.258
    pm_eur_per_kg: float = 10.0
    collector: CollectorParams = field(default_factory=CollectorParams)


@dataclass(frozen=True)
class CaseResult:
    """One case's annual lines (k€/a, CO2 t/a) and the physical quantities behind them."""

    lines: dict[str, float | None]
    quantities: dict[str, float]


def _scale_to_year(out_dir: Path) -> float:
    """Factor from the run's duration to a year (1 for a year's run)."""
    import json

    duration_s = float(json.loads((out_dir / "run.json").read_text())["scenario"]["duration"])
    return 365.0 * 86400.0 / duration_s


def _meters(out_dir: Path) -> tuple[pd.DataFrame, pd.Series, float]:
    buildings = read_table(out_dir, "buildings")
    prices = read_table(out_dir, "prices").set_index("time_s")
    steps = np.sort(buildings["time_s"].unique())
    dt_h = float(steps[1] - steps[0]) / 3600.0 if len(steps) > 1 else 1.0
    return buildings, prices["import_per_kwh"], dt_h


def case_a(out_dir: Path, a: Assumptions) -> CaseResult:
    """Case A from its run's folder (see the module docstring). A run whose buildings had
    solar-thermal collectors (`solar_thermal` in the scenario, table `solar_thermal`) already
    bought less electricity for their heat; a run without them gets the collectors dispatched here
    on its weather and heat demands (`Assumptions.solar_thermal_m2`, `hot_water_store_kwh`)."""
    b, price, dt_h = _meters(out_dir)
    year = _scale_to_year(out_dir)
    wide = {
        c: b.pivot(index="time_s", columns="entity", values=c)
        for c in ("p_kw", "pv_kw", "hp_p_kw", "dhw_th_kw", "heat_th_kw", "p_appliances_kw")
    }
    consumption_kw = (wide["p_kw"] + wide["pv_kw"]).to_numpy()
    if "solar_thermal" in list_tables(out_dir):
        collectors = read_table(out_dir, "solar_thermal")
        collected_kwh = float(collectors["q_collector_kw"].sum() * dt_h)
        used_kwh = float(b["q_solar_used_kw"].sum() * dt_h)
        solar_m2 = _solar_thermal_m2(out_dir)
    else:
        collected_kwh, used_kwh, saved_kw = _solar_dispatch(out_dir, wide, a, dt_h)
        consumption_kw = consumption_kw - saved_kw
        solar_m2 = a.solar_thermal_m2
    p = price.reindex(wide["p_kw"].index).to_numpy()
    purchase_kwh = float(consumption_kw.sum() * dt_h) * year
    purchase_eur = float((consumption_kw.sum(axis=1) * p).sum() * dt_h) * year
    pv_kwh = float(wide["pv_kw"].to_numpy().sum() * dt_h) * year
    pv_kwp = _group_sum(out_dir, lambda g: float(g.get("pv_kwp") or 0.0))
    capital = (pv_kwp * 1000.0 * a.pv_eur_per_wp + solar_m2 * a.solar_thermal_eur_per_m2) * annuity(
        a.rate, a.years
    )
    co2 = _co2_per_kwh(out_dir) * purchase_kwh / 1000.0
    lines: dict[str, float | None] = {
        "capital": capital / 1e3,
        "fixed O&M": 0.0,
        "electricity purchase": purchase_eur / 1e3,
        "PV feed-in income": pv_kwh * a.feed_in_eur_per_kwh / 1e3,
        "gas": None,
        "wood": None,
        "particulates": None,
        "CO2 (t/a)": co2,
    }
    lines["total"] = _total(lines)
    quantities = {
        "space heating MWh": float(wide["heat_th_kw"].to_numpy().sum() * dt_h) * year / 1e3,
        "hot water MWh": float(wide["dhw_th_kw"].to_numpy().sum() * dt_h) * year / 1e3,
        "appliances MWh": float(wide["p_appliances_kw"].to_numpy().sum() * dt_h) * year / 1e3,
        "electricity bought MWh": purchase_kwh / 1e3,
        "PV MWh": pv_kwh / 1e3,
        "PV kWh/kWp": pv_kwh / pv_kwp if pv_kwp > 0 else float("nan"),
        "solar thermal collected MWh": collected_kwh * year / 1e3,
        "solar thermal used MWh": used_kwh * year / 1e3,
    }
    return CaseResult(lines, quantities)


def _group_sum(out_dir: Path, value: Callable[[dict[str, Any]], float]) -> float:
    """Σ over the run's building groups of `value(group)` × the group's count (from run.json)."""
    import json

    groups = json.loads((out_dir / "run.json").read_text())["scenario"]["buildings"]
    return float(sum(value(g) * g.get("count", 1) for g in groups))


def _solar_thermal_m2(out_dir: Path) -> float:
    """The collector area of a run's scenario (every group's `solar_thermal.area_m2` × its count)."""
    return _group_sum(out_dir, lambda g: float((g.get("solar_thermal") or {}).get("area_m2", 0.0)))


def _solar_dispatch(
    out_dir: Path, wide: dict[str, pd.DataFrame], a: Assumptions, dt_h: float
) -> tuple[float, float, np.ndarray]:
    """Collectors dispatched after a run without them: heat collected and used (kWh over the run),
    and the resistance heaters' electricity each step saves (kW, steps × buildings)."""
    import json

    weather = read_table(out_dir, "weather").set_index("time_s").reindex(wide["p_kw"].index)
    times = pd.DatetimeIndex(pd.to_datetime(weather["timestamp"]))
    site = json.loads((out_dir / "run.json").read_text())["scenario"]["site"]
    g_poa = plane_irradiance_w_m2(
        times,
        weather["ghi_w_m2"].to_numpy(),
        weather["dni_w_m2"].to_numpy(),
        weather["dhi_w_m2"].to_numpy(),
        site["latitude_deg"],
        site["longitude_deg"],
        a.collector,
    )
    n = wide["p_kw"].shape[1]
    q_m2_kw = collector_heat_w_m2(g_poa, weather["t_out_c"].to_numpy(), a.collector) / 1000.0
    q_col = np.outer(q_m2_kw, np.full(n, a.solar_thermal_m2 / n))
    # the resistance heaters' heat (COP 1): space heating and hot water
    solar = dispatch(
        q_col,
        wide["dhw_th_kw"].to_numpy(),
        wide["heat_th_kw"].to_numpy(),
        np.full(n, a.hot_water_store_kwh / n),
        dt_h,
    )
    saved_kw = np.minimum(solar.q_dhw_kw + solar.q_space_kw, wide["hp_p_kw"].to_numpy())
    used_kwh = float((solar.q_dhw_kw + solar.q_space_kw).sum() * dt_h)
    return float(q_col.sum() * dt_h), used_kwh, saved_kw


def _co2_per_kwh(out_dir: Path) -> float:
    prices = read_table(out_dir, "prices")
    return float(prices["co2_kg_per_kwh"].mean())


def _total(lines: dict[str, float | None]) -> float:
    income = lines.get("PV feed-in income") or 0.0
    costs = ("capital", "fixed O&M", "electricity purchase", "gas", "wood", "particulates")
    return sum(lines.get(k) or 0.0 for k in costs) - income


def case_b(
    out_dir: Path,
    a: Assumptions,
    length_m: float,
    q_max_kw: dict[str, float],
    store_kwh: float,
    n_substations: int,
) -> CaseResult:
    """Case B from its run's folder and its plant (see the module docstring)."""
    b, price, dt_h = _meters(out_dir)
    year = _scale_to_year(out_dir)
    consumption = (b["p_kw"] + b["pv_kw"]).groupby(b["time_s"]).sum()
    network = read_table(out_dir, "heat_network").set_index("time_s")
    pump = network["p_pump_kw"].fillna(0.0)
    p = price.reindex(consumption.index).to_numpy()
    purchase_kwh = float((consumption + pump.reindex(consumption.index).fillna(0.0)).sum() * dt_h) * year
    purchase_eur = (
        float(((consumption + pump.reindex(consumption.index).fillna(0.0)).to_numpy() * p).sum() * dt_h)
        * year
    )
    sources = read_table(out_dir, "heat_sources")
    by_source = {str(name).rsplit(".", 1)[-1]: rows for name, rows in sources.groupby("entity")}
    cost = {k: float(v["cost"].sum()) * year for k, v in by_source.items()}
    fuel = {k: float(v["fuel"].sum()) * year for k, v in by_source.items()}
    heat = {k: float(v["q_kw"].sum() * dt_h) * year for k, v in by_source.items()}
    pm_kg = float(network["pm_kg"].sum()) * year
    wood_kw, gas_kw = q_max_kw.get("wood", 0.0), q_max_kw.get("gas", 0.0)
    network_invest = length_m * a.network_eur_per_m + n_substations * a.substation_eur
    invest = (
        network_invest
        + wood_kw * a.wood_boiler_eur_per_kw
        + gas_kw * a.gas_boiler_eur_per_kw
        + store_kwh * a.store_eur_per_kwh
    )
    om = (
        wood_kw * a.wood_om_eur_per_kw_a
        + gas_kw * a.gas_om_eur_per_kw_a
        + a.network_om_share * network_invest
    )
    co2 = _co2_per_kwh(out_dir) * purchase_kwh / 1000.0 + float(network["co2_kg"].sum()) * year / 1000.0
    lines: dict[str, float | None] = {
        "capital": invest * annuity(a.rate, a.years) / 1e3,
        "fixed O&M": om / 1e3,
        "electricity purchase": purchase_eur / 1e3,
        "PV feed-in income": None,
        "gas": cost.get("gas", 0.0) / 1e3,
        "wood": cost.get("wood", 0.0) / 1e3,
        "particulates": pm_kg * a.pm_eur_per_kg / 1e3,
        "CO2 (t/a)": co2,
    }
    lines["total"] = _total(lines)
    buildings = b.groupby("time_s")[["heat_th_kw", "dhw_th_kw", "p_appliances_kw"]].sum()
    quantities = {
        "space heating MWh": float(buildings["heat_th_kw"].sum() * dt_h) * year / 1e3,
        "hot water MWh": float(buildings["dhw_th_kw"].sum() * dt_h) * year / 1e3,
        "appliances MWh": float(buildings["p_appliances_kw"].sum() * dt_h) * year / 1e3,
        "electricity bought MWh": purchase_kwh / 1e3,
        "network losses MWh": float(np.nansum(network["q_loss_kw"]) * dt_h) * year / 1e3,
        "unserved heat MWh": float(network["unserved_kw"].sum() * dt_h) * year / 1e3,
        "wood heat MWh": heat.get("wood", 0.0) / 1e3,
        "wood t": fuel.get("wood", 0.0),
        "gas heat MWh": heat.get("gas", 0.0) / 1e3,
        "gas MWh": fuel.get("gas", 0.0),
        "particulates t": pm_kg / 1e3,
        "peak network heat kW": float(network["q_network_kw"].max()),
    }
    return CaseResult(lines, quantities)


def deviation_pct(platform: float | None, study: float | None) -> float | None:
    if platform is None or study is None or study == 0:
        return None
    return 100.0 * (platform - study) / abs(study)


def within_15_pct(*deviations_pct: float | None) -> str:
    """The table's verdict for a checked line: "yes" if every case the study gives is within
    ±15 %, "no" if one is not, "" if the line has no value to compare (empty cells are None or NaN)."""
    given = [d for d in deviations_pct if d is not None and not math.isnan(d)]
    if not given:
        return ""
    return "yes" if all(abs(d) <= 15.0 for d in given) else "no"


def comparison(a_result: CaseResult, b_result: CaseResult) -> pd.DataFrame:
    """The study's table side by side with the platform's (rows: `LINES`)."""
    rows = []
    for line in LINES:
        study_a, study_b = STUDY[line]
        ours_a, ours_b = a_result.lines.get(line), b_result.lines.get(line)
        rows.append(
            {
                "line": line,
                "study A": study_a,
                "platform A": ours_a,
                "A dev %": deviation_pct(ours_a, study_a),
                "study B": study_b,
                "platform B": ours_b,
                "B dev %": deviation_pct(ours_b, study_b),
                "checked (±15 %)": line in CHECKED,
            }
        )
    return pd.DataFrame(rows)


def direction_holds(a_result: CaseResult, b_result: CaseResult) -> dict[str, bool]:
    """The study's direction: B cheaper and lower in CO2 than A."""
    return {
        "B cheaper": (b_result.lines["total"] or 0.0) < (a_result.lines["total"] or 0.0),
        "B lower CO2": (b_result.lines["CO2 (t/a)"] or 0.0) < (a_result.lines["CO2 (t/a)"] or 0.0),
    }


def to_json(a_result: CaseResult, b_result: CaseResult, assumptions: Assumptions) -> dict[str, Any]:
    return {
        "table": comparison(a_result, b_result).to_dict(orient="records"),
        "direction": direction_holds(a_result, b_result),
        "quantities": {"A": a_result.quantities, "B": b_result.quantities},
        "assumptions": {k: v for k, v in asdict(assumptions).items()},
    }
