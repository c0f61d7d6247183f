"""A run's attacks on the ADMM rounds and its anomaly checks, with quarantine (docs/attacks.md).

`Defence` sits between the ADMM agents and the coordinator of an in-process run:
- `screen` passes every round's messages through the attacks' `round` hooks (the network: drop,
  delay, replay, flood) and `update` hooks (a compromised agent's lie), counts each agent's
  messages as the coordinator's side sees them (rounds answered, missing, duplicates, updates of
  an earlier step), and then replaces the updates of quarantined agents by a trusted estimate of
  their net power (their own optimum without coordination on the platform's data: what an
  uncoordinated agent draws), so ADMM converges with the others while the quarantined agent's
  load is still counted;
- `limit_kw` is the shared limit the coordinator works to (a compromised coordinator's false one);
- `check`, one step later, scores each agent's observation of a step (its claim, its meter, the
  grid side's measurement at its bus, its battery's state of charge, its messages) and the
  district's (the coordinator's plan against the true limit) with every detector, raises alarms,
  quarantines an agent on an alarm of a detector that judges the agent (not a sensor's) and
  releases it after `detection.release_after` without one.

Tables: `detections` (every score: detector, agent, score, alarm), `quarantine` (every change:
agent, state, reason).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from controllers.admm.messages import CoordinatorBroadcast, LocalUpdate
from controllers.admm.params import CoordinatorParams
from controllers.detection import Detector, Observation
from cosim.attacks import Attack, run_attacks
from cosim.scenario.model import Scenario
from cosim.world.context import RunContext

__all__ = ["MUTE_AFTER_ROUNDS", "SENSOR_DETECTORS", "Defence", "WatchedCoordinator", "peer_residuals"]

Trusted = Callable[[str], np.ndarray]  # agent → its trusted net-power estimate over the horizon
SENSOR_DETECTORS = frozenset({"meter_consistency", "soc_consistency"})  # they judge a sensor, not an agent
# as the MQTT coordinator by default (controllers.admm.params.CoordinatorParams.mute_after_rounds)
MUTE_AFTER_ROUNDS: int = CoordinatorParams.model_fields["mute_after_rounds"].default


def peer_residuals(
    residual_kw: dict[str, float], pv_kwp: dict[str, float], least: int = 3
) -> tuple[dict[str, float], float | None]:
    """Each agent's residual (measured − claimed, kW) less the part its peers share: the district's
    common error per kWp of PV (the median over the agents with PV of residual / kWp, robust to a
    liar among them) times its own PV size; and the spread of those residuals (1.4826 × their
    median absolute value, a robust standard deviation). Empty with fewer than `least` agents
    with PV to tell the common part."""
    with_pv = [r / pv_kwp[a] for a, r in residual_kw.items() if pv_kwp.get(a, 0.0) > 0]
    if len(with_pv) < least:
        return {}, None
    common = float(np.median(with_pv))
    peers = {a: r - common * pv_kwp.get(a, 0.0) for a, r in residual_kw.items()}
    return peers, 1.4826 * float(np.median(np.abs(list(peers.values()))))


class WatchedCoordinator:
    """The coordinator of an in-process run as the agents see it: its broadcasts through the
    attacks' `broadcast` hooks (a compromised coordinator), and checked against their own dual
    update u⁺ = (u + x̄ − z̄)·ρ/ρ⁺ as any agent can check it (`dual_residual_kw`: the step's
    largest break, kW per agent). Everything else is the real coordinator's."""

    def __init__(self, coordinator: Any, attacks: Sequence[Attack], time_s: int) -> None:
        self._coordinator, self._attacks, self._time_s = coordinator, attacks, time_s
        self._last: CoordinatorBroadcast | None = None
        self.dual_residual_kw = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coordinator, name)

    def _seen(self, broadcast: CoordinatorBroadcast) -> CoordinatorBroadcast:
        for attack in self._attacks:
            broadcast = attack.broadcast(self._time_s, broadcast)
        last = self._last
        if last is not None:
            expected = (last.u_scaled + broadcast.x_mean - broadcast.z_mean) * (last.rho / broadcast.rho)
            self.dual_residual_kw = max(self.dual_residual_kw,
                                        float(np.max(np.abs(broadcast.u_scaled - expected))))
        self._last = broadcast
        return broadcast

    def initial_broadcast(self) -> CoordinatorBroadcast:
        self._last = None  # the step's first broadcast carries the last step's duals, shifted
        return self._seen(self._coordinator.initial_broadcast())

    def coordinate(self, updates: Sequence[LocalUpdate], expected: int | None = None) -> CoordinatorBroadcast:
        return self._seen(self._coordinator.coordinate(updates, expected))


