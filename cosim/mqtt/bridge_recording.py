"""Recording of every MQTT message the bridge sends or receives, with per-agent traffic and
round-trip latency statistics. Thread-safe: the bridge's event loop writes, the caller drains.

A batch (the measurements or setpoints of every agent of one agent host in one message) is one
message on the wire and one record, under the host's name; the agents it carries are counted as
`batched_out` / `batched_in` entries of their own traffic, and each carried setpoint gives its
agent a round-trip sample (the batch's: every agent of a batch has the same round trip). A batch's
sample is kept once, per host, and each agent keeps the runs of its host's samples it shares, so a
long run's samples grow with its batches, not with its agents × steps; the statistics are exactly
those of every agent's samples listed one by one."""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np

from controllers.middleware import Middleware, Passage

Direction = Literal["out", "in"]


@dataclass(frozen=True)
class MessageRecord:
    """One message seen by the bridge. Times are Unix seconds (wall clock).

    `agent` is the agent level of the topic (the recipient of a measurement, the sender of a
    setpoint; the agent host for a batch). `sent_unix_s` is the sender's timestamp from the
    payload (None if undecodable), `received_unix_s` the bridge's clock on receipt (None for
    outgoing messages). `rtt_s` is set on a setpoint that answered the current tick: bridge
    publish of the agent's measurement → bridge receipt of the setpoint (monotonic clock; for a
    batch, of the host's measurement batch → its setpoint batch). `dropped` names the reason
    when the payload was dropped.
    """

    direction: Direction
    topic: str
    kind: str
    agent: str
    sender: str
    tick: int | None
    seq: int | None
    size_bytes: int
    sent_unix_s: float | None
    received_unix_s: float | None
    rtt_s: float | None = None
    dropped: str | None = None


