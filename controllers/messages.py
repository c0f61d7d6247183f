"""Versioned, validated MQTT payloads shared by the controllers, the bridge and the planner.

Every payload is one `Message`: an envelope (schema version `v`, `kind`, `run`, `tick`, optional
ADMM `iteration`, `sender`, sequence number `seq`, wall-clock timestamp `ts_s` in Unix seconds,
optional `hmac`) around a `body` whose type depends on the kind. Example (JSON, one line on the
wire):

    {"v": 1, "kind": "meas", "run": "demo", "tick": 12, "iteration": null, "sender": "bridge",
     "seq": 345, "ts_s": 1767225600.123, "hmac": null,
     "body": {"time_s": 10800, "values": {"p_kw": 3.2, "pv_kw": 0.0, "soc": 0.41}}}

Encoding is JSON by default, MessagePack when `msgpack` is installed and asked for; `decode`
detects which one from the first byte. `decode` never raises on a malformed payload: it returns
a `DecodeError` with a `DropReason` and counts it in a `DropCounter`.

Values are floats with their unit in the key (`p_kw`, `soc`); None means "no value / not set".
NaN and infinities are rejected (send None instead). `hmac` is reserved for message signing:
`sign` and `verify` compute HMAC-SHA256 over the canonical JSON of the message without it.
"""

from __future__ import annotations

import base64
import binascii
import collections
import functools
import hashlib
import hmac as _hmac
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, NamedTuple, TypeAlias, TypeVar

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from controllers.topics import Kind, ParsedTopic

SCHEMA_VERSION: Final = 1
MAX_PAYLOAD_BYTES: Final = 1 << 20
MAX_ENTRIES: Final = 1024
MAX_SERIES: Final = 100_000
MAX_BATCH_AGENTS: Final = 4096

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Count = Annotated[int, Field(ge=0)]
Values = Annotated[dict[Name, float | None], Field(max_length=MAX_ENTRIES)]
Series = Annotated[list[float], Field(max_length=MAX_SERIES)]
Payload: TypeAlias = bytes | bytearray | memoryview
SeriesValues = Annotated[dict[Name, Series], Field(max_length=MAX_ENTRIES)]
AgentValues = Annotated[dict[Name, Values], Field(min_length=1, max_length=MAX_BATCH_AGENTS)]
BatchValues: TypeAlias = Mapping[str, Mapping[str, float | None]]  # agent -> name -> value, to build a batch


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class MeasBody(_Strict):
    """Measurements of one controlled entity at simulation time `time_s` (s from scenario start)."""

    values: Values
    time_s: int | None = None


class SetpointBody(_Strict):
    """An agent's setpoints; a None value means "no setpoint" for that attribute."""

    values: Values


class MeasBatchBody(_Strict):
    """The measurements of several agents of one agent host (agent id → values) at `time_s`.

    `partial_after_s`: seconds after receipt at which the host publishes the setpoints it has,
    even if some of its agents are still stepping (their answers follow in further batches);
    None = answer once every agent has stepped."""

    values: AgentValues
    time_s: int | None = None
    partial_after_s: Annotated[float, Field(ge=0)] | None = None


class SetpointBatchBody(_Strict):
    """The setpoints of several agents of one host (agent id → values; a None value = not set)."""

    values: AgentValues


class PlanBody(_Strict):
    """A schedule per attribute: `values[a][i]` holds for [start_s + i·step_s, start_s + (i+1)·step_s)."""

    start_s: int
    step_s: Annotated[int, Field(gt=0)]
    values: SeriesValues


def _base64_rows(rows: np.ndarray) -> str:
    """Standard base64 of `rows` as little-endian float64, row by row."""
    return base64.b64encode(np.ascontiguousarray(rows, dtype="<f8").tobytes()).decode("ascii")


def _float_rows(text: str, n_rows: int, n_columns: int, field: str) -> np.ndarray:
    """The n_rows × n_columns float64 array packed in `text` (`_base64_rows`); ValueError naming
    `field` if it is not base64, not that size or holds a value that is not finite."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{field} must be standard base64") from None
    if len(raw) != 8 * n_rows * n_columns:
        raise ValueError(f"{field} must hold {n_rows} × {n_columns} = {n_rows * n_columns} float64 values")
    rows = np.frombuffer(bytearray(raw), dtype="<f8").reshape(n_rows, n_columns).astype(float, copy=False)
    if not np.isfinite(rows).all():
        raise ValueError(f"{field} values must be finite")
    return rows


class _Rows:
    """A packed form's decoded rows (kept beside the model; equal when the numbers are)."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rows) and np.array_equal(self.array, other.array)

    __hash__ = None  # type: ignore[assignment]


