"""Building model: calibration, energy balance, thermostat, setpoints, flexible load, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulators.building import kernel, thermal
from simulators.building.model import BuildingFleet, BuildingSpec, Controls, WeatherInputs, heater_capacity_kw
from simulators.sources.weather import Site, synthetic_weather

STEP_S = 900


def _weather(times: pd.DatetimeIndex, n: int) -> list[WeatherInputs]:
    w = synthetic_weather(times, Site(), seed=1)
    names = ["t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s"]
    return [WeatherInputs(*(np.full(n, getattr(w, a)[k]) for a in names)) for k in range(len(times))]


def _run(
    specs: list[BuildingSpec],
    controls: Controls | None = None,
    days: int = 1,
    seed: int = 1,
    start: str = "2024-01-15",
) -> tuple[BuildingFleet, list]:
    times = pd.date_range(start, periods=96 * days, freq="15min", tz="Europe/Berlin")
    fleet = BuildingFleet(specs, list(range(len(specs))), Site(), STEP_S, seed)
    steps = [
        fleet.step(t, k * STEP_S, k, w, controls or Controls.none(len(specs)))
        for k, (t, w) in enumerate(zip(times, _weather(times, len(specs)), strict=True))
    ]
    return fleet, steps


def test_discretisation_is_exact_for_constant_inputs() -> None:
    rc = thermal.calibrate(np.array([150.0]), np.array([9000.0]), 2900.0)
    one = thermal.discretise(rc, 900.0)
    sixty = thermal.discretise(rc, 60.0)
    x = np.array([[21.0, 20.0]])
    u = np.array([[0.0, 2.0, 0.3]])
    x_fine = x.copy()
    for _ in range(15):
        x_fine = thermal.advance(sixty, x_fine, u)
    np.testing.assert_allclose(thermal.advance(one, x, u), x_fine, rtol=1e-12)
    assert rc.h_total_kw_k[0] == pytest.approx(9000.0 / (2900.0 * 24.0))


def test_electric_balance_at_the_meter() -> None:
    specs = [BuildingSpec(pv_kwp=6.0), BuildingSpec(heating="gas_boiler", pv_kwp=0.0)]
    _, steps = _run(specs, start="2024-04-10")
    for s in steps:
        np.testing.assert_allclose(s.p_kw, s.p_appliances_kw + s.hp_p_kw - s.pv_kw, atol=1e-12)
    gas = np.array([s.gas_kw for s in steps])
    assert gas[:, 1].sum() > 0 and gas[:, 0].sum() == 0  # the boiler burns gas, the heat pump does not
    assert max(s.pv_kw[0] for s in steps) > 1.0  # a sunny April day produces PV


def test_district_heated_building_draws_its_heat_from_the_substation() -> None:
    """A district-heated building burns no gas and draws no heating electricity; the heat it draws
    is its space heating plus its hot water, within the substation's capacity, and the thermostat
    keeps it comfortable like the boiler's (`heating_control: thermostat`; the heating curve, the
    default for district heating, in tests/simulators/test_heating_curve.py)."""
    district = BuildingSpec(heating="district", heating_control="thermostat")
    specs = [district, BuildingSpec(heating="gas_boiler")]
    fleet, steps = _run(specs)
    capacity = heater_capacity_kw(specs)
    np.testing.assert_array_equal(capacity, fleet.boiler_q_max_kw)
    for s in steps:
        assert s.gas_kw[0] == 0.0 and s.hp_p_kw[0] == 0.0 and s.q_district_kw[1] == 0.0
        np.testing.assert_allclose(s.q_district_kw[0], s.heat_th_kw[0] + s.dhw_th_kw[0], rtol=1e-12)
        assert 0.0 <= s.heat_th_kw[0] <= capacity[0] + 1e-9
        np.testing.assert_allclose(s.p_kw[0], s.p_appliances_kw[0] - s.pv_kw[0], atol=1e-12)
        assert np.isnan(s.cop[0])
    # same thermostat and heater size as a boiler in its place: the same heat and indoor temperatures
    _, boiler = _run([BuildingSpec(heating="gas_boiler")])
    np.testing.assert_array_equal([s.heat_th_kw[0] for s in steps], [s.heat_th_kw[0] for s in boiler])
    np.testing.assert_array_equal([s.t_in_c[0] for s in steps], [s.t_in_c[0] for s in boiler])
    assert sum(float(s.comfort_violation_k[0]) for s in steps) == 0.0
    assert sum(float(s.q_district_kw[0]) for s in steps) * STEP_S / 3600 > 20.0  # a January day


def test_thermal_energy_balance_over_a_day() -> None:
    """Heat stored = heat in − heat lost, integrated over the day, from the model's own outputs."""
    spec = BuildingSpec()
    _, steps = _run([spec])
    # the simulated heat demand is of the order of the energy-signature estimate (gains lower it)
    heat_kwh = sum(float(s.heat_th_kw[0]) for s in steps) * STEP_S / 3600
    assert 10.0 < heat_kwh < 80.0
    assert all(19.0 < s.t_in_c[0] < 23.0 for s in steps)  # the thermostat keeps it near 21 °C


