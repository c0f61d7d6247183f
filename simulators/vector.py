"""Vector entities: one mosaik entity standing for many entities of a simulator (issue 22).

mosaik routes data connection by connection: every step it looks up, transforms and files each
(source entity, attribute) → (destination entity, attribute) pair in Python, ~1–2 µs a pair. A
district of 1,000 buildings has ~50 pairs a building (weather, measurements, setpoints, the grid
connection, the recorder), so routing alone took a quarter of a step. A `Vector` entity carries the
values of a list of member entities (`members`, in that order) as one list per attribute, so one
connection moves a whole fleet's values:

- as a source: `get_data` answers a vector's attribute with the list of its members' values
  (positions in `members`' order);
- as a destination: a list input gives each member its element; a single value (not a list) is
  given to every member (e.g. one weather entity → all buildings). The simulator sees the same
  per-entity inputs as over per-entity connections (`expand_inputs`), keyed by the vector's full id.

A simulator supports vectors by declaring `vector_model(attrs)` under `VECTOR` in its META, creating
`Vector` entities with `Vectors.create` and routing through `Vectors.split` / `expand_inputs`.
`cosim.world.build` connects with vectors wherever both ends support them and a link repeats over
many entities with the same attributes; other simulators (hardware-in-the-loop devices, plug-ins)
keep one connection per entity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
from mosaik_api_v3.types import CreateResult, OutputData, OutputRequest

from simulators.base import input_column, same_keys

VECTOR = "Vector"
VECTOR_PARAMS = ["members"]


def vector_model(attrs: Sequence[str]) -> dict[str, Any]:
    """The META entry of a simulator's `Vector` model: every attribute of its other models."""
    return {"public": True, "params": list(VECTOR_PARAMS), "attrs": list(dict.fromkeys(attrs))}


def with_vector(meta: Any) -> Any:
    """`meta` with a `Vector` model whose attributes are the union of its models' attributes."""
    attrs = [a for model in meta["models"].values() for a in model.get("attrs", [])]
    return {**meta, "models": {**meta["models"], VECTOR: vector_model(attrs)}}


class Vectors:
    """A simulator's vector entities: their members and how their values are picked."""

    def __init__(self) -> None:
        self.members: dict[str, list[str]] = {}
        self._rows: dict[str, tuple[list[int], int, bool]] = {}
        self._split: tuple[OutputRequest | None, int, Any, Any, OutputRequest, OutputRequest] = (
            None, -1, None, None, {}, {},
        )

    def __bool__(self) -> bool:
        return bool(self.members)

    def __contains__(self, eid: object) -> bool:
        return eid in self.members

    def create(self, num: int, members: Any, known: Mapping[str, Any] | Sequence[str], sid: str) -> list[
        CreateResult
    ]:
        """One `Vector` entity over `members` (entity ids of this simulator, `known`)."""
        if num != 1:
            raise ValueError(f"{sid}: create one Vector at a time")
        if not isinstance(members, list | tuple) or not members:
            raise ValueError(f"{sid}: a Vector needs a non-empty list of member entity ids (members)")
        unknown = [m for m in members if m not in known or m in self.members]
        if unknown:
            raise ValueError(f"{sid}: Vector members {unknown[:3]} are not entities of this simulator")
        if len(set(members)) != len(members):
            raise ValueError(f"{sid}: a Vector lists each member once")
        vid = f"{VECTOR}_{len(self.members)}"
        self.members[vid] = [str(m) for m in members]
        return [{"eid": vid, "type": VECTOR}]

    def split(self, outputs: OutputRequest) -> tuple[OutputRequest, OutputRequest]:
        """A `get_data` request split into its plain entities' part and its vectors' part. mosaik
        asks with the same dict every step: the split is kept and reused for it (the plain part
        is then the same dict every step too, which adapters that plan by request rely on)."""
        if not self.members:
            return outputs, {}
        last, size, first, end, plain, vectors = self._split
        if outputs is last and same_keys(outputs, size, first, end):
            return plain, vectors
        plain = {eid: attrs for eid, attrs in outputs.items() if eid not in self.members}
        vectors = {eid: attrs for eid, attrs in outputs.items() if eid in self.members}
        self._split = (outputs, len(outputs), next(iter(outputs), None), next(reversed(outputs), None),
                       plain, vectors)
        return plain, vectors

    def answer(
        self, request: OutputRequest, column: Callable[[str], Sequence[Any]], position: Mapping[str, int]
    ) -> OutputData:
        """The vectors' part of a request: each attribute as the list of the members' values,
        picked from `column(attr)` (one value per entity, at `position[eid]`)."""
        data: OutputData = {}
        for vid, attrs in request.items():
            rows, first, contiguous = self.rows(vid, position)
            values: dict[str, Any] = {}
            for attr in dict.fromkeys(attrs):
                col = column(attr)
                if contiguous:
                    whole = first == 0 and len(col) == len(rows)
                    values[attr] = col if whole else list(col[first : first + len(rows)])
                else:
                    values[attr] = [col[r] for r in rows]
            data[vid] = values
        return data


    def rows(self, vid: str, position: Mapping[str, int]) -> tuple[list[int], int, bool]:
        """The members' positions (`position[eid]`), the first one, and whether they follow each
        other (kept: members and positions do not change once the world runs)."""
        kept = self._rows.get(vid)
        if kept is None:
            rows = [position[m] for m in self.members[vid]]
            first = rows[0]
            kept = self._rows[vid] = (rows, first, rows == list(range(first, first + len(rows))))
        return kept