class ForecastGroup(_Strict):
    """The forecasts of agents with the same series (names and lengths), packed: `data` is the
    standard base64 (RFC 4648, padded) of agents × Σ lengths IEEE-754 float64 numbers, little-endian,
    agent by agent; an agent's row holds its series one after the other, in `names`' order."""

    agents: Annotated[list[Name], Field(min_length=1, max_length=MAX_BATCH_AGENTS)]
    names: Annotated[list[Name], Field(max_length=MAX_ENTRIES)]
    lengths: list[Annotated[int, Field(ge=0, le=MAX_SERIES)]]
    data: Annotated[str, Field(max_length=MAX_PAYLOAD_BYTES)]
    _rows: _Rows | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unpack(self) -> ForecastGroup:
        if len(set(self.agents)) != len(self.agents) or len(set(self.names)) != len(self.names):
            raise ValueError("agents and names must not repeat")
        if len(self.lengths) != len(self.names):
            raise ValueError("lengths needs one entry per name")
        rows = _float_rows(self.data, len(self.agents), sum(self.lengths), "data")
        rows.flags.writeable = False  # handed out as views (`arrays`)
        self._rows = _Rows(rows)
        return self

    def series(self, row: int) -> dict[str, list[float]]:
        """The series of `agents[row]` (name → values)."""
        return {name: values.tolist() for name, values in self.arrays(row).items()}

    def arrays(self, row: int) -> dict[str, np.ndarray]:
        """The series of `agents[row]` as read-only float64 views of the decoded rows (name → array):
        `series` without a list of floats each."""
        assert self._rows is not None
        values = self._rows.array[row]
        out, start = {}, 0
        for name, length in zip(self.names, self.lengths, strict=True):
            out[name] = values[start : start + length]
            start += length
        return out

    @classmethod
    def pack(cls, forecasts: Mapping[str, Mapping[str, Sequence[float]]]) -> ForecastGroup:
        """The packed form of `forecasts` (agent → series, every agent with the first's names and
        lengths); ValueError if a value is not finite."""
        agents = list(forecasts)
        first = forecasts[agents[0]]
        names, lengths = list(first), [len(v) for v in first.values()]
        rows = np.empty((len(agents), sum(lengths)))
        for i, series in enumerate(forecasts.values()):
            start = 0
            for length, values in zip(lengths, series.values(), strict=True):
                rows[i, start : start + length] = values
                start += length
        finite = np.isfinite(rows).all(axis=1)
        if not finite.all():
            raise ValueError(f"forecast of {agents[int(np.argmin(finite))]} has values that are not finite")
        group = cls.model_construct(agents=agents, names=names, lengths=lengths, data=_base64_rows(rows))
        rows.flags.writeable = False  # handed out as views (`arrays`)
        group._rows = _Rows(rows)
        return group


class ForecastBatchBody(_Strict):
    """The forecasts of several agents of one agent host, all for the same step, in one of two forms:
    `values` (agent id → its series: `values[agent][a][i]` holds for [start_s + i·step_s, start_s +
    (i+1)·step_s)) or `packed` (the same as `ForecastGroup`s, agents with the same series together:
    what the bridge sends)."""

    start_s: int
    step_s: Annotated[int, Field(gt=0)]
    values: Annotated[dict[Name, SeriesValues], Field(min_length=1, max_length=MAX_BATCH_AGENTS)] | None = (
        None
    )
    packed: Annotated[list[ForecastGroup], Field(min_length=1, max_length=MAX_BATCH_AGENTS)] | None = None
    _where: dict[str, tuple[int, int]] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_form(self) -> ForecastBatchBody:
        if (self.values is None) == (self.packed is None):
            raise ValueError("a forecast batch has either values or packed")
        if self.packed is not None:
            agents = [a for group in self.packed for a in group.agents]
            if len(set(agents)) != len(agents) or len(agents) > MAX_BATCH_AGENTS:
                raise ValueError(f"packed must name each agent once, at most {MAX_BATCH_AGENTS}")
        return self

    def agent_ids(self) -> list[str]:
        if self.values is not None:
            return list(self.values)
        assert self.packed is not None
        return [a for group in self.packed for a in group.agents]

    def series_of(self, agent: str) -> Mapping[str, Sequence[float]]:
        """`agent`'s series (name → values); KeyError if the batch has none for it."""
        if self.values is not None:
            return self.values[agent]
        group, row = self._place(agent)
        return group.series(row)

    def arrays_of(self, agent: str) -> dict[str, np.ndarray]:
        """`agent`'s series as float64 arrays (name → array; of the packed form: read-only views of
        its decoded rows); KeyError if the batch has none for it."""
        if self.values is not None:
            return {name: np.asarray(v, dtype=float) for name, v in self.values[agent].items()}
        group, row = self._place(agent)
        return group.arrays(row)

    def _place(self, agent: str) -> tuple[ForecastGroup, int]:
        assert self.packed is not None
        if self._where is None:
            where = {a: (g, i) for g, group in enumerate(self.packed) for i, a in enumerate(group.agents)}
            self._where = where
        group, row = self._where[agent]
        return self.packed[group], row


class AdmmUpdateBody(_Strict):
    """An agent's answer to a round (`admm/x`): its net power at the meter over the horizon (kW) and
    how its local solve went."""

    p_net_kw: Series
    local_cost: float
    solve_time_s: Annotated[float, Field(ge=0)]
    solver_iterations: Count
    solver_status: Annotated[str, Field(max_length=64)]


@dataclass(frozen=True)
class RoundUpdate:
    """An agent's round update before encoding: an `AdmmUpdateBody` with its net power as an array.
    Not checked when made: `body()` checks it as the body's fields are, `AdmmPackedUpdates.pack` the
    updates of a whole batch at once (so an agent host packs many without a list of floats each)."""

    p_net_kw: np.ndarray
    local_cost: float
    solve_time_s: float
    solver_iterations: int
    solver_status: str

    def body(self) -> AdmmUpdateBody:
        """The `admm/x` body of this update (pydantic.ValidationError if a field is out of range)."""
        return AdmmUpdateBody(p_net_kw=np.asarray(self.p_net_kw, dtype=float).tolist(),
                              local_cost=float(self.local_cost), solve_time_s=float(self.solve_time_s),
                              solver_iterations=int(self.solver_iterations), solver_status=self.solver_status)

    @classmethod
    def of(cls, update: AdmmUpdateBody | RoundUpdate) -> RoundUpdate:
        if isinstance(update, RoundUpdate):
            return update
        return cls(np.asarray(update.p_net_kw, dtype=float), update.local_cost, update.solve_time_s,
                   update.solver_iterations, update.solver_status)