def test_setpoint_mode_and_comfort_violation() -> None:
    n = 2
    off = Controls(np.array([0.0, np.nan]), np.full(n, np.nan), np.full(n, np.nan), np.zeros(n))
    _, steps = _run([BuildingSpec(), BuildingSpec()], controls=off)
    space_heat_off = sum(float(s.heat_th_kw[0]) for s in steps)
    assert space_heat_off == 0.0  # heat pump forced off for space heating
    assert steps[-1].t_in_c[0] < 19.0  # a January day without heating gets cold
    assert sum(float(s.comfort_violation_k[0]) for s in steps) > 0
    assert sum(float(s.comfort_violation_k[1]) for s in steps) == pytest.approx(0.0, abs=0.05)


def test_flexible_load_is_curtailed_and_restored_within_deadline() -> None:
    n = 1
    spec = BuildingSpec(flex_share=0.1, restore_within_h=4.0)
    times = pd.date_range("2024-01-15", periods=96, freq="15min", tz="Europe/Berlin")
    fleet = BuildingFleet([spec], [0], Site(), STEP_S, 1)
    shifted = []
    for k, (t, w) in enumerate(zip(times, _weather(times, n), strict=True)):
        request = -10.0 if 17 <= t.hour < 20 else np.nan  # curtail as much as allowed, never restore
        c = Controls(np.full(n, np.nan), np.full(n, np.nan), np.full(n, request), np.zeros(n))
        shifted.append(fleet.step(t, k * STEP_S, k, w, c))
    flex = np.array([s.flex_p_kw[0] for s in shifted])
    curtailed = -flex[flex < 0].sum() * 0.25
    restored = flex[flex > 0].sum() * 0.25
    assert curtailed > 0
    assert restored == pytest.approx(curtailed, rel=1e-9)  # forced restoration at the deadline
    # curtailment never exceeds the flexible share of the appliance load
    for s in shifted:
        assert -s.flex_p_kw[0] <= 0.1 * (s.p_appliances_kw[0] - s.flex_p_kw[0]) + 1e-12
    # everything was restored 4 h after the last curtailed step (19:45–20:00) at the latest: by
    # midnight, as the urban-planning study restores its 17–20 h cut within 4 h the same day
    backlog = [s.flex_backlog_kwh[0] for s in shifted]
    assert backlog[-1] == 0 and max(backlog[k] for k, t in enumerate(times) if t.hour == 22) > 0


def test_same_seed_same_demand_different_seed_different() -> None:
    _, a = _run([BuildingSpec(pv_kwp=3.0)] * 3, seed=5)
    _, b = _run([BuildingSpec(pv_kwp=3.0)] * 3, seed=5)
    _, c = _run([BuildingSpec(pv_kwp=3.0)] * 3, seed=6)
    pa = np.array([s.p_kw for s in a])
    np.testing.assert_array_equal(pa, np.array([s.p_kw for s in b]))
    assert not np.allclose(pa, np.array([s.p_kw for s in c]))
    assert not np.allclose(pa[:, 0], pa[:, 1])  # buildings of one spec still differ


def test_annual_profiles_integrate_to_annual_energy() -> None:
    from simulators.sources.profiles import normalised_power

    times = pd.date_range("2023-01-01", periods=365 * 24 * 4, freq="15min")
    doy = np.asarray(times.dayofyear - 1, dtype=float)
    hour = np.asarray(times.hour + times.minute / 60.0)
    weekend = np.asarray(times.dayofweek >= 5)
    for use in ("appliances", "dhw"):
        total = normalised_power(use, doy, hour, weekend).sum() * 0.25
        assert total == pytest.approx(1.0, rel=0.01)


