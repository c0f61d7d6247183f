"""Building types and profile variation as a mosaik user meets them (issue 15): the presets are the
simulator's (`type`), and buildings created without `index` do not repeat another simulator's
profiles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cosim.scenario.model import BuildingGroup
from simulators.building.model import BuildingSpec
from simulators.building.presets import PRESETS, with_preset
from simulators.building.sim import BuildingSim, stream_seed

CALENDAR: dict[str, Any] = {
    "step_size": 900, "start": "2024-03-20T00:00:00", "tz": "Europe/Berlin", "n_steps": 8
}
WEATHER = {"t_out_c": 5.0, "ghi_w_m2": 300.0, "dni_w_m2": 200.0, "dhi_w_m2": 100.0, "wind_m_s": 3.0}


def _sim(sid: str, **init: Any) -> BuildingSim:
    sim = BuildingSim()
    sim.init(sid, time_resolution=1.0, **CALENDAR, **init)
    return sim


def _appliances_kw(sim: BuildingSim, steps: int = 8) -> np.ndarray:
    """The appliance demand of every building of `sim` over `steps` steps (rows: steps)."""
    rows = []
    for k in range(steps):
        inputs = {eid: {a: {"W.w": v} for a, v in WEATHER.items()} for eid in sim.eids}
        sim.step(k * 900, inputs, 10**9)
        data = sim.get_data({eid: ["p_appliances_kw"] for eid in sim.eids})
        rows.append([data[eid]["p_appliances_kw"] for eid in sim.eids])
    return np.array(rows)


@pytest.mark.parametrize("building_type", list(PRESETS))
def test_a_building_type_gives_the_same_building_as_in_a_scenario(building_type: str) -> None:
    sim = _sim("Building-0")
    sim.create(1, "Building", spec={"pv_kwp": 5.0, "t_set_c": 20.0}, type=building_type)
    group = BuildingGroup(name="g", type=building_type, pv_kwp=5.0, t_set_c=20.0)  # type: ignore[arg-type]
    assert sim.specs[0] == BuildingSpec(**group.building_spec())
    p = PRESETS[building_type]
    assert sim.specs[0].floor_area_m2 == p.floor_area_m2
    assert sim.specs[0].space_heating_kwh_a == p.space_heating_kwh_m2a * p.floor_area_m2
    assert sim.specs[0].t_init_c == 20.0  # starts at its thermostat's setpoint


def test_given_values_and_a_specific_space_heating_demand_win_over_the_preset() -> None:
    sim = _sim("Building-0")
    spec = {"floor_area_m2": 400.0, "space_heating_kwh_m2a": 30.0}
    sim.create(1, "Building", spec=spec, type="multi_family")
    assert (sim.specs[0].floor_area_m2, sim.specs[0].space_heating_kwh_a) == (400.0, 12000.0)
    assert sim.specs[0].appliances_kwh_a == PRESETS["multi_family"].appliances_kwh_a
    assert with_preset({"space_heating_kwh_a": 1.0})["space_heating_kwh_a"] == 1.0


def test_an_unknown_type_or_parameter_is_named() -> None:
    sim = _sim("Building-0")
    with pytest.raises(ValueError, match=r"Building-0: unknown building type 'castle'; allowed: single_"):
        sim.create(1, "Building", type="castle")
    with pytest.raises(ValueError, match=r"Building-0: unknown building parameter 'floor_m2'"):
        sim.create(1, "Building", spec={"floor_m2": 100.0})


def test_two_simulators_without_index_do_not_repeat_each_others_profiles() -> None:
    """Before, both numbered their buildings 0, 1, … from the same seed: identical demand."""
    first, second = _sim("Building-0", seed=3), _sim("Building-1", seed=3)
    for sim in (first, second):
        sim.create(2, "Building")
    a, b = _appliances_kw(first), _appliances_kw(second)
    assert not np.allclose(a, b)
    assert not np.allclose(a[:, 0], a[:, 1])  # nor do the buildings of one simulator


def test_unnumbered_profiles_are_reproducible_and_follow_the_name() -> None:
    again = _sim("Building-7", seed=3, name="Building-0")
    again.create(2, "Building")
    first = _sim("Building-0", seed=3)
    first.create(2, "Building")
    np.testing.assert_array_equal(_appliances_kw(again), _appliances_kw(first))
    assert stream_seed(3, "Building-0") != stream_seed(3, "Building-1") != stream_seed(4, "Building-1")


def test_numbered_buildings_depend_on_their_index_only() -> None:
    """The platform numbers the buildings of a scenario: the same index gives the same profile in
    any simulator, whatever its name."""
    one, other = _sim("Building-0", seed=3), _sim("Building-5", seed=3)
    one.create(1, "Building", index=4)
    other.create(1, "Building", index=2)
    other.create(1, "Building", index=4)
    np.testing.assert_array_equal(_appliances_kw(one)[:, 0], _appliances_kw(other)[:, 1])


def test_numbered_and_unnumbered_buildings_do_not_mix() -> None:
    sim = _sim("Building-0")
    sim.create(1, "Building", index=0)
    with pytest.raises(ValueError, match="give every Building of a simulator an index, or none"):
        sim.create(1, "Building")