class AdmmPackedUpdates(_Strict):
    """A round batch's updates as columns, the form agent hosts send: entry i of each list is agent
    `agents[i]`'s; `p_net_kw` holds every agent's `steps` values in one string, the standard base64
    (RFC 4648, padded) of agents × steps IEEE-754 float64 numbers, little-endian, agent by agent.
    Half the bytes of a JSON list per value, and encoded and decoded as one array."""

    agents: Annotated[list[Name], Field(min_length=1, max_length=MAX_BATCH_AGENTS)]
    steps: Annotated[int, Field(ge=1, le=MAX_SERIES)]
    p_net_kw: Annotated[str, Field(max_length=MAX_PAYLOAD_BYTES)]
    local_cost: list[float]
    solve_time_s: list[Annotated[float, Field(ge=0)]]
    solver_iterations: list[Count]
    solver_status: list[Annotated[str, Field(max_length=64)]]
    _rows: _Rows | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unpack(self) -> AdmmPackedUpdates:
        n = len(self.agents)
        if len(set(self.agents)) != n:
            raise ValueError("agents must not repeat")
        columns = (self.local_cost, self.solve_time_s, self.solver_iterations, self.solver_status)
        if any(len(column) != n for column in columns):
            raise ValueError(f"local_cost, solve_time_s, solver_iterations, solver_status: {n} entries each")
        self._rows = _Rows(_float_rows(self.p_net_kw, n, self.steps, "p_net_kw"))
        return self

    def rows(self) -> np.ndarray:
        """p_net_kw as an agents × steps array (row i: `agents[i]`'s)."""
        assert self._rows is not None
        return self._rows.array

    @classmethod
    def pack(
        cls, updates: Mapping[str, AdmmUpdateBody | RoundUpdate]
    ) -> tuple[AdmmPackedUpdates | None, list[str]]:
        """The packed form of the valid ones of `updates` (agent → update, every one with as many steps
        as the first), and the agents whose update is not valid (a value not finite, a field out of
        range, another number of steps), checked all at once; None if none is valid."""
        checked = [RoundUpdate.of(u) for u in updates.values()]
        agents = list(updates)
        if not checked:
            return None, []
        steps = np.shape(checked[0].p_net_kw)[0] if np.ndim(checked[0].p_net_kw) == 1 else 0
        same = np.array([np.shape(u.p_net_kw) == (steps,) for u in checked])
        rows = np.zeros((len(checked), steps))
        if same.any():
            rows[same] = np.stack([u.p_net_kw for u, ok in zip(checked, same, strict=True) if ok])
        cost = np.array([u.local_cost for u in checked], dtype=float)
        seconds = np.array([u.solve_time_s for u in checked], dtype=float)
        iterations = np.array([u.solver_iterations for u in checked])
        finite = np.isfinite(rows).all(axis=1) & np.isfinite(cost) & np.isfinite(seconds)
        short = np.array([len(u.solver_status) <= 64 for u in checked])
        in_range = (seconds >= 0) & (iterations >= 0) & short
        valid = same & (steps >= 1) & finite & in_range
        rejected = [a for a, ok in zip(agents, valid, strict=True) if not ok]
        if not valid.any():
            return None, rejected
        if rejected:
            keep = np.flatnonzero(valid)
            agents, checked, rows = [agents[i] for i in keep], [checked[i] for i in keep], rows[keep]
            cost, seconds, iterations = cost[keep], seconds[keep], iterations[keep]
        statuses = [u.solver_status for u in checked]
        packed = cls._columns(agents, rows, cost.tolist(), seconds.tolist(), iterations.tolist(), statuses)
        return packed, rejected

    def subset(self, keep: Sequence[int]) -> AdmmPackedUpdates:
        """The entries at the positions `keep` (valid: they were)."""
        return self._columns([self.agents[i] for i in keep], self.rows()[list(keep)],
                             [self.local_cost[i] for i in keep], [self.solve_time_s[i] for i in keep],
                             [self.solver_iterations[i] for i in keep], [self.solver_status[i] for i in keep])

    @classmethod
    def _columns(cls, agents: list[str], rows: np.ndarray, cost: list[float], seconds: list[float],
                 iterations: list[int], statuses: list[str]) -> AdmmPackedUpdates:
        """The packed updates of checked columns (constructed: no second decoding of the base64)."""
        packed = cls.model_construct(agents=agents, steps=int(rows.shape[1]), p_net_kw=_base64_rows(rows),
                                     local_cost=cost, solve_time_s=seconds, solver_iterations=iterations,
                                     solver_status=statuses)
        packed._rows = _Rows(rows)
        return packed


class BatchEntry(NamedTuple):
    """One agent's update in a round batch, whichever form the batch came in."""

    agent: str
    p_net_kw: np.ndarray
    local_cost: float
    solve_time_s: float
    solver_iterations: int
    solver_status: str


