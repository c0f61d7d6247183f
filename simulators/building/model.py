"""Vectorised building model: 2R2C thermal network, heat pump, gas boiler or district-heating
substation, hot water, appliances with a shiftable share, rooftop PV. Pure NumPy/pvlib; the mosaik
adapter is `sim.py`.

Signs and units: powers in kW, positive when consumed; `p_kw` is the net electric power at the
building's meter (positive = drawn from the grid, negative = fed in), excluding a battery that has
its own grid connection. `pv_kw` ≥ 0 is generation. A hot-water tank's `tank_p_th_kw` is positive
when the tank is being charged (the heater supplies that heat) and negative when it delivers heat
(first to hot water, any surplus into the heating circuit, i.e. the indoor air node).

Demand: appliance electricity and hot-water heat come from annual energy × normalised typical-day
profiles (`simulators.sources.profiles`); space heating comes from the thermal network, calibrated
so that a reference year of the site's weather, gains included, needs the annual space-heating
demand (`calibration.calibrate_fleet`; with explicit `heating_degree_days_kd` the plain energy
signature `thermal.calibrate`). All appliance electricity ends up as internal heat gains; solar
gains enter through the windows with shading and blinds (`solar`).

Summer: above `t_window_open_c` the occupants open the windows when it is cooler outside (a
ventilation conductance of `window_ach_per_h` air changes, minute by minute in the thermostat
loop); in the night hours (`calibration.NIGHT_HOURS`, 21:00–09:00) of warm nights (outdoors at
least the heating limit, 15 °C) they open the windows wide above `t_night_vent_c`
(`night_ach_per_h` air changes: night ventilation, cooling the building's mass); external blinds
close on facades in strong sun on warm days. All are on by default. The
building's mass follows its construction class (`thermal_mass`, else the climate's). With
`cooling: true` a heat pump is reversible: a second thermostat (`t_cool_set_c` ± hysteresis) runs
it as a chiller at its electric rating (EER from `heatpump.eer`) when no setpoint is given;
`cool_th_kw` ≥ 0 is the heat it removes, its electricity is part of `hp_p_kw`.

Heating modes, per building and step: with no `hp_p_set_kw` input (NaN) the heater follows a
thermostat with hysteresis (on at full power below t_set − hysteresis, off above t_set +
hysteresis, evaluated every minute inside the step); with a setpoint the heat pump runs at that
electric power (clipped to [0, hp_p_max_kw]) for the whole step. Gas-boiler buildings follow
the thermostat; district-heated buildings a heating curve (`heating_control`, default "curve" for
`district`, "thermostat" otherwise; `heating_curve`): the heat when on is the curve's output from a
damped outdoor temperature and the room's deviation, and the thermostat, as the radiators' valves,
shuts it above the setpoint + `curve_trv_offset_k`. Hot water is always served, on top of space heating.

District heating (`heating: district`): the heater is the building's substation on a heat network.
It burns no gas and draws no electricity; it delivers what its heating curve and valves ask for
(or the thermostat, with `heating_control: thermostat`), up to its capacity (`heater_capacity_kw`,
the same sizing as a boiler's). `q_district_kw` ≥ 0 is the heat
drawn from the network over the step: space heating + hot water from the heater (kW; 0 for the
other kinds). It is one attribute so that one connection feeds the substation.

Solar thermal (`q_solar_kw`, the heat a building's collectors and their store offer in the step,
`simulators.solar_thermal`): it heats the hot water the heater would otherwise heat (after a
tank's own delivery), like a tank discharging; `q_solar_used_kw` is what was taken, the rest stays
with the collectors' store. Space heating is not served from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.arrays import clip, nan_to_zero
from simulators.building import calibration, heating_curve, heatpump, kernel, thermal
from simulators.building.flex import step_flex
from simulators.building.minutes import Cooling, MinuteResult, Ventilation, simulate_minutes_numpy
from simulators.building.pv import PvArrays, SunPosition, pv_power_kw, sun_positions
from simulators.building.solar import Windows, window_gains_kw
from simulators.params import from_dict
from simulators.sources.profiles import draw_variation, normalised_power, step_noise
from simulators.sources.weather import Site

SUBSTEP_S = 60.0
AIR_HEAT_KWH_M3K = 0.34e-3  # volumetric heat capacity of air
ROOM_HEIGHT_M = 2.5


class BuildingSpec(BaseModel):
    """One building's parameters (see the module docstring for meanings and signs): the one
    definition the scenario files use too (`cosim.scenario.BuildingGroup` holds these fields, its
    `type` preset filling the demands it does not set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    floor_area_m2: Annotated[float, Field(gt=0)] = 150.0
    appliances_kwh_a: Annotated[float, Field(ge=0)] = 3500.0
    dhw_kwh_a: Annotated[float, Field(ge=0)] = 2000.0
    space_heating_kwh_a: Annotated[float, Field(ge=0)] = 9000.0
    heating: Literal["heat_pump", "gas_boiler", "district"] = "heat_pump"
    hp_p_max_kw: Annotated[float, Field(gt=0)] | None = None
    hp_carnot_eff: Annotated[float, Field(gt=0, le=1)] = 0.40
    t_supply_space_c: Annotated[float, Field(gt=0, le=95)] = 35.0  # at the design temperature (heating curve)
    t_supply_dhw_c: Annotated[float, Field(gt=0, le=95)] = 55.0
    boiler_eff: Annotated[float, Field(gt=0, le=1.1)] = 0.94
    t_set_c: Annotated[float, Field(ge=5, le=30)] = 21.0
    hysteresis_k: Annotated[float, Field(ge=0, le=5)] = 0.5
    t_min_c: Annotated[float, Field(ge=5, le=30)] = 20.0
    t_max_c: Annotated[float, Field(ge=5, le=35)] = 24.0
    t_init_c: Annotated[float, Field(ge=-20, le=40)] = 21.0
    pv_kwp: Annotated[float, Field(ge=0)] = 0.0
    pv_tilt_deg: Annotated[float, Field(ge=0, le=90)] = 30.0
    pv_azimuth_deg: Annotated[float, Field(ge=0, lt=360)] = 180.0
    flex_share: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    restore_within_h: Annotated[float, Field(gt=0)] = 4.0
    power_factor: Annotated[float, Field(gt=0, le=1)] = 0.95
    solar_share_air: Annotated[float, Field(ge=0, le=1)] = 0.3
    window_m2_per_m2: Annotated[float, Field(ge=0, le=1)] = 0.18
    g_value: Annotated[float, Field(ge=0, le=1)] = 0.6
    shading_factor: Annotated[float, Field(ge=0, le=1)] = 0.8
    blinds: bool = True
    blind_factor: Annotated[float, Field(ge=0, le=1)] | None = None  # None: the climate's
    blind_threshold_w_m2: Annotated[float, Field(ge=0)] | None = None  # None: the climate's
    blind_t_out_c: float = 16.0
    window_ventilation: bool = True
    t_window_open_c: Annotated[float, Field(ge=5, le=40)] = 24.0
    window_ach_per_h: Annotated[float, Field(ge=0, le=20)] = 3.0
    cooling: bool = False
    t_cool_set_c: Annotated[float, Field(ge=18, le=35)] = 25.0
    night_ventilation: bool = True
    t_night_vent_c: Annotated[float, Field(ge=5, le=40)] = 22.0
    night_ach_per_h: Annotated[float, Field(ge=0, le=20)] = 10.0
    thermal_mass: Literal["light", "medium", "heavy", "very_heavy"] | None = None  # None: the climate's
    hp_min_modulation: Annotated[float, Field(ge=0, le=1)] = 0.3  # 0: no cycling losses
    hp_cycling_cd: Annotated[float, Field(ge=0, lt=1)] = 0.9
    hp_standby_kw: Annotated[float, Field(ge=0)] = 0.010
    hp_pump_kw: Annotated[float, Field(ge=0)] | None = None  # None: sized (heatpump.pump_kw)
    # weather-compensated heating (heating_curve.py); None: the curve for `district`, else the thermostat
    heating_control: Literal["thermostat", "curve"] | None = None
    curve_base_c: Annotated[float, Field(ge=-10, le=30)] | None = None  # None: the balance point
    curve_damping_h: Annotated[float, Field(ge=0, le=240)] = 24.0
    curve_room_k_per_k: Annotated[float, Field(ge=0, le=20)] = 5.0
    curve_trv_offset_k: Annotated[float, Field(ge=0, le=3)] = 0.5
    setback_k: Annotated[float, Field(ge=0, le=10)] = 0.0  # night setback of a curve (0: none)
    setback_from_h: Annotated[int, Field(ge=0, le=23)] = 22
    setback_to_h: Annotated[int, Field(ge=0, le=23)] = 6

    @model_validator(mode="after")
    def _comfort_band(self) -> BuildingSpec:
        if self.t_min_c >= self.t_max_c:
            raise ValueError(f"t_min_c ({self.t_min_c}) must be below t_max_c ({self.t_max_c})")
        if self.heating_control == "curve" and self.heating == "heat_pump":
            raise ValueError("heating_control 'curve' is for district and gas_boiler heating")
        if self.setback_k > 0 and self.setback_from_h == self.setback_to_h:
            raise ValueError("setback_from_h and setback_to_h must differ for a night setback")
        return self

    @property
    def uses_curve(self) -> bool:
        """Whether the heater follows a heating curve (`heating_curve`) rather than the thermostat."""
        default = self.heating_control is None and self.heating == "district"
        return self.heating_control == "curve" or default

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BuildingSpec:
        """Build from a plain dict; `ValueError` naming each unknown key or impossible value."""
        return from_dict(cls, values, "building parameter")


@dataclass(frozen=True)
class WeatherInputs:
    """Weather seen by each building in one step (arrays of shape (n,))."""

    t_out_c: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray
    wind_m_s: np.ndarray


@dataclass(frozen=True)
class Controls:
    """Setpoints for one step (arrays of shape (n,)); NaN means "not given"."""

    hp_p_set_kw: np.ndarray
    t_set_c: np.ndarray
    flex_shift_kw: np.ndarray
    tank_p_th_kw: np.ndarray

    @classmethod
    def none(cls, n: int) -> Controls:
        nan = np.full(n, np.nan)
        return cls(nan, nan.copy(), nan.copy(), np.zeros(n))


@dataclass(frozen=True)
class BuildingStep:
    """Step averages (powers, kW) and end-of-step states of every building."""

    p_kw: np.ndarray
    q_kvar: np.ndarray
    pv_kw: np.ndarray
    hp_p_kw: np.ndarray
    heat_th_kw: np.ndarray
    cool_th_kw: np.ndarray
    dhw_th_kw: np.ndarray
    gas_kw: np.ndarray
    q_district_kw: np.ndarray
    p_appliances_kw: np.ndarray
    p_base_kw: np.ndarray
    flex_p_kw: np.ndarray
    flex_available_kw: np.ndarray
    flex_backlog_kwh: np.ndarray
    cop: np.ndarray
    t_in_c: np.ndarray
    t_mass_c: np.ndarray
    t_in_mean_c: np.ndarray
    comfort_violation_k: np.ndarray
    comfort_cold_k: np.ndarray
    comfort_hot_k: np.ndarray
    q_solar_used_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))  # set by `step`

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in OUTPUT_ATTRS}