def test_unknown_building_parameter() -> None:
    with pytest.raises(ValueError, match="unknown building parameter"):
        BuildingSpec.from_dict({"floor_area": 100})


def test_pv_power_is_pvlib_bit_for_bit() -> None:
    """`pv_power_kw` does pvlib's arithmetic itself (isotropic transposition, Martin-Ruiz angle
    modifiers, Faiman, PVWatts DC, PVWatts losses and inverter): the same numbers as pvlib's own
    functions, for orientations, sun positions and weather."""
    import pvlib

    from simulators.arrays import nan_to_zero
    from simulators.building.pv import (
        DC_AC_RATIO,
        GAMMA_PDC_PER_K,
        IAM_A_R,
        INVERTER_EFF,
        SYSTEM_LOSSES_PCT,
        PvArrays,
        pv_power_kw,
    )

    rng = np.random.default_rng(7)
    n = 40
    pv = PvArrays(rng.choice([0.0, 3.0, 8.5], n), rng.uniform(0, 90, n), rng.uniform(0, 360, n))
    losses = pvlib.pvsystem.pvwatts_losses(**SYSTEM_LOSSES_PCT)
    assert 10.0 < losses < 12.0  # PVWatts' 14 % without its 3 % availability
    for zenith, azimuth in [(30.0, 180.0), (89.5, 95.0), (95.0, 270.0), (0.0, 0.0), (60.3, 140.7)]:
        ghi, dni, dhi = rng.uniform(0, 900, n), rng.uniform(0, 800, n), rng.uniform(0, 300, n)
        t_out, wind = rng.uniform(-10, 35, n), rng.uniform(0, 12, n)
        poa = pvlib.irradiance.get_total_irradiance(
            pv.tilt_deg, pv.azimuth_deg, zenith, azimuth, dni, ghi, dhi
        )
        aoi = pvlib.irradiance.aoi(pv.tilt_deg, pv.azimuth_deg, zenith, azimuth)
        iam_diffuse = pvlib.iam.martin_ruiz_diffuse(pv.tilt_deg, IAM_A_R)
        effective = poa["poa_direct"] * pvlib.iam.martin_ruiz(aoi, IAM_A_R) + (
            poa["poa_sky_diffuse"] * iam_diffuse["sky"] + poa["poa_ground_diffuse"] * iam_diffuse["ground"]
        )
        poa_global = nan_to_zero(np.asarray(poa["poa_global"], dtype=float))
        t_cell = pvlib.temperature.faiman(poa_global, t_out, wind)
        dc_kw = pvlib.pvsystem.pvwatts_dc(
            nan_to_zero(np.asarray(effective, dtype=float)), t_cell, pv.peak_kw, GAMMA_PDC_PER_K
        )
        dc_kw = np.asarray(dc_kw, dtype=float) * (1.0 - losses / 100.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ac_kw = pvlib.inverter.pvwatts(dc_kw, pv.peak_kw / DC_AC_RATIO / INVERTER_EFF, INVERTER_EFF)
        expected = np.where(pv.peak_kw > 0, ac_kw, 0.0)  # pvlib: 0/0 for a system of 0 kW
        got = pv_power_kw(pv, zenith, azimuth, ghi, dni, dhi, t_out, wind)
        assert got.tobytes() == expected.tobytes()
        assert zenith >= 90 or got.max() > 0


def test_pv_yield_in_the_reference_range_of_every_climate() -> None:
    """A south-facing 30° roof system yields the typical kWh/kWp of its climate over a synthetic
    year (Munich 950-1,150)."""
    from simulators.building.pv import PvArrays, pv_power_kw, sun_positions
    from simulators.sources.climate import CLIMATES

    for name, tz in (("munich", "Europe/Berlin"), ("paris", "Europe/Paris"), ("madrid", "Europe/Madrid")):
        c = CLIMATES[name]
        site = Site(c.latitude_deg, c.longitude_deg, 300.0, tz, name)
        times = pd.date_range("2023-01-01", periods=8760, freq="h", tz=tz)
        w = synthetic_weather(times, site, seed=2)
        sun = sun_positions(times, site)
        pv = PvArrays(np.array([1.0]), np.array([30.0]), np.array([180.0]))
        # one call for the whole year: the arithmetic is elementwise, the sun's position broadcasts
        ac_kw = pv_power_kw(pv, sun.zenith_deg, sun.azimuth_deg, w.ghi_w_m2, w.dni_w_m2,  # type: ignore[arg-type]
                            w.dhi_w_m2, w.t_out_c, w.wind_m_s)
        energy = float(ac_kw.sum())
        low, high = c.pv_kwh_kwp_range
        assert low <= energy <= high, (name, energy)


def test_compiled_step_equals_the_numpy_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kernel.STEP` (numba) against the NumPy code of `BuildingFleet.step`, bit for bit, over two
    January days: thermostat heat pumps and boilers, a heat pump held at a setpoint, one forced off
    (comfort violated), flexible load curtailed and restored, a tank charging and discharging."""
    assert kernel.STEP is not None  # numba is a dependency: without it every step takes the slow path
    specs = [BuildingSpec(), BuildingSpec(heating="gas_boiler"),
             BuildingSpec(hysteresis_k=0.2, flex_share=0.1), BuildingSpec(floor_area_m2=400.0),
             BuildingSpec(flex_share=0.08), BuildingSpec(heating="district", flex_share=0.05)]
    n = len(specs)
    times = pd.date_range("2024-01-15", periods=192, freq="15min", tz="Europe/Berlin")
    weather = _weather(times, n)
    rng = np.random.default_rng(3)

    def controls(k: int) -> Controls:
        flex = np.where(rng.random(n) < 0.3, rng.uniform(-1.0, 1.0, n), np.nan)
        tank = np.where(rng.random(n) < 0.5, rng.uniform(-2.0, 2.0, n), np.nan)
        t_set = np.where(rng.random(n) < 0.2, 19.5, np.nan)
        return Controls(np.array([np.nan, np.nan, np.nan, 2.0, 0.0, 1.0]), t_set, flex, tank)

    plan = [controls(k) for k in range(len(times))]

    def run() -> list:
        fleet = BuildingFleet(specs, list(range(n)), Site(), STEP_S, 1)
        return [fleet.step(t, k * STEP_S, k, weather[k], plan[k]) for k, t in enumerate(times)]

    compiled = run()
    monkeypatch.setattr(kernel, "STEP", None)
    reference = run()
    assert sum(float(s.comfort_violation_k[4]) for s in compiled) > 0
    assert any(float(s.flex_backlog_kwh[2]) > 0 for s in compiled)
    assert sum(float(s.q_district_kw[5]) for s in compiled) > 0
    for a, b in zip(compiled, reference, strict=True):
        for name, value in a.as_dict().items():
            np.testing.assert_array_equal(value, b.as_dict()[name], err_msg=name)
            assert np.array_equal(np.signbit(value), np.signbit(b.as_dict()[name])), name  # ±0 too


def test_compiled_step_equals_the_numpy_step_in_summer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same in July: windows opened above t_window_open_c, blinds, overheating counted."""
    specs = [BuildingSpec(space_heating_kwh_a=4500.0, t_max_c=22.0, t_window_open_c=22.5),
             BuildingSpec(blinds=False, t_window_open_c=22.0),
             BuildingSpec(space_heating_kwh_a=4500.0, t_max_c=22.0, window_ventilation=False, flex_share=0.1),
             BuildingSpec(heating="gas_boiler"),
             BuildingSpec(cooling=True, t_cool_set_c=22.0, window_ventilation=False)]
    n = len(specs)
    times = pd.date_range("2024-07-20", periods=192, freq="15min", tz="Europe/Berlin")
    weather = _weather(times, n)

    def run() -> list:
        fleet = BuildingFleet(specs, list(range(n)), Site(), STEP_S, 1)
        return [fleet.step(t, k * STEP_S, k, weather[k], Controls.none(n)) for k, t in enumerate(times)]

    compiled = run()
    monkeypatch.setattr(kernel, "STEP", None)
    reference = run()
    hot = np.array([s.comfort_hot_k for s in compiled]).sum(axis=0)
    assert hot[2] > hot[0]  # without window ventilation it gets hotter
    assert sum(float(s.cool_th_kw[4]) for s in compiled) > 0  # the reversible heat pump cools
    for a, b in zip(compiled, reference, strict=True):
        for name, value in a.as_dict().items():
            np.testing.assert_array_equal(value, b.as_dict()[name], err_msg=name)