class AdmmUpdateBatchBody(_Strict):
    """The updates of several agents of one agent host to the same round (`batch/admm-x`), in one of
    two forms: `values` (agent id → its update, as each would have sent it on `admm/x`) or `packed`
    (the same as columns, `AdmmPackedUpdates`: what agent hosts send)."""

    values: Annotated[dict[Name, AdmmUpdateBody], Field(min_length=1, max_length=MAX_BATCH_AGENTS)] | None = (
        None
    )
    packed: AdmmPackedUpdates | None = None

    @model_validator(mode="after")
    def _one_form(self) -> AdmmUpdateBatchBody:
        if (self.values is None) == (self.packed is None):
            raise ValueError("a round batch has either values or packed")
        return self

    def agent_ids(self) -> list[str]:
        return list(self.values) if self.values is not None else list(self.packed.agents)  # type: ignore[union-attr]

    def entries(self) -> list[BatchEntry]:
        """Every agent's update, in the batch's order."""
        if self.values is not None:
            return [BatchEntry(a, np.asarray(u.p_net_kw, dtype=float), u.local_cost, u.solve_time_s,
                               u.solver_iterations, u.solver_status) for a, u in self.values.items()]
        packed = self.packed
        assert packed is not None
        return [BatchEntry(*entry) for entry in zip(packed.agents, packed.rows(), packed.local_cost,
                                                    packed.solve_time_s, packed.solver_iterations,
                                                    packed.solver_status, strict=True)]

    def without(self, agents: set[str] | frozenset[str]) -> AdmmUpdateBatchBody | None:
        """This batch without `agents`' entries (None if nothing is left)."""
        if self.values is not None:
            kept = {a: u for a, u in self.values.items() if a not in agents}
            return AdmmUpdateBatchBody(values=kept) if kept else None
        packed = self.packed
        assert packed is not None
        keep = [i for i, a in enumerate(packed.agents) if a not in agents]
        if not keep:
            return None
        return AdmmUpdateBatchBody.model_construct(values=None, packed=packed.subset(keep))


class AdmmBroadcastBody(_Strict):
    """The coordinator's round (`admm/z`): ρ, and x̄, z̄ and u = y/ρ over `rows` coupling rows (row 0
    the transformer, then the scaled voltage rows) × `steps` horizon steps, row by row."""

    type: Literal["broadcast"] = "broadcast"
    rho: Annotated[float, Field(gt=0)]
    rows: Annotated[int, Field(ge=1)]
    steps: Annotated[int, Field(ge=1)]
    x_mean: Series
    z_mean: Series
    u_scaled: Series

    @model_validator(mode="after")
    def _shape(self) -> AdmmBroadcastBody:
        n = self.rows * self.steps
        if not len(self.x_mean) == len(self.z_mean) == len(self.u_scaled) == n:
            raise ValueError(f"x_mean, z_mean and u_scaled must hold rows × steps = {n} values each")
        return self


class AdmmRound(_Strict):
    """One round as the coordinator recorded it: ρ, residuals and tolerances, fresh and stale agents,
    wall times (s)."""

    rho: float
    r_primal: float
    r_dual: float
    eps_primal: float
    eps_dual: float
    n_fresh: Count
    n_stale: Count
    coordinate_time_s: float
    max_solve_time_s: float
    sum_solve_time_s: float


AdmmFallback = Literal["last_iterate", "shifted_previous"]


class AdmmDecisionBody(_Strict):
    """The coordinator's decision after a step's last round (`admm/z`): apply the agreed plan, or the
    named fallback; with the step's rounds."""

    type: Literal["decision"] = "decision"
    iterations: Count
    converged: bool
    fallback: AdmmFallback | None = None
    reason: Annotated[str, Field(max_length=1000)] = ""
    rounds: Annotated[list[AdmmRound], Field(max_length=MAX_SERIES)] = []


class AdmmStatsBody(_Strict):
    """The coordinator's report of a control step (`admm/stats`): rounds, convergence, fallback, the
    district objective, the largest violation of the shared limit, the planned district power for
    the current step, and wall and solve times (ms)."""

    iterations: Count
    converged: bool
    fallback: AdmmFallback | None = None
    objective: float | None = None
    max_violation_kw: float
    p_planned_step0_kw: float
    rounds_wall_ms: Annotated[float, Field(ge=0)]
    sum_solve_time_ms: Annotated[float, Field(ge=0)]


class AlarmBody(_Strict):
    """An anomaly detector's finding about `target` (an agent or entity id)."""

    detector: Name
    target: Name
    severity: Literal["info", "warning", "critical"] = "warning"
    score: float | None = None
    detail: Annotated[str, Field(max_length=1000)] = ""


class ClockBody(_Strict):
    """A control tick: simulation time, control step and, in real time, the wall-clock deadline."""

    time_s: int
    step_s: Annotated[int, Field(gt=0)] | None = None
    deadline_unix_s: float | None = None
    final: bool = False


StatusState = Literal["online", "offline", "waiting", "stopping", "error"]


class StatusBody(_Strict):
    """A participant's liveness: `online` on (re)connect, `offline` as last will, `waiting` from a
    bridge that asks every agent to announce itself again."""

    state: StatusState
    detail: Annotated[str, Field(max_length=1000)] = ""


_AUTH_PATTERN: Final = r"^([0-9]{1,20}:)?([0-9a-f]{64}|[0-9a-f]{128})$"


class _Envelope(_Strict):
    v: Literal[1] = SCHEMA_VERSION
    run: Name
    tick: Count
    iteration: Count | None = None
    sender: Name
    seq: Count
    ts_s: float
    # a bare HMAC (`sign`), or "{epoch}:{tag}" of a secured run (`controllers.signing`)
    hmac: Annotated[str, StringConstraints(pattern=_AUTH_PATTERN)] | None = None


class MeasMessage(_Envelope):
    kind: Literal["meas"] = "meas"
    body: MeasBody


class SetpointMessage(_Envelope):
    kind: Literal["setpoint"] = "setpoint"
    body: SetpointBody


