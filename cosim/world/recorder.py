"""The mosaik simulator that records every connected attribute into the results writer.

One `Recorder` entity accepts any input (`any_inputs`). Its create parameter `entities` maps each
source's full id to its result table and display name, or for a vector entity (`simulators.vector`:
one source whose values are lists, one element per member) to its table and its members' names, in
order; `events` inputs (lists of dicts) go to the `events` table. Every entity has a fixed row in
its table, and mosaik hands over an attribute's sources in the same order every step, so where each
value goes is worked out once per attribute (a `_Plan`, checked by the count and the first and last
source every step) and a step copies slices of the values into the tables' columns (a vector that
fills a whole table is its column as it is). The recorder runs in process: it writes through the
`ResultsWriter` and reports progress to the callback of the run's `RunContext` (init parameter
`context`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from mosaik_api_v3.types import CreateResult, Meta

from cosim.world.context import RunContext, require_context
from simulators.base import TimeBasedSim, same_keys

META: Meta = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {"Recorder": {"public": True, "params": ["entities"], "attrs": [], "any_inputs": True}},
}





class RecorderSim(TimeBasedSim):
    """Turns mosaik inputs into tidy rows: one row per (time, entity) per table."""

    def __init__(self) -> None:
        super().__init__(META)
        self.entities: dict[str, tuple[str, str]] = {}
        self.hooks: RunContext | None = None
        self.plans: dict[str, _Plan] = {}

    def configure_sim(self, context: RunContext | None = None) -> None:  # type: ignore[override]
        self.hooks = require_context(context, "recorder")

    def create(  # type: ignore[override]  # explicit keywords
        self, num: int, model: str, entities: dict[str, list[str]] | None = None
    ) -> list[CreateResult]:
        if model != "Recorder" or num != 1:
            raise ValueError("create exactly one Recorder")
        self.entities = {}
        # every entity has a fixed row in its table (a vector: consecutive rows, one per member): a
        # step's values go straight into column lists
        self.rows: dict[str, tuple[str, int, int]] = {}  # full id -> table, first row, rows (0: scalar)
        self.names: dict[str, list[str]] = defaultdict(list)
        for full_id, (table, name) in (entities or {}).items():
            members = [str(n) for n in name] if isinstance(name, list | tuple) else None
            self.entities[full_id] = (table, name if members is None else full_id)
            self.rows[full_id] = (table, len(self.names[table]), 0 if members is None else len(members))
            self.names[table].extend([name] if members is None else members)
        return [{"eid": "Recorder", "type": "Recorder"}]

    def step_model(self, time_s: int, inputs: dict[str, Any]) -> None:
        if self.hooks is None:
            raise RuntimeError("recorder not configured")
        timestamp = self.timestamp(self.step_index)
        columns: dict[str, dict[str, list[Any]]] = {t: {} for t in self.names}
        events: list[dict[str, Any]] = []
        plans = self.plans
        for attr, sources in inputs.get("Recorder", {}).items():
            if attr == "events":
                for full_id, value in sources.items():
                    name = self.entities.get(full_id, ("other", full_id))[1]
                    events += [
                        {"time_s": time_s, "timestamp": timestamp, "entity": name, **e} for e in value or []
                    ]
                continue
            plan = plans.get(attr)
            if plan is None or not plan.matches(sources):
                plan = self.plans[attr] = _Plan.build(tuple(sources), self.rows, self.names)
            plan.fill(list(sources.values()), columns, attr)
        for table, table_columns in columns.items():
            if table_columns:
                n = len(self.names[table])
                self.hooks.writer.add_columns(
                    table, {"time_s": [time_s] * n, "entity": self.names[table], **table_columns}, timestamp
                )
        if events:
            self.hooks.writer.add_rows("events", events)
        self.hooks.writer.end_step()
        if self.hooks.on_step is not None:
            self.hooks.on_step(time_s)


@dataclass(frozen=True)
class _Part:
    """The values one table takes from an attribute's sources: positions `start:stop` of the
    sources when they are contiguous (else the listed positions), written to `rows` of the table's
    column (`rows` None: the whole column, in order)."""

    table: str
    start: int
    stop: int
    positions: tuple[int, ...] | None
    rows: tuple[int, ...] | None
    n_rows: int

    @property
    def whole(self) -> bool:
        """All of the sources, in order, make the whole column."""
        return self.positions is None and self.rows is None and self.start == 0 and self.stop == self.n_rows

    def column(self, values: list[Any]) -> list[Any]:
        picked = (
            values[self.start : self.stop] if self.positions is None else [values[p] for p in self.positions]
        )
        if self.rows is None:
            return picked
        column: list[Any] = [None] * self.n_rows
        for row, value in zip(self.rows, picked, strict=True):
            column[row] = value
        return column


@dataclass(frozen=True)
class _VectorPart:
    """The values one table takes from an attribute's sources when some of them are vector
    entities: `items` (position among the sources, first row, rows: 0 for a single value). A
    vector that fills the whole table is its column as it is."""

    table: str
    items: tuple[tuple[int, int, int], ...]
    n_rows: int
    whole = False

    def column(self, values: list[Any]) -> list[Any]:
        items = self.items
        if len(items) == 1 and items[0][1] == 0 and items[0][2] == self.n_rows:
            return _members(values[items[0][0]], self.n_rows)
        column: list[Any] = [None] * self.n_rows
        for position, row, count in items:
            if count:
                column[row : row + count] = _members(values[position], count)
            else:
                column[row] = values[position]
        return column


def _members(value: Any, count: int) -> list[Any]:
    """A vector entity's value: one element per member (None when the source sent nothing)."""
    if value is None:
        return [None] * count
    if len(value) != count:
        raise ValueError(f"recorder: a vector entity sent {len(value)} values for {count} members")
    return list(value) if not isinstance(value, list) else value


