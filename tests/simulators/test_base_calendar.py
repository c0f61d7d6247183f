"""The time-based simulators' calendar parameters are required and checked (issue 15: a Building
started without them ran January-in-UTC next to Sources started for 20 March in Europe/Berlin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mosaik
import pytest

from simulators.base import STAMP_BLOCK, CalendarError, TimeBasedSim
from simulators.building.sim import BuildingSim
from simulators.heat_network.sim import HeatNetworkSim
from simulators.sources.sim import SourcesSim
from simulators.storage.sim import StorageSim

CALENDAR: dict[str, Any] = {
    "step_size": 900, "start": "2024-03-20T00:00:00", "tz": "Europe/Berlin", "n_steps": 4
}
SIMS: list[Callable[[], TimeBasedSim]] = [BuildingSim, SourcesSim, StorageSim, HeatNetworkSim]


@pytest.mark.parametrize("sim_class", SIMS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("left_out", ["step_size", "start", "tz", "n_steps"])
def test_a_missing_calendar_parameter_is_refused(sim_class: Any, left_out: str) -> None:
    params = {k: v for k, v in CALENDAR.items() if k != left_out}
    expected = rf"{sim_class.__name__}: missing calendar parameter\(s\) {left_out};"
    with pytest.raises(CalendarError, match=expected):
        sim_class().init("S-0", time_resolution=1.0, **params)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tz": "Mars/Olympus"}, "is not a time there"),
        ({"start": "20th of March"}, "is not a time there"),
        ({"start": "2024-03-31T02:30:00"}, "is not a time there"),  # skipped by the clock change
        ({"n_steps": 0}, "n_steps must be a positive whole number"),
        ({"step_size": 90.5}, "step_size must be a positive whole number"),
        ({"start": 20240320}, "start and tz must be text"),
    ],
)
def test_an_impossible_calendar_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        SourcesSim().init("S-0", time_resolution=1.0, **{**CALENDAR, **change})


def test_the_calendar_given_is_the_one_used() -> None:
    sim = BuildingSim()
    sim.init("B-0", time_resolution=1.0, **CALENDAR)
    assert (sim.step_size_s, sim.n_steps, sim.tz) == (900, 4, "Europe/Berlin")
    assert str(sim.times[0]) == "2024-03-20 00:00:00+01:00"


def test_a_mosaik_world_reports_the_missing_calendar() -> None:
    """As a mosaik user meets it: `world.start` without the calendar ends with the message."""
    world = mosaik.World({"Building": {"python": "simulators.building.sim:BuildingSim"}}, time_resolution=1)
    try:
        with pytest.raises(CalendarError, match=r"missing calendar parameter\(s\) start, tz, n_steps"):
            world.start("Building", step_size=900)
    finally:
        world.shutdown()


def test_timestamps_by_block_are_the_axis_at_every_step() -> None:
    """`timestamp(i)` lists the axis a block at a time (bounded memory over a year): every step's
    timestamp, across block edges, the spring and autumn clock changes and jumps back and forth,
    is the calendar's."""
    sim = StorageSim()
    sim.init("S-0", time_resolution=1.0, step_size=900, start="2024-01-01T00:00:00", tz="Europe/Berlin",
             n_steps=35_136)
    order = [*range(sim.n_steps), 0, STAMP_BLOCK, STAMP_BLOCK - 1, sim.n_steps - 1, 5]
    assert all(sim.timestamp(i) == sim.times[i] for i in order)
    assert len(sim._stamps[1]) <= STAMP_BLOCK
