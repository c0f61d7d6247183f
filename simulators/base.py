"""Shared plumbing of the time-based mosaik adapters: the time axis and output lookup.

Every adapter in this package is `time-based`, steps every `step_size` seconds and knows the
scenario's calendar (`start`, `tz`) and length (`n_steps`) from its init parameters, so it can
precompute series and map mosaik time to a step index. These four calendar parameters have no
defaults: a simulator started without them next to sources started for another day or time zone
would run to the end with the wrong sun and profiles, so `init` refuses to start (`CalendarError`,
naming what is missing and how to pass it). Give every simulator of a world the same values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import mosaik_api_v3
import numpy as np
import pandas as pd
from mosaik_api_v3.types import Meta, OutputData, OutputRequest

from simulators.clock import time_axis


def same_keys(mapping: dict[str, Any], size: int, first: str | None, last: str | None) -> bool:
    """Whether `mapping` has `size` keys with `first` and `last` at its ends: how an adapter
    recognises what mosaik repeats every step (its inputs or requests, built in the same order
    from the same connections) without comparing every key. mosaik makes new id strings every
    step, so a full comparison reads every string; a source that appears or goes changes the
    count."""
    if len(mapping) != size:
        return False
    return next(iter(mapping), None) == first and next(reversed(mapping), None) == last


class CalendarError(ValueError):
    """A time-based simulator started without (or with impossible) calendar parameters."""


CALENDAR_EXAMPLE = 'step_size=900, start="2024-03-20T00:00:00", tz="Europe/Berlin", n_steps=96'
STAMP_BLOCK = 2048  # timestamps listed at a time by `timestamp` (three weeks of 15-minute steps)


def check_calendar(
    simulator: str, step_size: Any, start: Any, tz: Any, n_steps: Any
) -> tuple[int, str, str, int]:
    """The calendar parameters (step in s, start, time zone, number of steps) checked: all four
    given, whole positive numbers, a start pandas can read and a time zone it knows, the start
    existing and unambiguous there. `CalendarError` naming the simulator and what to pass."""
    given = {"step_size": step_size, "start": start, "tz": tz, "n_steps": n_steps}
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise CalendarError(
            f"{simulator}: missing calendar parameter(s) {', '.join(missing)}; start the simulator "
            f"with the same values as every other simulator of the world, e.g. "
            f"world.start(..., {CALENDAR_EXAMPLE})"
        )
    for name in ("step_size", "n_steps"):
        value = given[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value <= 0:
            raise CalendarError(f"{simulator}: {name} must be a positive whole number, got {value!r}")
    if not isinstance(start, str) or not isinstance(tz, str):
        raise CalendarError(
            f"{simulator}: start and tz must be text (an ISO 8601 time and a time zone name such as "
            f"'Europe/Berlin'), got start={start!r}, tz={tz!r}"
        )
    try:
        time_axis(start, tz, int(step_size), 1)
    except Exception as exc:  # pandas' and pytz' errors for unreadable, unknown or skipped times
        raise CalendarError(
            f"{simulator}: start {start!r} in time zone {tz!r} is not a time there "
            f"({type(exc).__name__}: {exc}); give an ISO 8601 time (with its UTC offset if it is "
            f"ambiguous) and a time zone name such as 'Europe/Berlin'"
        ) from None
    return int(step_size), start, tz, int(n_steps)


class TimeBasedSim(mosaik_api_v3.Simulator):
    """Base adapter: subclasses set `META`, implement `create`, `step_model` and `outputs`."""

    def __init__(self, meta: Meta) -> None:
        super().__init__(meta)  # type: ignore[no-untyped-call]  # mosaik_api_v3 is untyped
        self.sid = ""
        self.step_size_s = 0
        self.start = ""
        self.tz = "UTC"
        self.n_steps = 0
        self.times: pd.DatetimeIndex = pd.DatetimeIndex([])
        self._stamps: tuple[int, list[pd.Timestamp]] = (-1, [])  # (block, its timestamps)
        self.step_index = -1

    def init(
        self,
        sid: str,
        time_resolution: float = 1.0,
        step_size: int | None = None,
        start: str | None = None,
        tz: str | None = None,
        n_steps: int | None = None,
        **sim_params: Any,
    ) -> Meta:
        if time_resolution != 1.0:
            raise ValueError(
                f"{type(self).__name__} needs time_resolution=1 (seconds), got {time_resolution}"
            )
        calendar = check_calendar(type(self).__name__, step_size, start, tz, n_steps)
        self.sid = sid
        self.step_size_s, self.start, self.tz, self.n_steps = calendar
        self.times = time_axis(self.start, self.tz, self.step_size_s, self.n_steps)
        self._stamps = (-1, [])
        self.configure_sim(**sim_params)
        return self.meta

    def timestamp(self, index: int) -> pd.Timestamp:
        """`self.times[index]` (index ≥ 0), from a list of the axis' timestamps made for its block
        of `STAMP_BLOCK` steps (~1 µs a step): indexing the DatetimeIndex makes a new Timestamp
        through pandas' Python code every time, which costs ~30 µs in a run (cold caches between
        the simulators' steps) against ~3 µs in a tight loop. One block at a time, so the memory
        does not grow with the run (a year's list was ~8 MB per simulator)."""
        block, stamps = self._stamps
        if index // STAMP_BLOCK != block:
            block = index // STAMP_BLOCK
            stamps = list(self.times[block * STAMP_BLOCK:(block + 1) * STAMP_BLOCK])
            self._stamps = (block, stamps)
        return stamps[index - block * STAMP_BLOCK]

    def configure_sim(self, **sim_params: Any) -> None:
        """Handle simulator-specific init parameters (none by default)."""
        if sim_params:
            raise TypeError(f"{type(self).__name__}: unexpected init parameters {sorted(sim_params)}")

    def index_of(self, time_s: int) -> int:
        """Step index of mosaik time `time_s`; an error outside the precomputed horizon."""
        index = time_s // self.step_size_s
        if time_s % self.step_size_s or not 0 <= index < self.n_steps:
            raise ValueError(
                f"{self.sid}: time {time_s} s is not a step of this run "
                f"(step {self.step_size_s} s, {self.n_steps} steps)"
            )
        return index

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        self.step_index = self.index_of(time)
        self.step_model(time, inputs)
        return time + self.step_size_s

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        """Advance the model over [time_s, time_s + step_size)."""
        raise NotImplementedError

    def outputs(self, eid: str, attrs: list[str]) -> dict[str, Any]:
        """Current values of `attrs` of entity `eid`."""
        raise NotImplementedError

    def get_data(self, outputs: OutputRequest) -> OutputData:
        return {eid: self.outputs(eid, list(attrs)) for eid, attrs in outputs.items()}


def sum_inputs(values: dict[str, Any]) -> float:
    """Sum of the values several sources sent to one input attribute (None and NaN count as 0)."""
    return float(sum(v for v in values.values() if v is not None and v == v))


def given(values: dict[str, Any] | None) -> bool:
    """Whether any source sent a real value (not None, not NaN: both mean "not set")."""
    return values is not None and any(v is not None and v == v for v in values.values())


def input_column(inputs: Mapping[str, Any], eids: Sequence[str], attr: str) -> np.ndarray:
    """One input attribute of every entity in `eids` as a float array, NaN where nothing real was
    sent; several sources are summed (`sum_inputs`). The same values as `given` and `sum_inputs`
    per entity, without a Python call per entity in the common case of one source per input."""
    empty: dict[str, Any] = {}
    values = [
        None if not sources else next(iter(sources.values())) if len(sources) == 1 else _combined(sources)
        for sources in [inputs.get(eid, empty).get(attr) for eid in eids]
    ]
    # None becomes NaN; adding 0.0 turns -0.0 into 0.0, as sum_inputs' integer start does
    column: np.ndarray = np.array(values, dtype=float) + 0.0
    return column


def _combined(sources: dict[str, Any]) -> float | None:
    return sum_inputs(sources) if given(sources) else None


def answer_from_columns(
    outputs: OutputRequest, position: Mapping[str, int], columns: Mapping[str, Sequence[Any]]
) -> OutputData:
    """Answer a `get_data` request from per-step columns (attribute → one value per entity, in
    entity position order). Raises KeyError for an unknown entity or attribute.

    Entities that ask for the same attributes (mosaik asks every entity of a kind for the same
    ones, every step) are answered together: their dicts are built by `dict(zip(names, values))`
    over the zipped columns, with no Python-level loop or comprehension per value."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for eid, attrs in outputs.items():
        key = tuple(attrs)
        group = groups.get(key)
        if group is None:
            groups[key] = [eid]
        else:
            group.append(eid)
    data: OutputData = {}
    for key, eids in groups.items():
        names = tuple(dict.fromkeys(key))  # mosaik lists an attribute once per connection using it
        if not names:
            data.update({eid: {} for eid in eids})
            continue
        lists = [columns[a] for a in names]
        rows = [position[eid] for eid in eids]
        if rows == list(range(len(rows))):  # the first entities, in order: the columns as they are
            values: Any = zip(*lists, strict=True)
        else:
            values = zip(*([column[r] for r in rows] for column in lists), strict=True)
        # (with the first entities only, the zip stops after the last of them)
        data.update(zip(eids, map(dict, map(zip, repeat(names), values)), strict=False))
    return data