def expand_inputs(inputs: dict[str, Any], vectors: Vectors, sid: str) -> dict[str, Any]:
    """`inputs` with each vector's inputs given to its members: element k of a list to member k,
    a single value to every member; the source key is the vector's source (its full id). The
    members' own inputs (over per-entity connections) come first, as mosaik orders sources by
    connection."""
    if not vectors or not any(vid in inputs for vid in vectors.members):
        return inputs
    out: dict[str, Any] = {}
    for eid, attrs in inputs.items():  # copied: mosaik may share these dicts with its own state
        if eid not in vectors.members:
            out[eid] = {attr: dict(sources) for attr, sources in attrs.items()}
    for vid, attrs in inputs.items():
        members = vectors.members.get(vid)
        if members is None:
            continue
        n = len(members)
        for attr, sources in attrs.items():
            for src, value in sources.items():
                if isinstance(value, list):
                    if len(value) != n:
                        raise ValueError(
                            f"{sid}.{vid}: {attr} from {src} has {len(value)} values for {n} members"
                        )
                    for member, v in zip(members, value, strict=True):
                        out.setdefault(member, {}).setdefault(attr, {})[src] = v
                else:
                    for member in members:
                        out.setdefault(member, {}).setdefault(attr, {})[src] = value
    return out


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()  # "no source sent this input" in an `InputView` column


class InputView:
    """A step's inputs with the vector entities' inputs kept as lists, so a fleet's input column is
    read without a dict per entity (`column`); `expanded` gives the per-entity form
    (`expand_inputs`) where a column cannot be read that way."""

    def __init__(self, inputs: dict[str, Any], vectors: Vectors, sid: str) -> None:
        self.inputs, self.vectors, self.sid = inputs, vectors, sid
        self._expanded: dict[str, Any] | None = None
        self.by_attr: dict[str, list[tuple[str, str, Any]]] = {}  # attr → (vector, source, value)
        if vectors and any(vid in inputs for vid in vectors.members):
            self.plain = {eid: attrs for eid, attrs in inputs.items() if eid not in vectors.members}
            for vid, members in vectors.members.items():
                for attr, sources in inputs.get(vid, {}).items():
                    for src, value in sources.items():
                        if isinstance(value, list) and len(value) != len(members):
                            raise ValueError(f"{sid}.{vid}: {attr} from {src} has {len(value)} values for "
                                             f"{len(members)} members")
                        self.by_attr.setdefault(attr, []).append((vid, src, value))
        else:
            self.plain = inputs

    def expanded(self) -> dict[str, Any]:
        """Every entity's inputs as mosaik gives them over per-entity connections."""
        if self._expanded is None:
            self._expanded = expand_inputs(self.inputs, self.vectors, self.sid)
        return self._expanded

    def column(self, attr: str, eids: Sequence[str], position: Mapping[str, int]) -> list[Any] | None:
        """`attr`'s value for each of `eids` (`position[eid]` = its index in `eids`): the one
        source's value, `MISSING` where none sent it. None where this cannot be read from the
        vectors alone: an entity has it from two sources or also over a per-entity connection
        (then read `expanded()`)."""
        sources = self.by_attr.get(attr)
        if sources is None:
            if self.plain is self.inputs and not self.by_attr:
                return None
            if any(attr in self.plain.get(eid, ()) for eid in eids):
                return None
            return [MISSING] * len(eids)
        if any(attr in attrs for attrs in self.plain.values()):
            return None
        column: list[Any] = [MISSING] * len(eids)
        covered = 0
        for vid, _src, value in sources:
            rows, first, contiguous = self.vectors.rows(vid, position)
            covered += len(rows)
            values = value if isinstance(value, list) else [value] * len(rows)
            if contiguous:
                column[first : first + len(rows)] = values
            else:
                for row, v in zip(rows, values, strict=True):
                    column[row] = v
        if len(sources) > 1 and covered != len(column) - column.count(MISSING):
            return None  # a member had two sources
        return column

    def input_column(self, attr: str, eids: Sequence[str], position: Mapping[str, int]) -> np.ndarray:
        """`simulators.base.input_column` of `attr` (NaN where nothing real was sent), read from
        the vectors' lists where it can be (`column`)."""
        column = self.column(attr, eids, position)
        if column is None:
            return input_column(self.expanded(), eids, attr)
        values = [None if v is MISSING else v for v in column] if MISSING in column else column
        array: np.ndarray = np.array(values, dtype=float) + 0.0
        return array

    def summed(self, attr: str, eids: Sequence[str], position: Mapping[str, int]) -> np.ndarray | None:
        """The sum of every source's value of `attr` for each of `eids` (None ignored, no source:
        0), in the vectors' order; None when per-entity connections also send it."""
        if self.plain is self.inputs and not self.by_attr:
            return None
        if any(attr in self.plain.get(eid, ()) for eid in eids):
            return None
        total = np.zeros(len(eids))
        for vid, _src, value in self.by_attr.get(attr, []):
            rows = self.vectors.rows(vid, position)[0]
            values = value if isinstance(value, list) else [value] * len(rows)
            total[rows] += np.array([0.0 if v is None else v for v in values], dtype=float)
        return total + 0.0