OUTPUT_ATTRS = [f.name for f in fields(BuildingStep)]


@dataclass(frozen=True)
class Exogenous:
    """The uncontrolled part of one step for every building (arrays of shape (n,), kW):
    appliance electricity, hot-water heat, PV, base electric load (appliances + hot-water heat
    pump), heat gains to the air node (appliances + air share of solar) and to the mass node
    (the rest of the solar gains), and the heat pump's COP for space heating and hot water."""

    p_appliances_kw: np.ndarray
    dhw_th_kw: np.ndarray
    pv_kw: np.ndarray
    p_base_kw: np.ndarray
    q_air_gain_kw: np.ndarray
    q_mass_gain_kw: np.ndarray
    cop_space: np.ndarray
    cop_dhw: np.ndarray
    eer: np.ndarray
    p_aux_kw: np.ndarray
    """Auxiliary electricity of the heat-pump system (standby, circulation pump; part of `p_base_kw`)."""
    t_night_vent_c: np.ndarray
    """Night-ventilation temperature in this step (+inf: the windows stay shut at night)."""


def heater_capacity_kw(
    specs: list[BuildingSpec], heating_degree_days_kd: float | None = None, site: Site | None = None
) -> np.ndarray:
    """Heat capacity (kW) of each building's boiler or district-heating substation, as the fleet
    sizes it: design heat load at the climate's design temperature plus mean hot-water demand,
    with margin. For a heat network's layout before the buildings are stepped."""
    where = site or Site()
    params = _params(specs, where)
    rc = _calibrated(params, specs, where, heating_degree_days_kd)
    return heatpump.heater_capacity_kw(rc.h_total_kw_k, params["t_set_c"], params["dhw_kwh_a"] / 8760.0,
                                       where.climate_params.t_design_c)