class MeasBatchMessage(_Envelope):
    """Measurements for every agent of one host; the topic names the host (the recipient)."""

    kind: Literal["batch/meas"] = "batch/meas"
    body: MeasBatchBody

    def measurement(self, agent: str) -> MeasMessage:
        """`agent`'s entry as a measurement of its own, in the batch's envelope (validated: as
        cheap as pydantic's unvalidated `model_construct`). `KeyError` if there is no such entry."""
        envelope = {"run": self.run, "tick": self.tick, "iteration": self.iteration, "sender": self.sender,
                    "seq": self.seq, "ts_s": self.ts_s}
        body = {"values": self.body.values[agent], "time_s": self.body.time_s}
        message: MeasMessage = MeasMessage.__pydantic_validator__.validate_python({**envelope, "body": body})
        return message


class SetpointBatchMessage(_Envelope):
    """Setpoints of several agents, sent by their host under its own name."""

    kind: Literal["batch/setpoint"] = "batch/setpoint"
    body: SetpointBatchBody


class PlanMessage(_Envelope):
    kind: Literal["plan"] = "plan"
    body: PlanBody


class ForecastMessage(_Envelope):
    """What a model-predictive agent needs for one control step, as series (see
    `controllers.admm.wire`); the topic names the recipient, like `meas` and `plan`."""

    kind: Literal["forecast"] = "forecast"
    body: PlanBody


class ForecastBatchMessage(_Envelope):
    """Forecasts for several agents of one host; the topic names the host (the recipient)."""

    kind: Literal["batch/forecast"] = "batch/forecast"
    body: ForecastBatchBody

    def forecast(self, agent: str) -> ForecastMessage:
        """`agent`'s entry as a forecast of its own, in the batch's envelope. `KeyError` if there is
        no such entry."""
        body = PlanBody.model_construct(start_s=self.body.start_s, step_s=self.body.step_s,
                                        values=self.body.series_of(agent))
        return ForecastMessage.model_construct(
            run=self.run, tick=self.tick, iteration=self.iteration, sender=self.sender, seq=self.seq,
            ts_s=self.ts_s, hmac=None, body=body,
        )


class AdmmXMessage(_Envelope):
    kind: Literal["admm/x"] = "admm/x"
    body: AdmmUpdateBody


class AdmmXBatchMessage(_Envelope):
    """The round updates of several agents, sent by their host under its own name; the envelope's
    tick and iteration are the round's."""

    kind: Literal["batch/admm-x"] = "batch/admm-x"
    body: AdmmUpdateBatchBody


class AdmmZMessage(_Envelope):
    kind: Literal["admm/z"] = "admm/z"
    body: Annotated[AdmmBroadcastBody | AdmmDecisionBody, Field(discriminator="type")]


class AdmmStatsMessage(_Envelope):
    kind: Literal["admm/stats"] = "admm/stats"
    body: AdmmStatsBody


class AlarmMessage(_Envelope):
    kind: Literal["alarm"] = "alarm"
    body: AlarmBody


class ClockMessage(_Envelope):
    kind: Literal["clock"] = "clock"
    body: ClockBody


class StatusMessage(_Envelope):
    kind: Literal["status"] = "status"
    body: StatusBody


Message: TypeAlias = (
    MeasMessage
    | SetpointMessage
    | PlanMessage
    | ForecastMessage
    | AdmmXMessage
    | AdmmZMessage
    | AdmmStatsMessage
    | AlarmMessage
    | ClockMessage
    | StatusMessage
    | MeasBatchMessage
    | SetpointBatchMessage
    | AdmmXBatchMessage
    | ForecastBatchMessage
)
MESSAGE_TYPES: Final[Mapping[Kind, type[Message]]] = {
    Kind.MEAS: MeasMessage,
    Kind.SETPOINT: SetpointMessage,
    Kind.PLAN: PlanMessage,
    Kind.FORECAST: ForecastMessage,
    Kind.ADMM_X: AdmmXMessage,
    Kind.ADMM_Z: AdmmZMessage,
    Kind.ADMM_STATS: AdmmStatsMessage,
    Kind.ALARM: AlarmMessage,
    Kind.CLOCK: ClockMessage,
    Kind.STATUS: StatusMessage,
    Kind.MEAS_BATCH: MeasBatchMessage,
    Kind.SETPOINT_BATCH: SetpointBatchMessage,
    Kind.ADMM_X_BATCH: AdmmXBatchMessage,
    Kind.FORECAST_BATCH: ForecastBatchMessage,
}
# Kinds whose topic names the recipient (the publisher is the bridge or the planner);
# for every other kind the topic names the sender.
ADDRESSED_KINDS: Final = frozenset(
    {Kind.MEAS, Kind.PLAN, Kind.FORECAST, Kind.MEAS_BATCH, Kind.FORECAST_BATCH}
)

_ADAPTER: Final[TypeAdapter[Message]] = TypeAdapter(Annotated[Message, Field(discriminator="kind")])


def message_kind(message: Message) -> Kind:
    """The `Kind` of `message`."""
    return Kind(message.kind)


# Bounds for `batch_chunks`: the longest JSON of one entry of a batch ("name":-1.2345678901234567e-308,)
# and of one agent's key and braces, and room for the envelope and the rest of the body.
_Entry = TypeVar("_Entry")
PACKED_FLOAT_BYTES: Final = 11  # a float64 in base64: 8 bytes as 10⅔ characters
FLOAT_BYTES: Final = 25  # the longest JSON of a float in a list: -1.2345678901234567e-308,
_VALUE_BYTES: Final = 64 + 3 + FLOAT_BYTES
_AGENT_BYTES: Final = 64 + 3 + 2 + 1
_ENVELOPE_BYTES: Final = 4096