class Defence:
    """Attacks on the rounds, anomaly checks and quarantine of one run (see the module docstring)."""

    def __init__(self, scenario: Scenario, context: RunContext | None) -> None:
        self.attacks: list[Attack] = run_attacks(scenario, context)
        detection = scenario.detection
        self.detectors: list[Detector] = [] if detection is None else [d.build() for d in detection.detectors]
        self.quarantine_on = detection is not None and detection.quarantine
        self.release_after_s = 0 if detection is None else detection.release_after
        self.quarantined: dict[str, int] = {}  # agent → time of its last alarm
        self.reported_kw: dict[str, float] = {}  # agent → step 0 of its last update (as it arrived)
        self.reported_next_kw: dict[str, float] = {}  # agent → step 1 of it (its claim for the next step)
        self.messages: dict[str, Counter[str]] = {}  # agent → this step's message counts
        self.watched: WatchedCoordinator | None = None  # this step's coordinator as the agents see it
        self.last_update: dict[str, LocalUpdate] = {}  # each agent's last update taken, of any step
        self.context = context

    @property
    def active(self) -> bool:
        return bool(self.attacks or self.detectors)

    def watch(self, coordinator: Any, time_s: int) -> WatchedCoordinator:
        """The coordinator of this step as the agents see it (see `WatchedCoordinator`)."""
        self.watched = WatchedCoordinator(coordinator, self.attacks, time_s)
        return self.watched

    def dual_residual_kw(self) -> float | None:
        """The step's largest break of the dual update on the broadcasts (taken; None: not watched)."""
        watched, self.watched = self.watched, None
        return None if watched is None else watched.dual_residual_kw

    def limit_kw(self, time_s: int, limit_kw: float) -> float:
        """The limit the coordinator works to at `time_s` (a compromised coordinator's)."""
        for attack in self.attacks:
            limit_kw = attack.limit_kw(time_s, limit_kw)
        return limit_kw

    def screen(
        self, time_s: int, tick: int, agents: Sequence[str], trusted: Trusted
    ) -> Callable[[Sequence[LocalUpdate]], list[LocalUpdate]]:
        """The filter of one step's rounds (see the module docstring). Round k's fresh updates carry
        iteration k (the coordinator's round counter restarts at 0 each step). An agent that has not
        answered for `MUTE_AFTER_ROUNDS` rounds in a row has its last update stand in for it, as
        the coordinator over MQTT mutes a silent agent (with nothing from it yet this step, its last
        update of an earlier step, shifted to this step), and a quarantined agent's trusted estimate
        stands in for it whether its messages arrive or not, so a lost, delayed or replayed agent
        does not keep the district from converging."""
        estimates: dict[str, np.ndarray] = {}
        counts: dict[str, Counter[str]] = {a: Counter() for a in agents}
        self.messages = counts
        taken: set[tuple[str, int]] = set()
        last: dict[str, LocalUpdate] = {}  # each agent's last update taken this step
        silent: Counter[str] = Counter()  # rounds in a row without an answer
        round_index = [0]

        def estimate(agent: str) -> np.ndarray:
            if agent not in estimates:
                estimates[agent] = trusted(agent)
            return estimates[agent].copy()

        def apply(updates: Sequence[LocalUpdate]) -> list[LocalUpdate]:
            k = round_index[0]
            round_index[0] += 1
            arrived = list(updates)
            for attack in self.attacks:
                arrived = attack.round(time_s, arrived)
            out, answered = [], set()
            for update in arrived:
                for attack in self.attacks:
                    update = attack.update(time_s, update)
                count = counts.setdefault(update.agent, Counter())
                if update.tick < tick:
                    count["stale"] += 1
                elif (update.agent, update.iteration) in taken:
                    count["duplicate"] += 1
                else:
                    taken.add((update.agent, update.iteration))
                    answered.add(update.agent)
                    last[update.agent] = update
                    count["fresh"] += 1
                    self.reported_kw[update.agent] = float(update.p_net_kw[0])
                    if len(update.p_net_kw) > 1:
                        self.reported_next_kw[update.agent] = float(update.p_net_kw[1])
                if update.agent in self.quarantined:
                    update = dataclasses.replace(update, p_net_kw=estimate(update.agent))
                out.append(update)
            for agent in agents:
                if agent in answered:
                    silent[agent] = 0
                    continue
                counts[agent]["missing"] += 1
                silent[agent] += 1
                stand_in = None
                if agent in self.quarantined:
                    stand_in = LocalUpdate(agent, tick, k, estimate(agent), 0.0, 0.0, 0, "quarantined")
                elif silent[agent] >= MUTE_AFTER_ROUNDS and agent in last:
                    stand_in = dataclasses.replace(last[agent], iteration=k)
                elif silent[agent] >= MUTE_AFTER_ROUNDS and agent in self.last_update:
                    earlier = self.last_update[agent]
                    shifted = np.append(earlier.p_net_kw[tick - earlier.tick:], np.full(
                        min(tick - earlier.tick, len(earlier.p_net_kw)), earlier.p_net_kw[-1]))
                    stand_in = dataclasses.replace(earlier, tick=tick, iteration=k, p_net_kw=shifted)
                if stand_in is not None:
                    out.append(stand_in)
            self.last_update.update(last)
            return out

        return apply

    def heard(self, claims: Mapping[str, float], next_claims: Mapping[str, float],
              messages: Mapping[str, Counter[str]]) -> None:
        """The step's rounds as heard outside the screen (over MQTT: the updates the bridge watched):
        each agent's step-0 and step-1 claims of its last update, and its message counts."""
        self.reported_kw.update(claims)
        self.reported_next_kw.update(next_claims)
        self.messages = dict(messages)

    def claims(self) -> dict[str, float]:
        """The step-0 claims of the step just decided (taken: the next step starts afresh)."""
        claims, self.reported_kw = self.reported_kw, {}
        return claims

    def next_claims(self) -> dict[str, float]:
        """The claims for the step after it, as made in this step (taken)."""
        claims, self.reported_next_kw = self.reported_next_kw, {}
        return claims

    def message_counts(self) -> dict[str, tuple[tuple[str, int], ...]]:
        """The step just decided's message counts per agent (taken)."""
        counts, self.messages = self.messages, {}
        return {agent: tuple(sorted(c.items())) for agent, c in counts.items()}

    def check(
        self, time_s: int, timestamp: Any, observed_s: int, observations: Sequence[Observation]
    ) -> list[str]:
        """At control time `time_s`, score the observations of the step at `observed_s` (one per
        agent, and the district's as agent `coordinator`); quarantine and release; record (rows at
        `time_s`, when the alarm is known, with the step scored as `observed_s`). Returns the agents
        in quarantine for the next step."""
        rows, changes = [], []
        alarmed: set[str] = set()
        for observation in observations:
            district = observation.agent == "coordinator"
            for detector in self.detectors:
                if detector.district != district:
                    continue
                score = detector.score(observation)
                if score is None:
                    continue
                rows.append({"time_s": time_s, "timestamp": timestamp, "entity": observation.agent,
                             "observed_s": observed_s, "detector": score.detector, "score": score.score,
                             "alarm": score.alarm})
                if score.alarm and not district and score.detector not in SENSOR_DETECTORS:
                    alarmed.add(observation.agent)
        if self.quarantine_on:
            for agent in sorted(alarmed):
                if agent not in self.quarantined:
                    changes.append({"time_s": time_s, "timestamp": timestamp, "entity": agent,
                                    "state": "quarantined", "reason": "alarm"})
                self.quarantined[agent] = time_s
            for agent, last in sorted(self.quarantined.items()):
                if agent not in alarmed and time_s - last >= self.release_after_s:
                    del self.quarantined[agent]
                    changes.append({"time_s": time_s, "timestamp": timestamp, "entity": agent,
                                    "state": "released", "reason": f"no alarm for {self.release_after_s} s"})
        if self.context is not None:
            if rows:
                self.context.writer.add_rows("detections", rows)
            if changes:
                self.context.writer.add_rows("quarantine", changes)
        return sorted(self.quarantined)