def _array(specs: list[BuildingSpec], name: str) -> np.ndarray:
    return np.array([getattr(s, name) for s in specs], dtype=float)


PARAM_NAMES = (
    "floor_area_m2", "appliances_kwh_a", "dhw_kwh_a", "space_heating_kwh_a", "hp_carnot_eff",
    "t_supply_space_c", "t_supply_dhw_c", "boiler_eff", "t_set_c", "hysteresis_k", "t_min_c", "t_max_c",
    "flex_share", "restore_within_h", "power_factor", "solar_share_air", "window_m2_per_m2", "g_value",
    "shading_factor", "blind_factor", "blind_threshold_w_m2", "blind_t_out_c", "t_window_open_c",
    "window_ach_per_h", "t_cool_set_c", "t_night_vent_c", "night_ach_per_h", "hp_min_modulation",
    "hp_cycling_cd", "hp_standby_kw",
)  # fmt: skip
"""The numeric `BuildingSpec` fields a fleet keeps as arrays (`BuildingFleet.p`)."""


CLIMATE_DEFAULTS = ("blind_factor", "blind_threshold_w_m2")
"""`BuildingSpec` fields whose None means the site climate's value (`Climate` has the same names)."""


def _params(specs: list[BuildingSpec], site: Site) -> dict[str, np.ndarray]:
    """The fleet's parameter arrays: `PARAM_NAMES` (a None of `CLIMATE_DEFAULTS` replaced by the
    site climate's value) and the mass node's coupling and capacity per floor area
    (`h_im_kw_per_m2k`, `c_m_kwh_per_m2k`) of each building's construction class (`thermal_mass`,
    else the climate's)."""
    climate = site.climate_params
    params = {name: _array(specs, name) for name in PARAM_NAMES if name not in CLIMATE_DEFAULTS}
    for name in CLIMATE_DEFAULTS:
        default = getattr(climate, name)
        params[name] = np.array([default if getattr(s, name) is None else getattr(s, name) for s in specs],
                                dtype=float)  # fmt: skip
    classes = [s.thermal_mass or climate.construction for s in specs]
    params["h_im_kw_per_m2k"], params["c_m_kwh_per_m2k"] = thermal.mass_arrays(classes)
    return params


