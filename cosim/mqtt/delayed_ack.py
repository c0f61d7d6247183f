"""A warning when a run's round trips are as slow as a broker makes them that waits for delayed TCP ACKs.

A broker without TCP_NODELAY on its sockets (Mosquitto's default configuration: no
`set_tcp_nodelay true`) holds the second of two small packets to a client until the client has
acknowledged the first; a client whose system delays its acknowledgements (Linux: up to 40 ms)
then waits that long for its measurement, every step. The platform's own MQTT client re-arms
TCP_QUICKACK after every read, so its agents do not wait; a controller on another client (paho-mqtt,
another language, a device) does (measurements: docs/dev/mqtt-stock-broker.md).

`DelayedAckCheck` looks at the round trips of the agents after a run's first `WARMUP_TICKS` ticks
(at the start of a connection, clients on any broker show long round trips for a few steps): when
their median is `SLOW_S` or more, it says so once, naming the likely cause and the cure. It cannot
tell that cause from an agent that computes for that long, or a machine so busy that answers wait
for the processor, so the warning says "if"; the bridge watches only runs whose agents are on
other clients than the platform's, on a broker it did not start (`cosim.mqtt.plane`), where the
stall happens.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

WARMUP_TICKS = 16  # ticks whose round trips are not looked at
MIN_SAMPLES = 24  # round trips looked at before deciding
SLOW_S = 0.025  # a median round trip from here on is worth a word (a delayed ACK costs ~40 ms)


@dataclass
class DelayedAckCheck:
    """Collects `MIN_SAMPLES` round trips (seconds) from tick `WARMUP_TICKS` on and decides once."""

    samples_s: list[float] = field(default_factory=list)
    decided: bool = False

    def add(self, tick: int, rtt_s: float) -> None:
        if not self.decided and tick >= WARMUP_TICKS and rtt_s >= 0:
            self.samples_s.append(rtt_s)

    def warning(self) -> str | None:
        """The warning, the first time enough round trips are slow; None otherwise (and always after
        the decision: it is said once per run)."""
        if self.decided or len(self.samples_s) < MIN_SAMPLES:
            return None
        self.decided = True
        median = statistics.median(self.samples_s)
        if median < SLOW_S:
            return None
        return (
            f"MQTT round trips are slow: median {median * 1e3:.0f} ms over {len(self.samples_s)} answers "
            "of the external agents. If the broker is a Mosquitto without `set_tcp_nodelay true` (its "
            "default configuration), every step waits for the agents' delayed TCP acknowledgements "
            "(~40 ms): add that line to its configuration, or let the platform start its broker (no "
            "--broker); see docs/mqtt.md, 'What a broker's configuration still changes'."
        )
