"""Building types: the demands a building of each type has unless it sets them.

One definition for the building simulator (`Building` entities take `type`) and for the scenario
files (`cosim.scenario.BuildingGroup` takes `type` too), so a building described the same way is
the same building in a plain mosaik world and in a `cosim` run.

`with_preset(values, type)` fills what `values` (a dict of `BuildingSpec` fields) leaves unset or
None: the floor area, the annual appliance electricity and hot-water heat from the type, the
annual space heating as a specific demand (`space_heating_kwh_m2a`, else the type's) times the
floor area, and the initial indoor temperature as the thermostat's setpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

BuildingType = Literal["single_family", "multi_family"]
BUILDING_TYPES: tuple[str, ...] = get_args(BuildingType)
DEFAULT_TYPE: BuildingType = "single_family"


@dataclass(frozen=True)
class Preset:
    """Typical demands of one building type (areas in m², energies per year)."""

    floor_area_m2: float
    appliances_kwh_a: float
    dhw_kwh_a: float
    space_heating_kwh_m2a: float


PRESETS: dict[str, Preset] = {
    "single_family": Preset(
        floor_area_m2=150.0, appliances_kwh_a=3500.0, dhw_kwh_a=2000.0, space_heating_kwh_m2a=60.0
    ),
    "multi_family": Preset(
        floor_area_m2=800.0, appliances_kwh_a=18000.0, dhw_kwh_a=10000.0, space_heating_kwh_m2a=50.0
    ),
}


def preset(building_type: str) -> Preset:
    """The preset of `building_type`; a ValueError listing the types otherwise."""
    found = PRESETS.get(building_type)
    if found is None:
        raise ValueError(f"unknown building type {building_type!r}; allowed: {', '.join(PRESETS)}")
    return found


def with_preset(values: Mapping[str, Any], building_type: str = DEFAULT_TYPE) -> dict[str, Any]:
    """`values` with the demands it leaves unset (missing or None) filled from `building_type`'s
    preset (see the module docstring). Values it sets are kept as they are (checked later, by
    `BuildingSpec`); `space_heating_kwh_m2a` stays in the result if it was given."""
    p = preset(building_type)
    filled = dict(values)
    for key in ("floor_area_m2", "appliances_kwh_a", "dhw_kwh_a"):
        if filled.get(key) is None:
            filled[key] = getattr(p, key)
    if filled.get("space_heating_kwh_a") is None:
        specific = filled.get("space_heating_kwh_m2a")
        specific = p.space_heating_kwh_m2a if specific is None else specific
        area = filled["floor_area_m2"]
        if isinstance(specific, int | float) and isinstance(area, int | float):
            filled["space_heating_kwh_a"] = specific * area
    if filled.get("t_init_c") is None and filled.get("t_set_c") is not None:
        filled["t_init_c"] = filled["t_set_c"]
    return filled
