"""Calibration benchmark: buildings and weather against their reference ranges (issue 17).

For each climate preset (Munich, Paris, Madrid) it simulates one year at hourly steps of the two
building presets and three custom buildings, calibrated on the climate's reference year (weather
seed 0) and run on another (`--seed`, default 1, year 2025), under their thermostats (plus the
single-family preset with cooling on), and prints:

1. the synthetic weather against the climate: annual and worst monthly GHI, degree days;
2. the calibration table: configured vs simulated space heating, hot water and appliances,
   PV yield, heat-pump seasonal COP, hours below and above the comfort band, share of summer
   hours above 26 °C, each against its reference range (✓ / ✗);
3. what the seasonal COP holds beyond the steady-state COP: the building presets with the
   steady-state COP alone (no cycling losses, no auxiliary electricity), with the cycling below the
   minimum modulation (EN 14825, Cd 0.9), and with the auxiliary electricity too (the default);
4. the spread over weather years: the building presets' seasonal COP and summer hours above
   26 °C on the seeds 0 to 3;
5. the controllers' model error: the ADMM agents and the MPC predict a building with the linear
   2R2C network and the exogenous gains (`BuildingFleet.rc`, `BuildingFleet.exogenous`); the
   simulator adds window and night ventilation (state-dependent heat flows) and the cycling of a
   setpoint below the heat pump's minimum modulation, which the linear model does not know.
   One-step indoor-temperature prediction error over a winter and a summer week
   (15-minute steps), the heat pump held each step at the setpoint of a simple proportional
   room-temperature controller (as a controller would set it: the room near 21 °C).

Run: `python benchmarks/bench_calibration.py [--seed 1] [--climates munich,paris,madrid] [--seeds 0,1,2,3]`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from simulators.building import thermal
from simulators.building.annual import WEATHER_FIELDS, AnnualResult, simulate_year
from simulators.building.model import BuildingFleet, BuildingSpec, Controls, WeatherInputs
from simulators.building.presets import PRESETS
from simulators.sources.climate import CLIMATES
from simulators.sources.weather import Site, degree_days_kd, synthetic_weather

TZ = {"munich": "Europe/Berlin", "paris": "Europe/Paris", "madrid": "Europe/Madrid"}
ALTITUDE_M = {"munich": 520.0, "paris": 35.0, "madrid": 650.0}
SCOP_RANGE = (2.8, 3.8)
SUMMER_LIMIT = 0.10
HEAT_TOLERANCE = 0.05


def _preset(name: str, **extra: object) -> BuildingSpec:
    p = PRESETS[name]
    values = {"floor_area_m2": p.floor_area_m2, "appliances_kwh_a": p.appliances_kwh_a,
              "dhw_kwh_a": p.dhw_kwh_a, "space_heating_kwh_a": p.space_heating_kwh_m2a * p.floor_area_m2,
              **extra}
    return BuildingSpec.from_dict(values)


BUILDINGS: dict[str, BuildingSpec] = {
    "single_family (preset, HP, PV)": _preset("single_family", pv_kwp=6.0),
    "multi_family (preset, HP, PV)": _preset("multi_family", pv_kwp=20.0),
    "custom: 100 kWh/m2a, radiators 45 C": BuildingSpec(space_heating_kwh_a=15000.0, t_supply_space_c=45.0),
    "custom: 140 kWh/m2a, gas boiler": BuildingSpec(floor_area_m2=120.0, space_heating_kwh_a=16800.0,
                                                    heating="gas_boiler"),
    "custom: 30 kWh/m2a, big windows, DH": BuildingSpec(space_heating_kwh_a=4500.0, window_m2_per_m2=0.25,
                                                        heating="district"),
    "single_family with cooling (25 C)": _preset("single_family", cooling=True),
}


def site_of(name: str) -> Site:
    c = CLIMATES[name]
    return Site(c.latitude_deg, c.longitude_deg, ALTITUDE_M[name], TZ[name], name)


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def weather_table(climates: list[str], seed: int, console: Console) -> None:
    table = Table(title=f"Synthetic weather, seed {seed}, 2025 (reference: the climate preset)")
    columns = ("climate", "GHI kWh/m2a", "reference", "Δ annual", "worst month Δ", "HDD 20/15 K·d",
               "T mean °C")
    for col in columns:
        table.add_column(col, justify="right")
    for name in climates:
        site = site_of(name)
        times = pd.date_range("2025-01-01", periods=8760, freq="h", tz=site.tz)
        w = synthetic_weather(times, site, seed)
        c = CLIMATES[name]
        monthly = pd.Series(w.ghi_w_m2, index=times).groupby(times.month).sum().to_numpy() / 1000.0
        worst = float(np.max(np.abs(monthly / np.asarray(c.ghi_kwh_m2_month) - 1.0)))
        annual = float(w.ghi_w_m2.sum() / 1000.0)
        dev = annual / c.ghi_kwh_m2_a - 1.0
        table.add_row(name, f"{annual:,.0f}", f"{c.ghi_kwh_m2_a:,.0f}",
                      f"{100 * dev:+.1f} % {mark(abs(dev) <= 0.05)}",
                      f"{100 * worst:.1f} % {mark(worst <= 0.15)}", f"{degree_days_kd(w.t_out_c, 1.0):,.0f}",
                      f"{w.t_out_c.mean():.1f}")  # fmt: skip
    console.print(table)


def calibration_table(name: str, result: AnnualResult, seconds: float, console: Console) -> bool:
    low, high = CLIMATES[name].pv_kwh_kwp_range
    table = Table(title=f"{name}: calibrated on the reference year (seed 0), simulated on another "
                        f"({seconds:.0f} s for the year)")  # fmt: skip
    for col in ("building", "space heating conf → sim kWh", "hot water kWh", "appliances kWh",
                f"PV kWh/kWp ({low:.0f}-{high:.0f})", f"SCOP ({SCOP_RANGE[0]}-{SCOP_RANGE[1]})",
                "h below band", "h above band", f"summer h > 26 °C (< {100 * SUMMER_LIMIT:.0f} %)",
                "cooling kWh"):
        table.add_column(col, justify="right")
    all_ok = True
    for k, (label, spec) in enumerate(BUILDINGS.items()):
        heat_dev = result.heat_kwh[k] / spec.space_heating_kwh_a - 1.0
        pv = result.pv_kwh_per_kwp[k]
        scop = result.seasonal_cop[k]
        summer = result.summer_share_above_26[k]
        checks = [abs(heat_dev) <= HEAT_TOLERANCE, summer < SUMMER_LIMIT]
        pv_text = "-"
        if not np.isnan(pv):
            pv_text = f"{pv:,.0f} {mark(low <= pv <= high)}"
            checks.append(low <= pv <= high)
        scop_text = "-"
        if not np.isnan(scop):
            in_range = SCOP_RANGE[0] <= scop <= SCOP_RANGE[1]
            scop_text = f"{scop:.2f} {mark(in_range)}"
            checks.append(in_range)
        all_ok = all_ok and all(checks)
        table.add_row(
            label,
            f"{spec.space_heating_kwh_a:,.0f} → {result.heat_kwh[k]:,.0f} ({100 * heat_dev:+.1f} % "
            f"{mark(abs(heat_dev) <= HEAT_TOLERANCE)})",
            f"{spec.dhw_kwh_a:,.0f} → {result.dhw_kwh[k]:,.0f}",
            f"{spec.appliances_kwh_a:,.0f} → {result.appliances_kwh[k]:,.0f}",
            pv_text, scop_text, f"{result.hours_below_band[k]:.0f}", f"{result.hours_above_band[k]:.0f}",
            f"{100 * summer:.1f} % {mark(summer < SUMMER_LIMIT)}",
            f"{result.cool_kwh[k]:,.0f}" if spec.cooling else "-",
        )  # fmt: skip
    console.print(table)
    return all_ok


@dataclass(frozen=True)
class Mismatch:
    rms_k: float
    max_k: float
    open_share: float


def model_mismatch(site: Site, start: str, seed: int) -> Mismatch:
    """One-step T_in prediction error of the controllers' linear model against the simulator over
    a week at 15-minute steps, the heat pump held at a proportional controller's setpoint."""
    step_s = 900
    spec = BuildingSpec()
    times = pd.date_range(start, periods=7 * 96, freq="15min", tz=site.tz)
    fleet = BuildingFleet([spec], [0], site, step_s, seed)
    fleet.set_time_axis(times)
    model = thermal.discretise(fleet.rc, float(step_s))
    w = synthetic_weather(times, site, seed)
    errors, opened = [], 0
    for k, t in enumerate(times):
        inputs = WeatherInputs(*(np.full(1, getattr(w, f)[k]) for f in WEATHER_FIELDS))
        ex = fleet.exogenous(t, k, inputs)
        # steady-state loss plus 2 kW per kelvin below 21 °C, as electric power
        heat_kw = fleet.rc.h_total_kw_k * (21.0 - inputs.t_out_c) + 2.0 * (21.0 - x0_c(fleet))
        p_set = np.clip(heat_kw / ex.cop_space, 0.0, fleet.hp_p_max_kw)
        x0 = fleet.x.copy()
        controls = Controls(p_set, np.full(1, np.nan), np.full(1, np.nan), np.zeros(1))
        s = fleet.step(t, k * step_s, k, inputs, controls)
        q_air = ex.q_air_gain_kw + p_set * ex.cop_space  # the controllers: heat = COP × setpoint
        u = np.stack([inputs.t_out_c, q_air, ex.q_mass_gain_kw], axis=1)
        predicted = thermal.advance(model, x0, u)
        errors.append(float(predicted[0, 0] - s.t_in_c[0]))
        cooler = inputs.t_out_c[0] < x0[0, 0]
        opened += int(cooler and (x0[0, 0] > spec.t_window_open_c or x0[0, 0] > ex.t_night_vent_c[0]))
    e = np.array(errors)
    return Mismatch(float(np.sqrt(np.mean(e**2))), float(np.max(np.abs(e))), opened / len(times))