def windows_of(p: dict[str, np.ndarray], specs: list[BuildingSpec]) -> Windows:
    """The fleet's glazing (no blinds: blind factor 1)."""
    blinds = np.array([s.blinds for s in specs])
    return Windows(
        p["window_m2_per_m2"] * p["floor_area_m2"], p["g_value"], p["shading_factor"],
        np.where(blinds, p["blind_factor"], 1.0), p["blind_threshold_w_m2"], p["blind_t_out_c"],
    )  # fmt: skip


def window_conductance_kw_k(p: dict[str, np.ndarray], ach: str = "window_ach_per_h") -> np.ndarray:
    """Ventilation conductance of the open windows: ρc_air · room height · floor area · air changes
    (`ach`: the parameter with the air changes per hour; `night_ach_per_h` at night)."""
    result: np.ndarray = AIR_HEAT_KWH_M3K * ROOM_HEIGHT_M * p["floor_area_m2"] * p[ach]
    return result


def _calibrated(
    p: dict[str, np.ndarray], specs: list[BuildingSpec], site: Site, heating_degree_days_kd: float | None
) -> thermal.RcParams:
    """The fleet's thermal networks: calibrated against the site's weather, or by the energy
    signature when degree days are given."""
    if heating_degree_days_kd is not None:
        return thermal.calibrate(p["floor_area_m2"], p["space_heating_kwh_a"], heating_degree_days_kd,
                                 p["h_im_kw_per_m2k"], p["c_m_kwh_per_m2k"])  # fmt: skip
    venting = np.array([s.window_ventilation for s in specs])
    night = np.array([s.night_ventilation for s in specs])
    inputs = calibration.calibration_inputs(
        p, windows_of(p, specs), venting, window_conductance_kw_k(p), night,
        window_conductance_kw_k(p, "night_ach_per_h"),
    )  # fmt: skip
    return calibration.calibrate_fleet(inputs, site)


