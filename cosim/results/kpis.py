"""Key performance indicators of a run, computed from its result tables.

Units are in the names. Energy and cost are counted at two levels: the feeder (external-grid
exchange at the transformer, which includes network losses) and the building meters (building
plus its battery). Costs are paid at the meters; CO2 counts feeder imports × the grid's carbon
intensity plus gas × its factor. Steps whose power flow did not converge are left out of the grid
KPIs and counted in `grid.non_converged_steps`.

With a heat network (tables `heat_network`, `heat_sources`), `heat` holds the heat delivered to the
substations, the network's losses (kWh and % of delivered), unserved heat, the pump's electricity,
fuel, heat and cost per source, and the plant's CO2 and particulates. The plant's CO2 is added to
`co2.co2_kg`; its fuel cost (`cost.heat_fuel`) and the pump's electricity at the import price
(`cost.heat_pump_electricity`; the pump has its own grid connection, not a building meter) are
added to `cost.total`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.results import stream
from cosim.results.security_kpis import security_kpis
from cosim.results.writer import read_table


def _optional(out_dir: Path, table: str) -> pd.DataFrame | None:
    try:
        return read_table(out_dir, table)
    except FileNotFoundError:
        return None


def peak_kpis(p_kw: pd.Series, dt_h: float) -> dict[str, float]:
    """Peak, daily-peak mean, ramping and 1 − load factor of a time-indexed power series (import +).

    `p_kw` is indexed by local timestamps; days are calendar days of that index. The load factor is
    taken on import: each day's mean import (export counted as zero import) over its peak import,
    averaged over the days with any import, so it stays in [0, 1] for a district that exports
    (a mean of the signed exchange made it exceed 1); NaN when the district never imports.
    """
    p = p_kw.dropna()
    if p.empty:
        return {
            "peak_import_kw": float("nan"),
            "daily_peak_mean_kw": float("nan"),
            "ramping_kw": float("nan"),
            "one_minus_load_factor": float("nan"),
        }
    days = p.groupby(p.index.date)
    daily_max = days.max()
    daily_import = p.clip(lower=0.0).groupby(p.index.date)
    load_factor = (daily_import.mean() / daily_max).where(daily_max > 0)
    return {
        "peak_import_kw": float(p.max()),
        "daily_peak_mean_kw": float(daily_max.mean()),
        "ramping_kw": float(np.abs(np.diff(p.to_numpy())).sum()),
        "one_minus_load_factor": float(1.0 - load_factor.mean()),
    }


def compute_kpis(
    out_dir: Path,
    step_s: int,
    v_min_pu: float = 0.95,
    v_max_pu: float = 1.05,
    gas_per_kwh: float = 0.0,
    gas_co2_kg_per_kwh: float = 0.0,
    limit_kw: float | None = None,
    limit_tolerance: float = 1e-2,
    currency: str = "EUR",
    window_rows: int = stream.WINDOW_ROWS,
) -> dict[str, Any]:
    """All KPIs of the run in `out_dir` as a nested dict. With `limit_kw` (the shared limit on the
    district's net exchange, Σ of the meters), `limit` KPIs say how often and by how much it was
    exceeded beyond `limit_tolerance` (relative).

    The per-entity tables (`buildings`, `batteries`, `buses`) are read in time windows of about
    `window_rows` rows (`cosim.results.stream`), so the memory needed does not grow with the run's
    length; the per-step tables (`grid`, `prices`, ...) are read whole."""
    dt_h = step_s / 3600.0
    grid = read_table(out_dir, "grid").sort_values("time_s")
    prices = read_table(out_dir, "prices").set_index("time_s")
    entities = read_table(out_dir, "entities")
    trafos = _optional(out_dir, "trafos")
    big = _EntityTables(out_dir, grid["time_s"].to_numpy(), entities, prices, dt_h, window_rows)
    big.read(v_min_pu, v_max_pu)

    converged = grid["converged"].fillna(0).astype(bool)
    p_ext = grid.set_index("timestamp")["p_ext_kw"].where(converged.to_numpy())
    intensity = prices["co2_kg_per_kwh"].reindex(grid["time_s"]).to_numpy()
    imported = np.clip(p_ext.to_numpy(), 0, None)

    electricity_cost = big.electricity_cost
    gas_kwh = float(big.sums["gas_kw"] * dt_h)
    heat = _heat(out_dir, prices, dt_h)
    heat_cost = heat.get("fuel_cost", 0.0) + heat.get("pump_cost", 0.0)

    kpis: dict[str, Any] = {
        "energy": {
            "imported_kwh": float(np.nansum(imported) * dt_h),
            "exported_kwh": float(np.nansum(np.clip(-p_ext.to_numpy(), 0, None)) * dt_h),
            "meter_import_kwh": float(big.meter_import_kw * dt_h),
            "meter_export_kwh": float(big.meter_export_kw * dt_h),
            "pv_kwh": float(big.sums["pv_kw"] * dt_h),
            "heat_pump_kwh": float(big.sums["hp_p_kw"] * dt_h),
            "gas_kwh": gas_kwh,
            "losses_kwh": float(np.nansum(grid["losses_kw"].where(converged)) * dt_h),
        },
        "cost": {
            "electricity": electricity_cost,
            "gas": gas_kwh * gas_per_kwh,
            **({"heat_fuel": heat["fuel_cost"], "heat_pump_electricity": heat["pump_cost"]} if heat else {}),
            "total": electricity_cost + gas_kwh * gas_per_kwh + heat_cost,
        },
        "co2": {
            "co2_kg": float(np.nansum(imported * intensity) * dt_h + gas_kwh * gas_co2_kg_per_kwh)
            + heat.get("co2_kg", 0.0)
        },
        "peak": peak_kpis(p_ext, dt_h),
        "comfort": big.comfort(),
        "grid": _grid_kpis(big.bus_kpis, trafos, converged, dt_h),
        "storage": big.storage(),
        "heat": {k: v for k, v in heat.items() if k not in ("fuel_cost", "pump_cost")},
        "limit": _limit(big.district_kw(), dt_h, limit_kw, limit_tolerance),
        "admm": _admm(out_dir),
        "control": _control(out_dir),
        "security": security_kpis(out_dir, step_s),  # attacks and anomaly checks (security_kpis.py)
        "run": {
            "steps": int(grid["time_s"].nunique()),
            "step_s": step_s,
            "buildings": int(entities["kind"].isin(["building", "device"]).sum()),
            "external_devices": int((entities["kind"] == "device").sum()),
            "currency": currency,  # of the scenario's prices, and so of the `cost` KPIs
        },
    }
    return kpis


BUILDING_SUMS = ("gas_kw", "pv_kw", "hp_p_kw", "comfort_cold_k", "comfort_hot_k")


class _EntityTables:
    """What the KPIs need of `buildings`, `batteries` and `buses`, accumulated over time windows."""

    def __init__(
        self,
        out_dir: Path,
        step_times: np.ndarray,
        entities: pd.DataFrame,
        prices: pd.DataFrame,
        dt_h: float,
        window_rows: int,
    ) -> None:
        self.buildings = stream.dataset(out_dir, "buildings")
        if self.buildings is None:
            read_table(out_dir, "buildings")  # raises the error naming the missing table
            raise FileNotFoundError(f"{out_dir}: no results for table 'buildings'")
        self.batteries = stream.dataset(out_dir, "batteries")
        self.buses = stream.dataset(out_dir, "buses")
        self.columns = set(self.buildings.schema.names)
        self.entities, self.prices, self.dt_h = entities, prices, dt_h
        self.bounds = stream.windows(step_times, stream.row_count(self.buildings), window_rows)
        if self.buses is not None:  # as many windows as the larger of the two tables asks for
            by_buses = stream.windows(step_times, stream.row_count(self.buses), window_rows)
            self.bounds = max(self.bounds, by_buses, key=len)
        self.electricity_cost = 0.0
        self.meter_import_kw = 0.0
        self.meter_export_kw = 0.0
        self.sums = dict.fromkeys(BUILDING_SUMS, 0.0)
        self.per_building = pd.Series(dtype=float)  # Σ comfort_violation_k per building
        self.t_in: list[float] = []  # each window's min and max indoor temperature
        self.districts: list[pd.Series] = []  # Σ of the meters per time_s, window by window
        self.clipped_kw = 0.0
        self.battery_p_kw = 0.0
        self.bus_kpis: dict[str, float] | None = None

    def read(self, v_min_pu: float, v_max_pu: float) -> None:
        building_columns = ["entity", "p_kw", "comfort_violation_k", "t_in_c", *BUILDING_SUMS]
        bus_outside, bus_min, bus_max = 0, [], []
        for buildings, batteries, buses in zip(
            stream.scan(self.buildings, building_columns, self.bounds),
            stream.scan(self.batteries, ["entity", "p_kw", "clipped_kw"], self.bounds),
            stream.scan(self.buses, ["v_pu"], self.bounds),
            strict=True,
        ):
            assert buildings is not None
            self._buildings(buildings, batteries)
            if batteries is not None:
                self.clipped_kw += float(batteries["clipped_kw"].abs().sum())
                self.battery_p_kw += float(batteries["p_kw"].abs().sum())
            if buses is not None:
                v = buses["v_pu"]
                bus_outside += int((((v < v_min_pu) | (v > v_max_pu)) & v.notna()).sum())
                bus_min.append(float(v.min()))
                bus_max.append(float(v.max()))
        if self.buses is not None:
            self.bus_kpis = {
                "voltage_violation_bus_h": float(bus_outside * self.dt_h),
                "v_min_pu": _nan_min(bus_min),
                "v_max_pu": _nan_max(bus_max),
            }

    def _buildings(self, buildings: pd.DataFrame, batteries: pd.DataFrame | None) -> None:
        meter = _meter_power(buildings, batteries, self.entities)
        times = meter.index.get_level_values("time_s")
        price_in = self.prices["import_per_kwh"].reindex(times).to_numpy()
        price_out = self.prices["export_per_kwh"].reindex(times).to_numpy()
        m = meter.to_numpy()
        self.electricity_cost += float(
            np.sum((price_in * np.clip(m, 0, None) - price_out * np.clip(-m, 0, None)) * self.dt_h)
        )
        self.meter_import_kw += float(np.clip(m, 0, None).sum())
        self.meter_export_kw += float(np.clip(-m, 0, None).sum())
        self.districts.append(meter.groupby(level="time_s").sum())
        for column in BUILDING_SUMS:
            if column in buildings:
                self.sums[column] += float(buildings[column].sum())
            elif column in ("gas_kw", "pv_kw", "hp_p_kw"):
                raise KeyError(column)  # a buildings table without it is not one of this platform's
        per_building = buildings.groupby("entity")["comfort_violation_k"].sum()
        self.per_building = self.per_building.add(per_building, fill_value=0.0)
        self.t_in += [float(buildings["t_in_c"].min()), float(buildings["t_in_c"].max())]

    def district_kw(self) -> pd.Series:
        """Σ of the meters (buildings + their batteries) per time_s."""
        return pd.concat(self.districts) if self.districts else pd.Series(dtype=float)

    def comfort(self) -> dict[str, float]:
        per_building = self.per_building * self.dt_h
        out = {
            "discomfort_kh": float(per_building.sum()),
            "discomfort_kh_per_building": float(per_building.mean()),
            "t_in_min_c": _nan_min(self.t_in[0::2]),
            "t_in_max_c": _nan_max(self.t_in[1::2]),
        }
        # the split: below t_min_c (heating discomfort) and above t_max_c (cooling discomfort)
        split = (("comfort_cold_k", "heating_discomfort_kh"), ("comfort_hot_k", "cooling_discomfort_kh"))
        for column, key in split:
            if column in self.columns:
                out[key] = float(self.sums[column] * self.dt_h)
        return out

    def storage(self) -> dict[str, float]:
        if self.batteries is None:
            return {"clipped_kwh": 0.0, "battery_throughput_kwh": 0.0}
        return {
            "clipped_kwh": float(self.clipped_kw * self.dt_h),
            "battery_throughput_kwh": float(self.battery_p_kw * self.dt_h),
        }


def _nan_min(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return min(finite) if finite else float("nan")


def _nan_max(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return max(finite) if finite else float("nan")


def _heat(out_dir: Path, prices: pd.DataFrame, dt_h: float) -> dict[str, Any]:
    """KPIs of the heat network (empty without one); see the module docstring. Steps whose
    calculation did not converge have NaN losses and pump power: they are left out of those sums
    and counted in `non_converged_steps`."""
    network = _optional(out_dir, "heat_network")
    if network is None:
        return {}
    sources = _optional(out_dir, "heat_sources")
    delivered = float(network["q_demand_kw"].sum() * dt_h)
    losses = float(np.nansum(network["q_loss_kw"]) * dt_h)
    pump_kw = network.set_index("time_s")["p_pump_kw"]
    price = prices["import_per_kwh"].reindex(pump_kw.index).to_numpy()
    out: dict[str, Any] = {
        "delivered_kwh": delivered,
        "losses_kwh": losses,
        "losses_pct": 100.0 * losses / delivered if delivered > 0 else float("nan"),
        "plant_heat_kwh": float(network["q_plant_kw"].sum() * dt_h),
        "unserved_kwh": float(network["unserved_kw"].sum() * dt_h),
        "unserved_steps": int((network["unserved_kw"] > 0).sum()),
        "pump_kwh": float(np.nansum(pump_kw.to_numpy()) * dt_h),
        "co2_kg": float(network["co2_kg"].sum()),
        "pm_kg": float(network["pm_kg"].sum()),
        "non_converged_steps": int((network["converged"].fillna(0) == 0).sum()),
        "fuel_cost": 0.0,
        "pump_cost": float(np.nansum(pump_kw.to_numpy() * price) * dt_h),
    }
    if sources is not None:
        for name, rows in sources.groupby("entity", sort=False):
            source = str(name).rsplit(".", 1)[-1]
            unit = re.sub(r"[^a-z0-9]+", "_", str(rows["fuel_unit"].iloc[0]).lower()).strip("_") or "unit"
            out[f"{source}_heat_kwh"] = float(rows["q_kw"].sum() * dt_h)
            out[f"{source}_fuel_{unit}"] = float(rows["fuel"].sum())
            out[f"{source}_cost"] = float(rows["cost"].sum())
            out["fuel_cost"] += float(rows["cost"].sum())
    return out


def _limit(district: pd.Series, dt_h: float, limit_kw: float | None, tolerance: float) -> dict[str, float]:
    """Exceedance of the shared limit by the district's net exchange at the meters (`district`: Σ
    buildings + their batteries per time_s), in either direction."""
    if limit_kw is None:
        return {}
    excess = (district.abs() - limit_kw).clip(lower=0.0)
    exceeded = excess > tolerance * limit_kw
    return {
        "limit_kw": limit_kw,
        "district_peak_kw": float(district.abs().max()),
        "exceeded_h": float(exceeded.sum() * dt_h),
        "max_excess_kw": float(excess.max()),
        "excess_kwh": float(excess.sum() * dt_h),
    }


def _control(out_dir: Path) -> dict[str, float]:
    """Lockstep/real-time exchange statistics of an MQTT run (empty for in-process control)."""
    steps = _optional(out_dir, "control_steps")
    if steps is None:
        return {}
    out = {
        "late_agent_steps": int(steps["late_agents"].sum()),
        "step_ms_median": float(steps["step_ms"].median()),
        "step_ms_p99": float(steps["step_ms"].quantile(0.99)),
    }
    if "deadline_missed" in steps and steps["deadline_missed"].notna().any():
        out |= {
            "deadline_misses": int(steps["deadline_missed"].fillna(False).astype(bool).sum()),
            "start_lag_ms_max": float(steps["start_lag_ms"].max()),
            "deadline_lag_ms_max": float(steps["deadline_lag_ms"].max()),
        }
    return out


def _admm(out_dir: Path) -> dict[str, float]:
    steps = _optional(out_dir, "admm_steps")
    if steps is None:
        return {}
    timing = _optional(out_dir, "admm_steps_timing")  # wall times, apart from the reproducible table
    return {
        "iterations_mean": float(steps["iterations"].mean()),
        "iterations_max": int(steps["iterations"].max()),
        "converged_share": float(steps["converged"].mean()),
        "fallback_steps": int(steps["fallback"].notna().sum()),
        **({} if timing is None else {"step_wall_time_ms_mean": float(timing["wall_time_ms"].mean())}),
        **_gap(steps),
    }


def _gap(steps: pd.DataFrame) -> dict[str, float]:
    """Optimality gap against the centralised MPC, where it ran (controller.admm.centralised_check)."""
    if "gap" not in steps or steps["gap"].isna().all():
        return {}
    gap = steps["gap"].dropna()
    return {"gap_mean": float(gap.mean()), "gap_max": float(gap.max()), "gap_steps": int(gap.size)}


def _meter_power(
    buildings: pd.DataFrame, batteries: pd.DataFrame | None, entities: pd.DataFrame
) -> pd.Series:
    """Net power at each building meter (building + its battery), indexed by (time_s, building)."""
    meter = buildings.set_index(["time_s", "entity"])["p_kw"].copy()
    if batteries is not None:
        owners = entities.set_index("name")["building"]
        behind = batteries[batteries["entity"].map(owners).notna()]
        if not behind.empty:
            add = behind.assign(entity=behind["entity"].map(owners)).set_index(["time_s", "entity"])["p_kw"]
            meter = meter.add(add, fill_value=0.0)
    return meter


def _comfort(buildings: pd.DataFrame, dt_h: float) -> dict[str, float]:
    """The comfort KPIs of a whole `buildings` table (`_EntityTables.comfort` accumulates the same
    over time windows)."""
    per_building = buildings.groupby("entity")["comfort_violation_k"].sum() * dt_h
    out = {
        "discomfort_kh": float(per_building.sum()),
        "discomfort_kh_per_building": float(per_building.mean()),
        "t_in_min_c": float(buildings["t_in_c"].min()),
        "t_in_max_c": float(buildings["t_in_c"].max()),
    }
    # the split: below t_min_c (heating discomfort) and above t_max_c (cooling discomfort)
    split = (("comfort_cold_k", "heating_discomfort_kh"), ("comfort_hot_k", "cooling_discomfort_kh"))
    for column, key in split:
        if column in buildings:
            out[key] = float(buildings[column].sum() * dt_h)
    return out


def _grid_kpis(
    bus_kpis: dict[str, float] | None, trafos: pd.DataFrame | None, converged: pd.Series, dt_h: float
) -> dict[str, float]:
    out: dict[str, float] = {"non_converged_steps": int((~converged).sum())}
    if bus_kpis is not None:
        out |= bus_kpis
    if trafos is not None:
        overloaded = trafos.groupby("time_s")["loading_pct"].max() > 100.0
        out |= {
            "trafo_overload_h": float(overloaded.sum() * dt_h),
            "trafo_loading_max_pct": float(trafos["loading_pct"].max()),
        }
    return out


def partial_kpis(out_dir: Path) -> dict[str, Any] | None:
    """KPIs of the finished steps of a run that did not finish (stopped, interrupted, failed),
    marked `run.partial`; None if it wrote no step. The scenario comes from the run's run.json."""
    import json

    from cosim.scenario.model import Scenario

    out = Path(out_dir)
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    try:
        read_table(out, "grid")
    except FileNotFoundError:
        return None
    s = Scenario.model_validate(info["scenario"])
    prices = s.sources.prices
    kpis = compute_kpis(out, s.step, s.grid.v_min_pu, s.grid.v_max_pu, prices.gas_per_kwh,
                        prices.gas_co2_kg_per_kwh, s.grid.transformer_limit_kw)
    kpis["run"] |= {"partial": True, "planned_steps": s.n_steps, "status": info.get("status")}
    return kpis
