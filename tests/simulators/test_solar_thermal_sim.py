"""Solar-thermal collectors feeding buildings (simulators/solar_thermal/sim.py and the building's
`q_solar_kw` input), stepped together as a run steps them: the collectors' store follows
`model.dispatch` step for step, the heat taken replaces the heater's own hot-water heat (gas,
network heat, heat-pump electricity), and a bad spec names its field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulators.building.model import BuildingFleet, BuildingSpec, Controls, WeatherInputs
from simulators.solar_thermal.model import dispatch
from simulators.solar_thermal.sim import SolarThermalSim
from simulators.sources.weather import Site, synthetic_weather

SITE = Site(latitude_deg=48.85, longitude_deg=2.35, altitude_m=35.0, tz="Europe/Paris")
STEPS = 72
KINDS = ("gas_boiler", "district", "heat_pump")


def _run(start: str, area_m2: float, store_kwh: float, solar: bool) -> dict[str, Any]:
    times = pd.date_range(start, periods=STEPS, freq="h", tz=SITE.tz)
    w = synthetic_weather(times, SITE, 3)
    specs = [BuildingSpec(heating=k, floor_area_m2=400.0, dhw_kwh_a=12000.0) for k in KINDS]  # type: ignore[arg-type]
    fleet = BuildingFleet(specs, [0, 1, 2], SITE, 3600, 1, heating_degree_days_kd=2500.0)
    fleet.set_time_axis(times)
    sim = SolarThermalSim()
    sim.init("ST-0", step_size=3600, start=start, tz=SITE.tz, n_steps=STEPS,
             site={"latitude_deg": SITE.latitude_deg, "longitude_deg": SITE.longitude_deg})  # fmt: skip
    eids = [c["eid"] for c in sim.create(3, "Collector", spec={"area_m2": area_m2, "store_kwh": store_kwh})]
    out: dict[str, list[np.ndarray]] = {}
    used = np.zeros(3)
    for k, t in enumerate(times):
        weather = {f: float(getattr(w, f)[k]) for f in ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2")}
        inputs = {e: {**{a: {"W.w": v} for a, v in weather.items()}, "q_solar_used_kw": {"B.b": u}}
                  for e, u in zip(eids, used, strict=True)}  # fmt: skip
        sim.step(k * 3600, inputs, 10**9)
        got = sim.get_data({e: ["q_solar_kw", "q_collector_kw", "e_store_kwh", "q_dumped_kw"] for e in eids})
        offer = np.array([got[e]["q_solar_kw"] for e in eids])
        ins = WeatherInputs(*(np.full(3, getattr(w, f)[k]) for f in (*weather, "wind_m_s")))
        step = fleet.step(t, k * 3600, k, ins, Controls.none(3), offer if solar else None)
        used = step.q_solar_used_kw
        for name, values in {**{a: np.array([got[e][a] for e in eids]) for a in got[eids[0]]},
                             **step.as_dict()}.items():  # fmt: skip
            out.setdefault(name, []).append(values)
    return {name: np.array(rows) for name, rows in out.items()}


# July with a store: a fifth of the hot water at least from the sun; January without one: a little
@pytest.mark.parametrize("start, store_kwh, min_share", [("2023-07-10", 8.0, 0.2), ("2023-01-16", 0.0, 0.0)])
def test_collectors_and_building_follow_the_dispatch_rules(
    start: str, store_kwh: float, min_share: float
) -> None:
    r = _run(start, 12.0, store_kwh, solar=True)
    expected = dispatch(r["q_collector_kw"], r["dhw_th_kw"], np.zeros_like(r["dhw_th_kw"]),
                        np.full(3, store_kwh), dt_h=1.0)  # fmt: skip
    np.testing.assert_allclose(r["q_solar_used_kw"], expected.q_dhw_kw, atol=1e-9)
    # the store's content at a step's start is the dispatch's at the step before's end
    np.testing.assert_allclose(r["e_store_kwh"][1:], expected.e_store_kwh[:-1], atol=1e-9)
    np.testing.assert_allclose(r["q_dumped_kw"][1:], expected.q_dumped_kw[:-1], atol=1e-9)
    assert r["q_solar_used_kw"].sum() > min_share * r["dhw_th_kw"].sum() and r["q_solar_used_kw"].max() > 0
    assert np.all(r["q_solar_used_kw"] <= r["dhw_th_kw"] + 1e-12)


def test_solar_heat_replaces_the_heaters_hot_water_heat() -> None:
    with_solar, without = _run("2023-07-10", 12.0, 8.0, True), _run("2023-07-10", 12.0, 8.0, False)
    used = with_solar["q_solar_used_kw"]
    assert without["q_solar_used_kw"].sum() == 0.0
    # the same rooms: solar heat only ever replaces hot-water heat
    np.testing.assert_array_equal(with_solar["t_in_c"], without["t_in_c"])
    gas, district = KINDS.index("gas_boiler"), KINDS.index("district")
    boiler_eff = BuildingSpec().boiler_eff
    np.testing.assert_allclose(without["gas_kw"][:, gas] - with_solar["gas_kw"][:, gas],
                               used[:, gas] / boiler_eff, atol=1e-9)  # fmt: skip
    network_saved = without["q_district_kw"][:, district] - with_solar["q_district_kw"][:, district]
    np.testing.assert_allclose(network_saved, used[:, district], atol=1e-9)
    hp = KINDS.index("heat_pump")
    saved = without["p_kw"][:, hp] - with_solar["p_kw"][:, hp]
    assert np.all(saved >= -1e-12) and saved.sum() > 0.1 * used[:, hp].sum()


def test_a_bad_spec_names_the_field() -> None:
    sim = SolarThermalSim()
    sim.init("ST-0", step_size=3600, start="2023-01-01", tz="Europe/Paris", n_steps=2)
    with pytest.raises(ValueError, match="area_m2"):
        sim.create(1, "Collector", spec={"area_m2": -1.0})
    with pytest.raises(ValueError, match="unknown solar-thermal parameter 'tilt'"):
        sim.create(1, "Collector", spec={"area_m2": 4.0, "tilt": 30})