def batch_chunks(values: BatchValues) -> list[dict[str, Mapping[str, float | None]]]:
    """`values` (agent → values) split into parts that each fit one batch message: at most
    `MAX_BATCH_AGENTS` agents and, by a worst-case bound on the encoded size, at most
    `MAX_PAYLOAD_BYTES`. In the order given; one part for a typical host (a hundred agents)."""
    return chunked(values, lambda entry: _AGENT_BYTES + _VALUE_BYTES * len(entry))


def forecast_chunks(
    forecasts: Mapping[str, Mapping[str, Sequence[float]]], float_bytes: int = FLOAT_BYTES
) -> list[dict[str, Mapping[str, Sequence[float]]]]:
    """`forecasts` (agent → its series) split into parts that each fit one forecast batch, by a
    worst-case bound on each agent's encoded size (`chunked`; `float_bytes` a value's: 25 in a JSON
    list, `PACKED_FLOAT_BYTES` packed)."""
    return chunked(forecasts, lambda series: _AGENT_BYTES + sum(_AGENT_BYTES + float_bytes * len(v)
                                                                for v in series.values()))


def chunked(entries: Mapping[str, _Entry], entry_bytes: Callable[[_Entry], int]) -> list[dict[str, _Entry]]:
    """`entries` (agent → entry) in parts of at most `MAX_BATCH_AGENTS` entries whose sizes
    (`entry_bytes`: a worst-case bound on an entry's encoded size) fit one message, in order."""
    budget = MAX_PAYLOAD_BYTES - _ENVELOPE_BYTES
    chunks: list[dict[str, _Entry]] = []
    chunk: dict[str, _Entry] = {}
    size = 0
    for agent, entry in entries.items():
        needed = entry_bytes(entry)
        if chunk and (size + needed > budget or len(chunk) >= MAX_BATCH_AGENTS):
            chunks.append(chunk)
            chunk, size = {}, 0
        chunk[agent] = entry
        size += needed
    if chunk:
        chunks.append(chunk)
    return chunks


# --------------------------------------------------------------------------------------------
# Encoding


class Codec(StrEnum):
    JSON = "json"
    MSGPACK = "msgpack"


@functools.cache
def msgpack_available() -> bool:
    """True if the optional `msgpack` package can be imported."""
    try:
        import msgpack  # noqa: F401
    except ImportError:
        return False
    return True


def encode(message: Message, codec: Codec | str = Codec.JSON) -> bytes:
    """The wire bytes of `message`. Raises `RuntimeError` if MessagePack is asked for but missing."""
    signed = getattr(_LOCAL, "signed", None)
    if signed is not None and signed[0] is message and signed[1] == codec:  # a signer encoded it already
        payload: bytes = signed[2]
        return payload
    if codec is Codec.JSON or Codec(codec) is Codec.JSON:
        # the model's own serializer: the same bytes as the union's, in a third of the time
        return message.__pydantic_serializer__.to_json(message)
    try:
        import msgpack
    except ImportError:
        raise RuntimeError("MessagePack encoding needs the optional package: pip install msgpack") from None
    packed: bytes = msgpack.packb(_ADAPTER.dump_python(message, mode="json"), use_bin_type=True)
    return packed


# --------------------------------------------------------------------------------------------
# Decoding


class DropReason(StrEnum):
    """Why a payload was dropped."""

    TOO_LARGE = "too_large"
    MALFORMED = "malformed"  # not JSON / MessagePack, or not an object
    VERSION = "version"  # unknown schema version
    UNKNOWN_KIND = "unknown_kind"
    SCHEMA = "schema"  # fields missing, extra, of the wrong type or out of range
    WRONG_RUN = "wrong_run"
    TOPIC_MISMATCH = "topic_mismatch"  # kind or sender differ from the topic
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"  # valid, but for a tick that is no longer awaited
    MIDDLEWARE = "middleware"  # valid, but a middleware of the receiver kept it back (controllers.middleware)


@dataclass(frozen=True)
class DecodeError:
    """A dropped payload: the reason, a short human-readable detail and the payload size."""

    reason: DropReason
    detail: str
    size_bytes: int


