"""examples/mosaik_district.py, the simulators in a plain mosaik scenario (docs/mosaik.md), runs and
does what the page says: the battery controller raises self-consumption, the feeder balances, the
calendar puts the sun where it is in Berlin on 20 March, the houses do not repeat each other."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mosaik_district.py"
NAME = "mosaik_district"  # mosaik imports the example's own simulators by this module name


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location(NAME, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[NAME]


@pytest.fixture(scope="module")
def runs(example: ModuleType) -> dict[bool, Any]:
    return {controlled: example.run(controller=controlled, module=NAME) for controlled in (True, False)}


def test_the_battery_controller_raises_self_consumption(runs: dict[bool, Any]) -> None:
    controlled, idle = runs[True], runs[False]
    assert idle.battery_charged_kwh == idle.battery_discharged_kwh == 0.0
    assert controlled.battery_charged_kwh > 2.0 and controlled.battery_discharged_kwh > 1.0
    assert controlled.pv_kwh == pytest.approx(idle.pv_kwh, rel=1e-12)  # same weather, same houses
    assert controlled.export_kwh < idle.export_kwh - 2.0
    assert controlled.import_kwh < idle.import_kwh - 1.0


def test_every_step_balances_at_the_transformer(runs: dict[bool, Any]) -> None:
    for row in runs[True].rows:
        houses = sum(v for k, v in row.items() if k.startswith("Building_") and k.endswith(".p_kw"))
        drawn = houses + row["Battery_0.p_kw"] + row["Grid.losses_kw"]
        # 1 W: the Newton-Raphson power flow stops at its tolerance (one night step is 0.07 W off)
        assert row["Grid.p_ext_kw"] == pytest.approx(drawn, abs=1e-3)


def test_the_calendar_gives_berlin_daylight_and_the_houses_their_own_profiles(
    runs: dict[bool, Any], example: ModuleType
) -> None:
    rows = runs[False].rows
    step_h = example.CALENDAR["step_size"] / 3600.0
    pv = [sum(v for k, v in r.items() if k.endswith(".pv_kw")) for r in rows]
    hours = [r["time_s"] / 3600.0 for r in rows]  # local time: the run starts at local midnight
    assert all(p == 0.0 for p, h in zip(pv, hours, strict=True) if h < 5.5 or h >= 19.0)
    peak_h = hours[pv.index(max(pv))]
    assert 11.0 <= peak_h <= 14.0  # solar noon in Munich's longitude is ~12:15 CET
    assert sum(pv) * step_h == pytest.approx(runs[False].pv_kwh)
    loads = [[r[f"Building_{k}.p_kw"] for r in rows] for k in range(3)]
    assert loads[0] != loads[1] != loads[2]  # each house its own demand profile, without an index