class BuildingFleet:
    """All buildings of one simulator, stepped together.

    `indices` are the buildings' numbers in the scenario; they seed each building's profile
    variation, so results do not depend on how buildings are grouped into simulators.
    """

    def __init__(
        self,
        specs: list[BuildingSpec],
        indices: list[int],
        site: Site,
        step_s: int,
        seed: int,
        heating_degree_days_kd: float | None = None,
    ) -> None:
        if len(specs) != len(indices) or not specs:
            raise ValueError("need one index per building and at least one building")
        self.specs, self.indices, self.site, self.step_s, self.seed = (
            specs,
            np.array(indices),
            site,
            step_s,
            seed,
        )
        self.n = len(specs)
        a = _params(specs, site)
        self.p = a
        self.is_hp = np.array([s.heating == "heat_pump" for s in specs])
        self.is_district = np.array([s.heating == "district" for s in specs])
        self.t_design_c = site.climate_params.t_design_c
        self.windows = windows_of(a, specs)
        self.venting = np.array([s.window_ventilation for s in specs])
        self.h_window_kw_k = window_conductance_kw_k(a)
        self.night_venting = np.array([s.night_ventilation for s in specs])
        self.h_night_kw_k = window_conductance_kw_k(a, "night_ach_per_h")
        self.rc = _calibrated(a, specs, site, heating_degree_days_kd)
        self.n_sub = max(1, int(np.ceil(step_s / SUBSTEP_S)))
        self.sub_model = thermal.discretise(self.rc, step_s / self.n_sub)
        # the sub-step matrices by column, each (2, n): row i of column j is a[:, i, j] (b likewise)
        self._a_columns = tuple(np.ascontiguousarray(self.sub_model.a[:, :, j].T) for j in range(2))
        self._b_columns = tuple(np.ascontiguousarray(self.sub_model.b[:, :, j].T) for j in range(3))
        dhw_mean_kw = a["dhw_kwh_a"] / 8760.0
        auto_hp = heatpump.auto_size_hp_kw(
            self.rc.h_total_kw_k, a["t_set_c"], dhw_mean_kw, a["t_supply_space_c"], a["hp_carnot_eff"],
            self.t_design_c,
        )
        given = np.array([np.nan if s.hp_p_max_kw is None else s.hp_p_max_kw for s in specs])
        self.hp_p_max_kw = np.where(np.isnan(given), auto_hp, given)
        self.boiler_q_max_kw = heatpump.heater_capacity_kw(
            self.rc.h_total_kw_k, a["t_set_c"], dhw_mean_kw, self.t_design_c
        )
        curve_on = np.array([s.uses_curve for s in specs])
        self.curves = None if not curve_on.any() else heating_curve.HeatingCurves.of(
            specs, curve_on, self.rc.h_total_kw_k, a["t_set_c"], self.boiler_q_max_kw,
            heating_curve.balance_temperature_c(a["t_set_c"], self.rc.h_total_kw_k, a["appliances_kwh_a"],
                                                self.windows, site),
        )  # fmt: skip
        design_heat_kw = self.rc.h_total_kw_k * (a["t_set_c"] - self.t_design_c)
        pump = np.array([np.nan if s.hp_pump_kw is None else s.hp_pump_kw for s in specs])
        self.pump_kw = np.where(np.isnan(pump), heatpump.pump_kw(design_heat_kw, a["t_supply_space_c"]), pump)
        self.pv = PvArrays(
            _array(specs, "pv_kwp"), _array(specs, "pv_tilt_deg"), _array(specs, "pv_azimuth_deg")
        )
        self.variation = draw_variation([(seed, int(i)) for i in indices])
        self.noise_size = int(self.indices.max()) + 1  # noise is drawn for every index up to the largest
        self.tan_phi = np.tan(np.arccos(np.clip(a["power_factor"], 0.1, 1.0)))
        t0 = _array(specs, "t_init_c")
        self.x = np.stack([t0, t0], axis=1)
        self.hp_on = np.zeros(self.n, dtype=bool)
        self.cool_on = np.zeros(self.n, dtype=bool)
        self.cooling = self.is_hp & np.array([s.cooling for s in specs])
        self._no_cooling_eer = np.ones(self.n)  # EER of a fleet that never cools (never used)
        self._t_supply_c = np.stack([a["t_supply_space_c"], a["t_supply_dhw_c"]])
        self._kernel_params = np.stack([
            a["flex_share"], a["restore_within_h"] * 3600.0, self.hp_p_max_kw, self.boiler_q_max_kw,
            a["t_set_c"], a["hysteresis_k"], a["t_min_c"], a["t_max_c"], a["boiler_eff"], self.tan_phi,
            self.venting.astype(float), a["t_window_open_c"], self.h_window_kw_k,
            self.cooling.astype(float), a["t_cool_set_c"], self.h_night_kw_k, a["hp_min_modulation"],
            a["hp_cycling_cd"],
        ])  # fmt: skip
        self.sun: SunPosition | None = None
        self.sun_ns: np.ndarray | None = None
        self.backlog_kwh = np.zeros(self.n)
        self.deadline_s = np.full(self.n, np.inf)

    def set_time_axis(self, times: pd.DatetimeIndex) -> None:
        """Precompute the sun's position for every step of the run (`step` falls back to per-step)."""
        self.sun = sun_positions(times, self.site)
        self.sun_ns = times.as_unit("ns").asi8

    def _sun_at(self, time: pd.Timestamp, step_index: int) -> tuple[float, float]:
        # the axis' instants as integer ns: indexing the DatetimeIndex would build a Timestamp
        if self.sun is None or self.sun_ns is None or self.sun_ns[step_index] != time.value:
            one = sun_positions(pd.DatetimeIndex([time]), self.site)
            return float(one.zenith_deg[0]), float(one.azimuth_deg[0])
        return float(self.sun.zenith_deg[step_index]), float(self.sun.azimuth_deg[step_index])

    def demands_kw(self, time: pd.Timestamp, step_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Appliance electricity and hot-water heat (kW) of every building for the step starting at `time`."""
        hour = time.hour + time.minute / 60.0 + self.variation.shift_h
        doy = np.full(self.n, float(time.dayofyear - 1))
        weekend = time.dayofweek >= 5  # one day type for the whole fleet: one profile lookup
        size = self.noise_size
        noise_app = step_noise(self.seed, step_index, size, self.variation.noise_std, 1)[self.indices]
        noise_dhw = step_noise(self.seed, step_index, size, 2 * self.variation.noise_std, 2)[self.indices]
        app = self.p["appliances_kwh_a"] * normalised_power("appliances", doy, hour, weekend) * noise_app
        dhw = self.p["dhw_kwh_a"] * normalised_power("dhw", doy, hour, weekend) * noise_dhw
        return app, dhw

    def step(
        self,
        time: pd.Timestamp,
        time_s: int,
        step_index: int,
        w: WeatherInputs,
        c: Controls,
        q_solar_kw: np.ndarray | None = None,
    ) -> BuildingStep:
        """Advance every building over [time, time + step) and return step averages (compiled in
        `kernel` after the exogenous inputs when numba is installed: the same numbers).
        `q_solar_kw`: solar-thermal heat offered (module docstring; None or NaN: none)."""
        ex = self.exogenous(time, step_index, w)
        tank_kw = nan_to_zero(c.tank_p_th_kw)
        offered = np.zeros(self.n) if q_solar_kw is None else np.maximum(nan_to_zero(q_solar_kw), 0.0)
        solar_kw = np.minimum(offered, np.maximum(ex.dhw_th_kw + tank_kw, 0.0))
        if solar_kw.any():  # the solar heat discharges into the hot water like a tank
            c = replace(c, tank_p_th_kw=tank_kw - solar_kw)
        q_heater_kw = self.boiler_q_max_kw
        if self.curves is not None:  # the curve's heat and the TRVs' setpoint (heating_curve.py)
            t_set = np.where(np.isnan(c.t_set_c), self.p["t_set_c"], c.t_set_c)
            q_heater_kw, t_trv = self.curves.step(time, self.step_s, w.t_out_c, self.x[:, 0], t_set)
            c = replace(c, t_set_c=np.where(self.curves.on, t_trv, c.t_set_c))
        return replace(self._step_heaters(time_s, w, c, ex, q_heater_kw), q_solar_used_kw=solar_kw)

    def _step_heaters(
        self, time_s: int, w: WeatherInputs, c: Controls, ex: Exogenous, q_heater_kw: np.ndarray
    ) -> BuildingStep:
        """The step after its exogenous inputs; `q_heater_kw`: the boilers' and substations' heat
        when on (their capacity, or their heating curve's output)."""
        if kernel.STEP is not None:
            return self._step_compiled(kernel.STEP, time_s, w, c, ex, q_heater_kw)
        app_kw, dhw_th_kw, pv_kw = ex.p_appliances_kw, ex.dhw_th_kw, ex.pv_kw
        flex = step_flex(
            self.p["flex_share"] * app_kw,
            c.flex_shift_kw,
            self.backlog_kwh,
            self.deadline_s,
            float(time_s),
            float(self.step_s),
            self.p["restore_within_h"] * 3600.0,
        )
        self.backlog_kwh, self.deadline_s = flex.backlog_kwh, flex.deadline_s
        app_eff_kw = app_kw + flex.flex_p_kw
        tank = nan_to_zero(c.tank_p_th_kw)
        dhw_from_heater = np.maximum(dhw_th_kw + tank, 0.0)
        surplus_to_air = np.maximum(-(dhw_th_kw + tank), 0.0)
        cop_space, cop_dhw = ex.cop_space, ex.cop_dhw
        q_air_base = ex.q_air_gain_kw + flex.flex_p_kw + surplus_to_air  # gains include the appliances
        q_mass = ex.q_mass_gain_kw
        m = self._thermal_substeps(w.t_out_c, q_air_base, q_mass, cop_space, ex.eer, c, ex.t_night_vent_c,
                                   q_heater_kw)  # fmt: skip
        heat_kw = m.heat
        # the thermostat's heat below the minimum modulation costs more electricity; a held
        # setpoint is followed at the steady-state COP
        held = self.is_hp & ~np.isnan(c.hp_p_set_kw)
        f_cyc = np.where(held, 1.0, self._cycling(heat_kw / cop_space))
        with np.errstate(divide="ignore", invalid="ignore"):
            hp_space_kw = np.where(self.is_hp & (heat_kw > 0), heat_kw / cop_space / f_cyc, 0.0)
        aux_kw = np.where(self.is_hp, ex.p_aux_kw, 0.0)
        dhw_el_kw = np.where(self.is_hp, dhw_from_heater / cop_dhw, 0.0)
        no_gas = self.is_hp | self.is_district
        gas_kw = np.where(no_gas, 0.0, (heat_kw + dhw_from_heater) / self.p["boiler_eff"])
        q_district_kw = np.where(self.is_district, heat_kw + dhw_from_heater, 0.0)
        cool_el_kw = np.where(self.is_hp, m.cool / ex.eer, 0.0)
        hp_p_kw = hp_space_kw + dhw_el_kw + cool_el_kw + aux_kw
        consumption = app_eff_kw + hp_p_kw
        return BuildingStep(
            p_kw=consumption - pv_kw,
            q_kvar=consumption * self.tan_phi,
            pv_kw=pv_kw,
            hp_p_kw=hp_p_kw,
            heat_th_kw=heat_kw,
            cool_th_kw=m.cool,
            dhw_th_kw=dhw_th_kw,
            gas_kw=gas_kw,
            q_district_kw=q_district_kw,
            p_appliances_kw=app_eff_kw,
            p_base_kw=app_kw + dhw_el_kw + aux_kw,
            flex_p_kw=flex.flex_p_kw,
            flex_available_kw=self.p["flex_share"] * app_kw,
            flex_backlog_kwh=flex.backlog_kwh.copy(),
            cop=np.where(self.is_hp, cop_space, np.nan),
            t_in_c=self.x[:, 0].copy(),
            t_mass_c=self.x[:, 1].copy(),
            t_in_mean_c=m.t_in_mean,
            comfort_violation_k=m.cold + m.hot,
            comfort_cold_k=m.cold,
            comfort_hot_k=m.hot,
        )

    def _step_compiled(
        self, step: Any, time_s: int, w: WeatherInputs, c: Controls, ex: Exogenous, q_heater_kw: np.ndarray
    ) -> BuildingStep:
        (a_0, a_1), (b_0, b_1, b_2) = self._a_columns, self._b_columns
        params = self._kernel_params
        if q_heater_kw is not self.boiler_q_max_kw:
            params = params.copy()
            params[3] = q_heater_kw
        self.x, self.hp_on, self.cool_on, out = step(
            ex.p_appliances_kw, ex.dhw_th_kw, ex.pv_kw, ex.q_air_gain_kw, ex.q_mass_gain_kw,
            ex.cop_space, ex.cop_dhw, ex.eer, ex.p_aux_kw, ex.t_night_vent_c, w.t_out_c, c.hp_p_set_kw,
            c.t_set_c, c.flex_shift_kw, c.tank_p_th_kw, self.x, self.hp_on, self.cool_on, self.backlog_kwh,
            self.deadline_s, params,
            self.is_hp, self.is_district, a_0, a_1, b_0, b_1, b_2, float(time_s), float(self.step_s),
            self.n_sub,
        )  # fmt: skip
        rows = dict(zip(kernel.OUTPUTS, out, strict=True))
        self.backlog_kwh, self.deadline_s = rows["flex_backlog_kwh"], rows.pop("deadline_s")
        rows["flex_backlog_kwh"] = self.backlog_kwh.copy()
        return BuildingStep(
            **rows,
            pv_kw=ex.pv_kw,
            dhw_th_kw=ex.dhw_th_kw,
            t_in_c=self.x[:, 0].copy(),
            t_mass_c=self.x[:, 1].copy(),
        )

    def exogenous(self, time: pd.Timestamp, step_index: int, w: WeatherInputs) -> Exogenous:
        """What a step brings regardless of control: demands, PV, heat gains, COPs. Pure (no state
        changes), so a forecaster with the same seed and weather predicts a step exactly."""
        app_kw, dhw_th_kw = self.demands_kw(time, step_index)
        zenith, azimuth = self._sun_at(time, step_index)
        pv_kw = pv_power_kw(
            self.pv, zenith, azimuth, w.ghi_w_m2, w.dni_w_m2, w.dhi_w_m2, w.t_out_c, w.wind_m_s
        )
        # both supply temperatures in one call (row 0 space heating on its heating curve, row 1 hot
        # water; elementwise, so the same numbers as one call each)
        t_supply = self._t_supply_c.copy()  # row 1, hot water, is fixed
        t_supply[0] = heatpump.heating_curve_c(w.t_out_c, self.p["t_supply_space_c"], self.t_design_c)
        cop_space, cop_dhw = heatpump.cop(w.t_out_c, t_supply, self.p["hp_carnot_eff"])
        eer = heatpump.eer(w.t_out_c) if self.cooling.any() else self._no_cooling_eer
        q_sol = window_gains_kw(self.windows, zenith, azimuth, w.ghi_w_m2, w.dni_w_m2, w.dhi_w_m2, w.t_out_c)
        share = self.p["solar_share_air"]
        dhw_el_kw = np.where(self.is_hp, dhw_th_kw / cop_dhw, 0.0)
        aux = heatpump.auxiliary_kw(w.t_out_c, self.p["hp_standby_kw"], self.pump_kw)
        aux_kw = np.where(self.is_hp, aux, 0.0)
        return Exogenous(
            p_appliances_kw=app_kw,
            dhw_th_kw=dhw_th_kw,
            pv_kw=pv_kw,
            p_base_kw=app_kw + dhw_el_kw + aux_kw,
            q_air_gain_kw=share * q_sol + app_kw,
            q_mass_gain_kw=(1.0 - share) * q_sol,
            cop_space=cop_space,
            cop_dhw=cop_dhw,
            eer=eer,
            p_aux_kw=aux_kw,
            t_night_vent_c=self._night_vent_c(time, w.t_out_c),
        )

    def _night_vent_c(self, time: pd.Timestamp, t_out_c: np.ndarray) -> np.ndarray:
        """Each building's night-ventilation temperature in the step starting at `time`: its
        `t_night_vent_c` in the night hours of a warm night, else +inf."""
        night = time.hour >= calibration.NIGHT_HOURS[0] or time.hour < calibration.NIGHT_HOURS[1]
        open_now = self.night_venting & night & (t_out_c >= calibration.NIGHT_VENT_MIN_OUT_C)
        result: np.ndarray = np.where(open_now, self.p["t_night_vent_c"], np.inf)
        return result

    def _cycling(self, p_kw: np.ndarray) -> np.ndarray:
        """Cycling factor at a steady-state electric power `p_kw` (`heatpump.cycling_factor`)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(self.hp_p_max_kw > 0, p_kw / self.hp_p_max_kw, 1.0)
        return heatpump.cycling_factor(share, self.p["hp_min_modulation"], self.p["hp_cycling_cd"])

    def _thermal_substeps(
        self,
        t_out_c: np.ndarray,
        q_air_base: np.ndarray,
        q_mass: np.ndarray,
        cop_space: np.ndarray,
        eer: np.ndarray,
        c: Controls,
        t_night_c: np.ndarray,
        q_heater_kw: np.ndarray,
    ) -> MinuteResult:
        """Minute-wise thermal simulation; returns the step means of heating and cooling heat,
        indoor temperature and comfort violations (K) below and above the band.

        Each minute is `thermal.advance` written out element-wise, with the sums in the order its
        einsum uses ((j=0 + j=2) + j=1 for the inputs), so the numbers are the same. Within a step
        a building's inputs take one of two values (heater on or off), so both are computed
        before the loop and each minute only picks one; the loop itself, with the heat, the mean
        temperature and the comfort violation summed minute by minute, is
        `minutes.simulate_minutes_numpy`."""
        q_max = np.where(self.is_hp, self.hp_p_max_kw * cop_space, q_heater_kw)
        forced = self.is_hp & ~np.isnan(c.hp_p_set_kw)
        q_forced = clip(nan_to_zero(c.hp_p_set_kw), 0.0, self.hp_p_max_kw) * cop_space
        q_on, q_off = np.where(forced, q_forced, q_max), np.where(forced, q_forced, 0.0)
        t_set = np.where(np.isnan(c.t_set_c), self.p["t_set_c"], c.t_set_c)
        low, high = t_set - self.p["hysteresis_k"], t_set + self.p["hysteresis_k"]
        (a_0, a_1), (b_0, b_1, b_2) = self._a_columns, self._b_columns
        b_const = b_0 * t_out_c + b_2 * q_mass
        bu_on, bu_off = b_const + b_1 * (q_air_base + q_on), b_const + b_1 * (q_air_base + q_off)
        vent = Ventilation(self.venting, self.p["t_window_open_c"], self.h_window_kw_k, t_out_c, b_1,
                           t_night_c, self.h_night_kw_k)  # fmt: skip
        q_cool = self.hp_p_max_kw * eer
        t_cool, hysteresis = self.p["t_cool_set_c"], self.p["hysteresis_k"]
        cooling = Cooling(self.cooling & ~forced, t_cool - hysteresis, t_cool + hysteresis,
                          b_const + b_1 * (q_air_base - q_cool), q_cool)  # fmt: skip
        m = simulate_minutes_numpy(
            self.x, self.hp_on, low, high, a_0, a_1, bu_on, bu_off, q_on, q_off,
            self.p["t_min_c"], self.p["t_max_c"], self.n_sub, vent, cooling, self.cool_on,
        )  # fmt: skip
        self.x, self.hp_on, self.cool_on = m.x, m.hp_on, m.cool_on
        return m