def x0_c(fleet: BuildingFleet) -> np.ndarray:
    """The fleet's indoor temperatures now."""
    result: np.ndarray = fleet.x[:, 0].copy()
    return result


def mismatch_table(climates: list[str], seed: int, console: Console) -> None:
    table = Table(title="Controllers' linear building model vs the simulator: one-step T_in error (15 min)")
    for col in ("climate", "week", "RMS K", "max K", "steps with windows open"):
        table.add_column(col, justify="right")
    for name in climates:
        site = site_of(name)
        for label, start in (("January", "2025-01-13"), ("July", "2025-07-14")):
            m = model_mismatch(site, start, seed)
            table.add_row(name, label, f"{m.rms_k:.2e}", f"{m.max_k:.2e}", f"{100 * m.open_share:.0f} %")
    console.print(table)


SCOP_STEPS = {
    "steady-state COP": {"hp_min_modulation": 0.0, "hp_standby_kw": 0.0, "hp_pump_kw": 0.0},
    "+ cycling (EN 14825)": {"hp_standby_kw": 0.0, "hp_pump_kw": 0.0},
    "+ standby and pump (default)": {},
}
PRESET_LABELS = ("single_family (preset, HP, PV)", "multi_family (preset, HP, PV)")


def scop_table(climates: list[str], seed: int, console: Console) -> None:
    table = Table(title=f"What the seasonal COP holds beyond the steady state (presets, seed {seed})")
    table.add_column("climate", justify="right")
    table.add_column("building", justify="right")
    for col in SCOP_STEPS:
        table.add_column(col, justify="right")
    for name in climates:
        specs = [BUILDINGS[label].model_copy(update=update) for label in PRESET_LABELS
                 for update in SCOP_STEPS.values()]  # fmt: skip
        scop = simulate_year(specs, site_of(name), seed, 2025).seasonal_cop.reshape(len(PRESET_LABELS), -1)
        for label, row in zip(PRESET_LABELS, scop, strict=True):
            table.add_row(name, label.split(" ")[0], *(f"{v:.2f}" for v in row))
    console.print(table)