class DropCounter:
    """Counts dropped payloads by reason. Safe to update and read from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[DropReason, int] = {}

    def count(self, reason: DropReason) -> None:
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def by_reason(self) -> dict[str, int]:
        """A snapshot: reason value → count."""
        with self._lock:
            return {reason.value: n for reason, n in self._counts.items()}


def _classify(exc: ValidationError) -> DropReason:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    types = {e["type"] for e in errors}
    if types & {"json_invalid", "json_type", "model_type", "model_attributes_type", "dict_type"}:
        return DropReason.MALFORMED
    if types & {"union_tag_invalid", "union_tag_not_found"}:
        return DropReason.UNKNOWN_KIND
    if any(e["loc"] and e["loc"][-1] == "v" for e in errors):
        return DropReason.VERSION
    return DropReason.SCHEMA


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _fail(reason: DropReason, detail: str, size: int, counter: DropCounter | None) -> DecodeError:
    if counter is not None:
        counter.count(reason)
    return DecodeError(reason=reason, detail=detail, size_bytes=size)


def _unpack(payload: bytes) -> object:
    import msgpack

    # the payload's size is checked before (`decode`); unpackb's own limits follow the payload's
    # length (msgpack >= 1.0), and msgpack 1.2 no longer takes a max_buffer_size here
    return msgpack.unpackb(payload, raw=False, strict_map_key=True)


def decode(payload: Payload, counter: DropCounter | None = None) -> Message | DecodeError:
    """The `Message` in `payload`, or a `DecodeError` (counted in `counter`). Never raises.

    JSON payloads start with "{" (after optional whitespace); anything else is tried as
    MessagePack when that package is installed, and is malformed JSON otherwise.
    """
    try:
        data = bytes(payload)
    except (TypeError, ValueError) as exc:
        return _fail(DropReason.MALFORMED, f"not bytes: {type(payload).__name__} ({exc})", 0, counter)
    size = len(data)
    if size > MAX_PAYLOAD_BYTES:
        return _fail(DropReason.TOO_LARGE, f"{size} bytes > {MAX_PAYLOAD_BYTES}", size, counter)
    if data.lstrip()[:1] == b"{" or not msgpack_available():
        try:
            message = _ADAPTER.validate_json(data)
        except ValidationError as exc:
            return _fail(_classify(exc), _first_error(exc), size, counter)
        except (ValueError, TypeError, RecursionError) as exc:
            return _fail(DropReason.MALFORMED, f"{type(exc).__name__}: {exc}", size, counter)
        if message.hmac is not None:
            _remember(message, data)
        return message
    try:
        obj = _unpack(data)
        if not isinstance(obj, dict):
            return _fail(DropReason.MALFORMED, f"top level is {type(obj).__name__}, not a map", size, counter)
        message = _ADAPTER.validate_python(obj, strict=False)
    except ValidationError as exc:
        return _fail(_classify(exc), _first_error(exc), size, counter)
    except Exception as exc:  # msgpack raises a family of its own exception types on garbage
        return _fail(DropReason.MALFORMED, f"{type(exc).__name__}: {exc}", size, counter)
    if message.hmac is not None:
        _remember(message, data)
    return message


def decode_for_topic(
    topic: ParsedTopic, payload: Payload, counter: DropCounter | None = None
) -> Message | DecodeError:
    """`decode`, then check the message against its topic: same run and kind, and for kinds other
    than `ADDRESSED_KINDS` the sender must be the agent named in the topic (no publishing under
    someone else's name)."""
    message = decode(payload, counter)
    if isinstance(message, DecodeError):
        return message
    size = len(payload)
    if message.run != topic.run:
        detail = f"run {message.run!r} on a topic of run {topic.run!r}"
        return _fail(DropReason.WRONG_RUN, detail, size, counter)
    if message.kind != topic.kind.value:
        return _fail(
            DropReason.TOPIC_MISMATCH, f"kind {message.kind!r} on a {topic.kind.value!r} topic", size, counter
        )
    if topic.kind not in ADDRESSED_KINDS and message.sender != topic.agent:
        return _fail(
            DropReason.TOPIC_MISMATCH, f"sender {message.sender!r} on {topic.agent!r}'s topic", size, counter
        )
    return message


# --------------------------------------------------------------------------------------------
# Building messages


class MessageFactory:
    """Stamps messages of one sender in one run: sequence numbers (from 0, +1 per message) and
    wall-clock timestamps. One factory per sender; not shared between threads."""

    def __init__(self, run: str, sender: str, clock: Callable[[], float] = time.time) -> None:
        self.run = run
        self.sender = sender
        self._clock = clock
        self._seq = 0

    @property
    def next_seq(self) -> int:
        return self._seq

    def _envelope(self, tick: int, iteration: int | None) -> dict[str, Any]:
        seq = self._seq
        self._seq += 1
        return {
            "run": self.run,
            "tick": tick,
            "iteration": iteration,
            "sender": self.sender,
            "seq": seq,
            "ts_s": self._clock(),
        }

    def meas(self, tick: int, values: Mapping[str, float | None], time_s: int | None = None) -> MeasMessage:
        return MeasMessage(**self._envelope(tick, None), body=MeasBody(values=dict(values), time_s=time_s))

    def setpoint(
        self, tick: int, values: Mapping[str, float | None], iteration: int | None = None
    ) -> SetpointMessage:
        return SetpointMessage(**self._envelope(tick, iteration), body=SetpointBody(values=dict(values)))

    def meas_batch(
        self,
        tick: int,
        values: BatchValues,
        time_s: int | None = None,
        partial_after_s: float | None = None,
    ) -> MeasBatchMessage:
        body = MeasBatchBody(
            values={a: dict(v) for a, v in values.items()}, time_s=time_s, partial_after_s=partial_after_s
        )
        return MeasBatchMessage(**self._envelope(tick, None), body=body)

    def setpoint_batch(self, tick: int, values: BatchValues) -> SetpointBatchMessage:
        body = SetpointBatchBody(values={a: dict(v) for a, v in values.items()})
        return SetpointBatchMessage(**self._envelope(tick, None), body=body)

    def plan(
        self, tick: int, start_s: int, step_s: int, values: Mapping[str, Sequence[float]]
    ) -> PlanMessage:
        body = PlanBody(start_s=start_s, step_s=step_s, values={k: list(v) for k, v in values.items()})
        return PlanMessage(**self._envelope(tick, None), body=body)

    def forecast(
        self, tick: int, start_s: int, step_s: int, values: Mapping[str, Sequence[float]]
    ) -> ForecastMessage:
        body = PlanBody(start_s=start_s, step_s=step_s, values={k: list(v) for k, v in values.items()})
        return ForecastMessage(**self._envelope(tick, None), body=body)

    def forecast_batch(
        self, tick: int, start_s: int, step_s: int, values: Mapping[str, Mapping[str, Sequence[float]]]
    ) -> ForecastBatchMessage:
        entries = {a: {k: list(v) for k, v in series.items()} for a, series in values.items()}
        body = ForecastBatchBody(start_s=start_s, step_s=step_s, values=entries)
        return ForecastBatchMessage(**self._envelope(tick, None), body=body)

    def forecast_packed(
        self, tick: int, start_s: int, step_s: int, values: Mapping[str, Mapping[str, Sequence[float]]]
    ) -> ForecastBatchMessage:
        """`forecast_batch` in the packed form (`ForecastGroup`s, agents with the same series names and
        lengths together); ValueError if a value is not finite or there are no values."""
        if not values:
            raise ValueError("a forecast batch needs at least one agent")
        groups: dict[tuple[tuple[str, int], ...], dict[str, Mapping[str, Sequence[float]]]] = {}
        for agent, series in values.items():
            groups.setdefault(tuple((k, len(v)) for k, v in series.items()), {})[agent] = series
        packed = [ForecastGroup.pack(group) for group in groups.values()]
        # made from checked groups: constructed, not validated again (that would decode the base64)
        body = ForecastBatchBody.model_construct(start_s=start_s, step_s=step_s, values=None, packed=packed)
        return ForecastBatchMessage(**self._envelope(tick, None), body=body)

    def admm_x(self, tick: int, iteration: int, body: AdmmUpdateBody) -> AdmmXMessage:
        return AdmmXMessage(**self._envelope(tick, iteration), body=body)

    def admm_x_batch(
        self, tick: int, iteration: int, values: Mapping[str, AdmmUpdateBody]
    ) -> AdmmXBatchMessage:
        body = AdmmUpdateBatchBody(values=dict(values))
        return AdmmXBatchMessage(**self._envelope(tick, iteration), body=body)

    def admm_x_packed(self, tick: int, iteration: int, packed: AdmmPackedUpdates) -> AdmmXBatchMessage:
        """A round batch in the packed form (`AdmmPackedUpdates.pack`, which checked the updates)."""
        # constructed, not validated again: that would decode the base64 once more
        body = AdmmUpdateBatchBody.model_construct(values=None, packed=packed)
        return AdmmXBatchMessage(**self._envelope(tick, iteration), body=body)

    def admm_z(self, tick: int, iteration: int, body: AdmmBroadcastBody | AdmmDecisionBody) -> AdmmZMessage:
        return AdmmZMessage(**self._envelope(tick, iteration), body=body)

    def admm_stats(self, tick: int, body: AdmmStatsBody) -> AdmmStatsMessage:
        return AdmmStatsMessage(**self._envelope(tick, None), body=body)

    def alarm(
        self,
        tick: int,
        detector: str,
        target: str,
        *,
        severity: Literal["info", "warning", "critical"] = "warning",
        score: float | None = None,
        detail: str = "",
    ) -> AlarmMessage:
        body = AlarmBody(detector=detector, target=target, severity=severity, score=score, detail=detail)
        return AlarmMessage(**self._envelope(tick, None), body=body)

    def clock(
        self,
        tick: int,
        time_s: int,
        *,
        step_s: int | None = None,
        deadline_unix_s: float | None = None,
        final: bool = False,
    ) -> ClockMessage:
        body = ClockBody(time_s=time_s, step_s=step_s, deadline_unix_s=deadline_unix_s, final=final)
        return ClockMessage(**self._envelope(tick, None), body=body)

    def status(self, tick: int, state: StatusState, detail: str = "") -> StatusMessage:
        return StatusMessage(**self._envelope(tick, None), body=StatusBody(state=state, detail=detail))


# --------------------------------------------------------------------------------------------
# Signing (optional; the security layer decides keys and when to require it: controllers.signing)

# The payloads of the last signed messages `decode` returned, with the message: a verifier checks a
# tag against the bytes as they arrived (a sender in another language serialises differently).
# A bounded cache per thread, not state: a message not found here is verified on its canonical
# re-encoding (which is what a sender of this package published).
_LOCAL: Final = threading.local()


def _remember(message: Message, payload: bytes) -> None:
    received: collections.deque[tuple[Message, bytes]] | None = getattr(_LOCAL, "received", None)
    if received is None:
        received = _LOCAL.received = collections.deque(maxlen=256)
    received.append((message, payload))


def remember_signed(message: Message, codec: Codec | str, payload: bytes) -> None:
    """`payload` is `encode(message, codec)`: a signer that made it hands it to the next `encode` of
    `message` on this thread (the client's), which then need not serialise the message again."""
    _LOCAL.signed = (message, codec, payload)


def received_payload(message: Message) -> bytes | None:
    """The bytes `decode` made `message` from, if it was one of the last signed messages this
    thread decoded, and forgets them (a message is verified once, right after its decoding: the
    cache then holds only what is still to be verified, not the last 256 payloads and their
    decoded messages — megabytes of forecast and round batches, and a page fault per new one)."""
    received: collections.deque[tuple[Message, bytes]] | None = getattr(_LOCAL, "received", None)
    if not received:
        return None
    for back in range(len(received) - 1, -1, -1):
        known, payload = received[back]
        if known is message:
            del received[back]
            return payload
    return None



def _canonical(message: Message) -> bytes:
    data = _ADAPTER.dump_python(message, mode="json")
    data.pop("hmac", None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def sign(message: Message, key: bytes) -> Message:
    """A copy of `message` with `hmac` = HMAC-SHA256(key, canonical JSON without `hmac`)."""
    digest = _hmac.new(key, _canonical(message), hashlib.sha256).hexdigest()
    return message.model_copy(update={"hmac": digest})


def verify(message: Message, key: bytes) -> bool:
    """True if `message.hmac` is present and matches `key`."""
    if message.hmac is None:
        return False
    expected = _hmac.new(key, _canonical(message), hashlib.sha256).hexdigest()
    return _hmac.compare_digest(expected, message.hmac)