@dataclass(frozen=True)
class LatencyStats:
    """Summary of latency samples in seconds (None when there are none)."""

    count: int
    median_s: float | None
    p99_s: float | None
    mean_s: float | None
    max_s: float | None

    @classmethod
    def weighted(cls, values_s: np.ndarray, counts: np.ndarray) -> LatencyStats:
        """`of` the samples in which `values_s[i]` occurs `counts[i]` times, without listing them."""
        keep = counts > 0
        values_s, counts = values_s[keep], counts[keep]
        n = int(counts.sum())
        if n == 0:
            return cls(0, None, None, None, None)
        order = np.argsort(values_s, kind="stable")
        ordered, cumulative = values_s[order], np.cumsum(counts[order])

        def at(k: int) -> float:  # the k-th (0-based) of the samples in order
            return float(ordered[int(np.searchsorted(cumulative, k, side="right"))])

        middle = (n - 1) // 2
        median = at(middle) if n % 2 else (at(middle) + at(middle + 1)) / 2
        rank = (n - 1) * 99.0 / 100.0
        low, high = math.floor(rank), math.ceil(rank)
        p99 = at(low) + (at(high) - at(low)) * (rank - low)
        mean = float(np.dot(ordered, counts[order]) / n)
        return cls(count=n, median_s=median, p99_s=p99, mean_s=mean, max_s=float(ordered[-1]))

    @classmethod
    def of(cls, samples_s: Sequence[float]) -> LatencyStats:
        if not samples_s:
            return cls(0, None, None, None, None)
        ordered = sorted(samples_s)
        return cls(
            count=len(ordered),
            median_s=statistics.median(ordered),
            p99_s=percentile(ordered, 99.0),
            mean_s=statistics.fmean(ordered),
            max_s=ordered[-1],
        )


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of sorted samples, linear interpolation between ranks."""
    if not ordered:
        raise ValueError("percentile of no samples")
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class AgentTraffic:
    """Cumulative traffic between the bridge and one agent (not reset by `drain`): messages on the
    agent's own topics, and entries for it carried in its host's batches (`batched_out`
    measurements, `batched_in` accepted setpoints). `rtt` has a sample per setpoint answering its
    tick, alone or in a batch."""

    agent: str
    messages_out: int
    bytes_out: int
    messages_in: int
    bytes_in: int
    dropped_in: int
    rtt: LatencyStats
    batched_out: int = 0
    batched_in: int = 0


@dataclass
class _Counters:
    messages_out: int = 0
    bytes_out: int = 0
    messages_in: int = 0
    bytes_in: int = 0
    dropped_in: int = 0
    rtt_s: list[float] = field(default_factory=list)  # its own setpoints' round trips
    batched_out: int = 0
    batched_in: int = 0
    # the batch samples it shares: [host, start, stop) runs of indices into the host's samples
    batch_runs: list[tuple[str, int, int]] = field(default_factory=list)


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MessageRecord))

class MessageRecorder(Middleware):
    """Collects `MessageRecord`s (drained by the caller) and cumulative per-agent counters: the
    bridge's recording middleware (`controllers.middleware`), first in its chain, fed by the chain's
    `observed` hook with every message the bridge sent or handled (the `mqtt_messages` table).

    The bridge records through `add_row` (the record's fields in order, kept as a tuple until
    drained: a frozen dataclass per message costs more than the rest of the bookkeeping);
    `drain` gives `MessageRecord`s, `drain_rows` plain dicts (e.g. for a results table)."""

    def __init__(self, keep_records: bool = True) -> None:
        self.keep_records = keep_records
        self._lock = threading.Lock()
        self._records: list[Passage] = []
        self._agents: dict[str, _Counters] = {}
        self._batch_rtt: dict[str, list[float]] = {}  # host → the round trips of its setpoint batches

    def observed(self, owner: str, passage: Passage, rtt_sample: bool) -> None:
        self.add_passage(passage, rtt_sample)

    def add(self, record: MessageRecord) -> None:
        self.add_row(record.direction, record.topic, record.kind, record.agent, record.sender, record.tick,
                     record.seq, record.size_bytes, record.sent_unix_s, record.received_unix_s, record.rtt_s,
                     record.dropped)

    def add_row(self, direction: Direction, topic: str, kind: str, agent: str, sender: str, tick: int | None,
                seq: int | None, size_bytes: int, sent_unix_s: float | None, received_unix_s: float | None,
                rtt_s: float | None = None, dropped: str | None = None, *, rtt_sample: bool = True) -> None:
        """Record one message, given the fields of its `MessageRecord` in order (see `add_passage`)."""
        self.add_passage(Passage(direction, topic, kind, agent, sender, tick, seq, size_bytes, sent_unix_s,
                                 received_unix_s, rtt_s, dropped), rtt_sample)

    def add_passage(self, passage: Passage, rtt_sample: bool = True) -> None:
        """Record one message (kept as the tuple it is until drained); its `rtt_s` also counts as a
        round-trip sample of its agent unless not `rtt_sample` (a batch: its agents get the samples,
        see `add_batched`)."""
        with self._lock:
            if self.keep_records:
                self._records.append(passage)
            counters = self._agents.get(passage.agent)
            if counters is None:
                counters = self._agents[passage.agent] = _Counters()
            if passage.direction == "out":
                counters.messages_out += 1
                counters.bytes_out += passage.size_bytes
            else:
                counters.messages_in += 1
                counters.bytes_in += passage.size_bytes
                counters.dropped_in += passage.dropped is not None
            if passage.rtt_s is not None and rtt_sample:
                counters.rtt_s.append(passage.rtt_s)

    def add_batched(self, direction: Direction, agents: Iterable[str], rtt_s: float | None = None,
                    host: str = "") -> None:
        """Count one entry for each of `agents` carried in a batch (and, for setpoints, its round
        trip, a sample of each of them; `host`: the batch's sender)."""
        with self._lock:
            index = -1
            if rtt_s is not None:
                samples = self._batch_rtt.setdefault(host, [])
                index = len(samples)
                samples.append(rtt_s)
            for agent in agents:
                counters = self._agents.get(agent)
                if counters is None:
                    counters = self._agents[agent] = _Counters()
                if direction == "out":
                    counters.batched_out += 1
                else:
                    counters.batched_in += 1
                if index >= 0:
                    runs = counters.batch_runs
                    if runs and runs[-1][0] == host and runs[-1][2] == index:
                        runs[-1] = (host, runs[-1][1], index + 1)
                    else:
                        runs.append((host, index, index + 1))

    def _take(self) -> list[Passage]:
        with self._lock:
            records, self._records = self._records, []
        return records

    def drain(self) -> list[MessageRecord]:
        """Every record since the last drain, oldest first; the recorder keeps none of them."""
        return [MessageRecord(*row) for row in self._take()]

    def drain_rows(self) -> list[dict[str, object]]:
        """As `drain`, each record as a dict of its fields (what `dataclasses.asdict` gives, faster)."""
        names = RECORD_FIELDS
        return [dict(zip(names, row, strict=True)) for row in self._take()]

    def _samples(self, counters: _Counters) -> list[float]:
        """An agent's round-trip samples: its own and those of the batches it was carried in."""
        shared = [s for host, start, stop in counters.batch_runs for s in self._batch_rtt[host][start:stop]]
        return [*counters.rtt_s, *shared]

    def traffic(self) -> dict[str, AgentTraffic]:
        """Per-agent cumulative traffic and round-trip statistics, keyed by agent id."""
        with self._lock:  # one agent's samples listed at a time
            return {
                a: AgentTraffic(a, c.messages_out, c.bytes_out, c.messages_in, c.bytes_in, c.dropped_in,
                                LatencyStats.of(self._samples(c)), c.batched_out, c.batched_in)
                for a, c in sorted(self._agents.items())
            }

    def rtt(self) -> LatencyStats:
        """Round-trip statistics over every agent's samples (a batch's sample counted once for each
        agent it carried), computed from each distinct sample and its count."""
        with self._lock:
            own = [s for c in self._agents.values() for s in c.rtt_s]
            counts = {host: np.zeros(len(s), dtype=np.int64) for host, s in self._batch_rtt.items()}
            for c in self._agents.values():
                for host, start, stop in c.batch_runs:
                    counts[host][start:stop] += 1
            values = np.concatenate([np.asarray(own, dtype=float),
                                     *(np.asarray(self._batch_rtt[h], dtype=float) for h in counts)])
            weights = np.concatenate([np.ones(len(own), dtype=np.int64), *counts.values()])
        return LatencyStats.weighted(values, weights)