@dataclass(frozen=True)
class _Plan:
    """How one attribute's sources (in mosaik's order, `keys`) map onto the result tables."""

    keys: tuple[str, ...]
    parts: tuple[_Part | _VectorPart, ...]

    def matches(self, sources: dict[str, Any]) -> bool:
        """Whether `sources` are this plan's: mosaik sends an attribute's sources in the same order
        every step (it fills a step's inputs from its list of the connections, made when the world
        was connected), so their count and the first and last source tell (`same_keys`; comparing
        every key cost about as much as the rest of the recorder's step at 100 buildings)."""
        keys = self.keys
        return same_keys(sources, len(keys), keys[0] if keys else None, keys[-1] if keys else None)

    @classmethod
    def build(
        cls, keys: tuple[str, ...], rows: dict[str, tuple[str, int, int]], names: dict[str, list[str]]
    ) -> _Plan:
        by_table: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # table → (position, row, n)
        for position, full_id in enumerate(keys):
            table, row, count = rows[full_id]
            by_table[table].append((position, row, count))
        parts: list[_Part | _VectorPart] = []
        for table, items in by_table.items():
            if any(count for _, _, count in items):
                parts.append(_VectorPart(table, tuple(items), len(names[table])))
                continue
            positions = [p for p, _, _ in items]
            table_rows = [r for _, r, _ in items]
            contiguous = positions == list(range(positions[0], positions[0] + len(positions)))
            whole = table_rows == list(range(len(names[table])))
            parts.append(
                _Part(
                    table,
                    positions[0],
                    positions[-1] + 1,
                    None if contiguous else tuple(positions),
                    None if whole else tuple(table_rows),
                    len(names[table]),
                )
            )
        return cls(keys, tuple(parts))

    def fill(self, values: list[Any], columns: dict[str, dict[str, list[Any]]], attr: str) -> None:
        """Put this step's `values` (a new list, in the order of `keys`) into the tables' `attr`
        columns; when they all go to one table's whole column in order, the list is the column."""
        parts = self.parts
        if len(parts) == 1 and parts[0].whole:
            columns[parts[0].table][attr] = values
            return
        for part in parts:
            columns[part.table][attr] = part.column(values)