def seeds_table(climates: list[str], seeds: list[int], console: Console) -> bool:
    table = Table(title="Building presets over weather years (seed s: year 2025 of weather seed s; 0 is the "
                        "calibration's own weather, in 2025)")  # fmt: skip
    for col in ("climate", "building", *(f"seed {s}: SCOP / summer h > 26 °C" for s in seeds)):
        table.add_column(col, justify="right")
    specs = [BUILDINGS[label] for label in PRESET_LABELS]
    ok = True
    for name in climates:
        results = [simulate_year(specs, site_of(name), s, 2025) for s in seeds]
        for k, label in enumerate(PRESET_LABELS):
            cells = []
            for r in results:
                scop, summer = r.seasonal_cop[k], r.summer_share_above_26[k]
                good = SCOP_RANGE[0] <= scop <= SCOP_RANGE[1] and summer < SUMMER_LIMIT
                ok = ok and good
                cells.append(f"{scop:.2f} / {100 * summer:.1f} % {mark(good)}")
            table.add_row(name, label.split(" ")[0], *cells)
    console.print(table)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="weather seed of the checked year")
    parser.add_argument("--climates", default="munich,paris,madrid", help="comma-separated climate presets")
    parser.add_argument("--seeds", default="0,1,2,3", help="weather seeds of the spread table ('' to skip)")
    args = parser.parse_args()
    climates = [c.strip() for c in args.climates.split(",") if c.strip()]
    unknown = [c for c in climates if c not in TZ]
    if unknown:
        parser.error(f"unknown climate(s) {', '.join(unknown)}; allowed: {', '.join(TZ)}")
    console = Console(width=200)
    weather_table(climates, args.seed, console)
    ok = True
    for name in climates:
        start = time.perf_counter()
        result = simulate_year(list(BUILDINGS.values()), site_of(name), args.seed, 2025)
        ok = calibration_table(name, result, time.perf_counter() - start, console) and ok
    scop_table(climates, args.seed, console)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if seeds:
        ok = seeds_table(climates, seeds, console) and ok
    mismatch_table(climates, args.seed, console)
    console.print("every check holds" if ok else "some checks fail (✗ above)")


if __name__ == "__main__":
    main()
