"""Weather-compensated heating of district-heated buildings (simulators/building/heating_curve.py):
the curve itself, the heat it draws on a cold day against the air thermostat's, comfort, night
setback, and the compiled step against the NumPy step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulators.building import kernel
from simulators.building.heating_curve import MARGIN_K, HeatingCurves
from simulators.building.model import BuildingFleet, BuildingSpec, Controls, WeatherInputs
from simulators.sources.weather import Site, synthetic_weather

PARIS = Site(latitude_deg=48.85, longitude_deg=2.35, altitude_m=35.0, tz="Europe/Paris")
# the eco-district's flats (scenarios/eco-district-b.yaml): 8,000 m², near-passive, large gains
FLATS = dict(type="multi_family", floor_area_m2=8000.0, space_heating_kwh_a=99760.0, dhw_kwh_a=28480.0,
             appliances_kwh_a=156800.0, heating="district", t_set_c=21.0, hysteresis_k=0.05)  # fmt: skip
NAMES = ("t_out_c", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "wind_m_s")


def _flats(**changes: object) -> BuildingSpec:
    values = {k: v for k, v in FLATS.items() if k != "type"}
    return BuildingSpec.from_dict({**values, **changes})


def _curves(n: int, damping_h: float = 0.0, room: float = 0.0) -> HeatingCurves:
    spec = BuildingSpec(heating="district", curve_damping_h=damping_h, curve_room_k_per_k=room)
    return HeatingCurves.of([spec] * n, np.ones(n, dtype=bool), np.full(n, 5.0), np.full(n, 21.0),
                            np.full(n, 100.0), np.full(n, 13.0 - MARGIN_K))  # fmt: skip


def test_heat_rises_monotonically_as_the_outdoor_temperature_falls() -> None:
    """Undamped, no room influence: H·(base − T_out), zero above the base (the balance point +
    the margin), capped at the capacity."""
    t_out = np.linspace(25.0, -30.0, 111)
    curves = _curves(t_out.size)
    q, t_trv = curves.step(pd.Timestamp("2023-01-10 03:00"), 3600.0, t_out, np.full(t_out.size, 21.0),
                           np.full(t_out.size, 21.0))  # fmt: skip
    assert np.all(np.diff(q) >= 0.0)
    heating = (t_out < 13.0) & (q < 100.0)
    assert np.all(np.diff(q[heating]) > 0.0)  # strictly, between the base and the capacity
    np.testing.assert_allclose(q[heating], 5.0 * (13.0 - t_out[heating]), rtol=1e-12)
    assert np.all(q[t_out >= 13.0] == 0.0) and q.max() == 100.0
    np.testing.assert_array_equal(t_trv, 21.5)  # the valves close 0.5 K above the setpoint


def test_damping_and_room_influence() -> None:
    """The curve follows the damped outdoor temperature (first order, τ = 24 h); a room 1 K below
    the setpoint shifts it up by `curve_room_k_per_k` kelvin."""
    curves = _curves(2, damping_h=24.0, room=3.0)
    now = pd.Timestamp("2023-01-10 12:00")
    curves.step(now, 3600.0, np.full(2, 5.0), np.full(2, 21.0), np.full(2, 21.0))  # starts at 5 °C
    q, _ = curves.step(now, 3600.0, np.full(2, -5.0), np.array([21.0, 20.0]), np.full(2, 21.0))
    damped = 5.0 - 10.0 * (1.0 - np.exp(-1.0 / 24.0))
    np.testing.assert_allclose(curves.t_damped_c, damped, rtol=1e-12)
    np.testing.assert_allclose(q, 5.0 * (13.0 + np.array([0.0, 3.0]) - damped), rtol=1e-12)


def test_only_buildings_on_a_curve_are_changed() -> None:
    spec = BuildingSpec(heating="district")
    curves = HeatingCurves.of([spec, spec], np.array([True, False]), np.full(2, 0.5), np.full(2, 21.0),
                              np.full(2, 100.0), np.full(2, 13.0 - MARGIN_K))  # fmt: skip
    q, t_trv = curves.step(pd.Timestamp("2023-01-10"), 3600.0, np.full(2, 0.0), np.full(2, 21.0),
                           np.array([21.0, 19.0]))  # fmt: skip
    assert q[1] == 100.0 and t_trv[1] == 19.0  # not on a curve: capacity and setpoint unchanged
    assert q[0] == pytest.approx(0.5 * 13.0) and t_trv[0] == 21.5


def test_heating_control_defaults_and_checks() -> None:
    assert BuildingSpec(heating="district").uses_curve
    assert not BuildingSpec(heating="district", heating_control="thermostat").uses_curve
    assert not BuildingSpec(heating="gas_boiler").uses_curve and not BuildingSpec().uses_curve
    assert BuildingSpec(heating="gas_boiler", heating_control="curve").uses_curve
    with pytest.raises(ValueError, match="district and gas_boiler"):
        BuildingSpec.from_dict({"heating": "heat_pump", "heating_control": "curve"})
    with pytest.raises(ValueError, match="must differ"):
        BuildingSpec.from_dict(
            {"heating": "district", "setback_k": 2.0, "setback_from_h": 5, "setback_to_h": 5}
        )


def _january(specs: list[BuildingSpec], days: int, seed: int = 2) -> list:
    times = pd.date_range("2023-01-01", periods=24 * days, freq="h", tz=PARIS.tz)
    w = synthetic_weather(times, PARIS, seed)
    fleet = BuildingFleet(specs, list(range(len(specs))), PARIS, 3600, seed)
    fleet.set_time_axis(times)
    n = len(specs)
    steps = []
    for k, t in enumerate(times):
        inputs = WeatherInputs(*(np.full(n, getattr(w, f)[k]) for f in NAMES))
        steps.append(fleet.step(t, k * 3600, k, inputs, Controls.none(n)))
    return steps


def test_curve_spreads_the_heat_over_the_day_and_keeps_the_flats_comfortable() -> None:
    """The eco-district's flats, three January weeks in Paris: by the air thermostat the heat comes
    at night (the sun and appliances cover the afternoon; the air is held at the setpoint, so the
    mass stores little of it), ~8:1 between the hours of the day; by the heating curve the
    night/afternoon ratio stays below 2.5, the peak falls by a quarter, the heat over the weeks stays
    within 10 %, and the rooms stay within ~1.5 K of the setpoint, rarely below the band."""
    days = 21
    thermostat, curve = _flats(heating_control="thermostat"), _flats()
    steps = _january([thermostat, curve], days)
    heat = np.array([s.heat_th_kw for s in steps])
    by_hour = heat.reshape(days, 24, 2).mean(axis=0)  # mean by hour of day
    swing = by_hour.max(axis=0) / by_hour.min(axis=0)
    assert swing[0] > 5.0
    assert swing[1] < 2.5
    assert heat[:, 1].max() < 0.75 * heat[:, 0].max()
    assert abs(heat[:, 1].sum() / heat[:, 0].sum() - 1.0) < 0.10
    t_in = np.array([s.t_in_mean_c for s in steps])
    assert 20.0 < t_in[:, 1].mean() < 21.5
    assert t_in[:, 1].min() > 21.0 - 1.5 and t_in[:, 1].max() < 21.0 + 2.0
    cold_kh = np.array([s.comfort_cold_k for s in steps])[:, 1].sum()  # K·h below t_min_c (20 °C)
    assert cold_kh < 0.02 * 24 * days


def test_night_setback_lowers_the_night_heat() -> None:
    """With `setback_k` the curve and the valves are lowered from 22 to 6 h: less heat at night,
    rooms cooler then, and a morning recovery after 6 h."""
    days = 7
    steps = _january([_flats(), _flats(setback_k=3.0)], days)
    heat = np.array([s.heat_th_kw for s in steps]).reshape(days, 24, 2)
    night = [0, 1, 2, 3, 4, 5, 22, 23]
    assert heat[:, night, 1].sum() < 0.8 * heat[:, night, 0].sum()
    assert heat[:, 6:9, 1].sum() > heat[:, 6:9, 0].sum()  # the recovery
    t_in = np.array([s.t_in_mean_c for s in steps]).reshape(days, 24, 2)
    assert t_in[1:, 5, 1].mean() < t_in[1:, 5, 0].mean() - 0.5


def test_compiled_step_equals_the_numpy_step_with_curves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buildings on curves (with setback, a controller's setpoint now and then) beside a thermostat
    boiler: the numba kernel and the NumPy step give the same numbers bit for bit."""
    assert kernel.STEP is not None
    specs = [
        BuildingSpec(heating="district"),
        BuildingSpec(heating="district", setback_k=2.0),
        BuildingSpec(heating="gas_boiler"),
        BuildingSpec(heating="gas_boiler", heating_control="curve"),
    ]
    n = len(specs)
    times = pd.date_range("2024-01-15", periods=96, freq="15min", tz="Europe/Berlin")
    w = synthetic_weather(times, Site(), seed=1)
    weather = [WeatherInputs(*(np.full(n, getattr(w, f)[k]) for f in NAMES)) for k in range(len(times))]
    rng = np.random.default_rng(5)
    t_sets = [np.where(rng.random(n) < 0.2, 19.5, np.nan) for _ in times]

    none = Controls.none(n)
    plan = [Controls(none.hp_p_set_kw, t_set, none.flex_shift_kw, none.tank_p_th_kw) for t_set in t_sets]

    def run() -> list:
        fleet = BuildingFleet(specs, list(range(n)), Site(), 900, 1)
        return [fleet.step(t, k * 900, k, weather[k], plan[k]) for k, t in enumerate(times)]

    compiled = run()
    monkeypatch.setattr(kernel, "STEP", None)
    reference = run()
    assert sum(float(s.q_district_kw[1]) for s in compiled) > 0
    for a, b in zip(compiled, reference, strict=True):
        for name, value in a.as_dict().items():
            np.testing.assert_array_equal(value, b.as_dict()[name], err_msg=name)
