"""A run's attacks on the ADMM rounds and its anomaly checks, with quarantine (docs/attacks.md).

`Defence` sits between the ADMM agents and the coordinator of an in-process run:
- `screen` passes every round's updates through the attacks' `update` hooks (a compromised agent's
  lie) and then replaces the updates of quarantined agents by a trusted estimate of their net power
  (their own optimum without coordination on the platform's data: what an uncoordinated agent
  draws), so ADMM converges with the others while the quarantined agent's load is still counted;
- `check`, one step later, scores what every agent reported for a step against its meter over that
  step as measured (the building's meter and the battery's own power, which its agent learns one
  step later), raises alarms, quarantines an agent on an alarm and releases it after
  `detection.release_after` without one. The battery's own power makes an altered setpoint (an
  actuator attack) visible too.

Tables: `detections` (every score: detector, agent, score, alarm), `quarantine` (every change:
agent, state, reason).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from controllers.admm.messages import LocalUpdate
from controllers.detection import DETECTORS, Detector, Observation
from cosim.attacks import ATTACKS, Attack
from cosim.scenario.model import Scenario
from cosim.world.context import RunContext

__all__ = ["Defence"]

Trusted = Callable[[str], np.ndarray]  # agent → its trusted net-power estimate over the horizon


class Defence:
    """Attacks on the rounds, anomaly checks and quarantine of one run (see the module docstring)."""

    def __init__(self, scenario: Scenario, context: RunContext | None) -> None:
        self.attacks: list[Attack] = [ATTACKS[a.kind].from_config(a) for a in scenario.attacks]
        detection = scenario.detection
        self.detectors: list[Detector] = (
            [] if detection is None else [DETECTORS[d.kind](d.threshold_kw) for d in detection.detectors]
        )
        self.quarantine_on = detection is not None and detection.quarantine
        self.release_after_s = 0 if detection is None else detection.release_after
        self.quarantined: dict[str, int] = {}  # agent → time of its last alarm
        self.reported_kw: dict[str, float] = {}  # agent → step 0 of its last update (as it arrived)
        self.context = context

    @property
    def active(self) -> bool:
        return bool(self.attacks or self.detectors)

    def screen(self, time_s: int, trusted: Trusted) -> Callable[[Sequence[LocalUpdate]], list[LocalUpdate]]:
        """The filter of one step's rounds (see the module docstring)."""
        estimates: dict[str, np.ndarray] = {}

        def apply(updates: Sequence[LocalUpdate]) -> list[LocalUpdate]:
            out = []
            for update in updates:
                for attack in self.attacks:
                    update = attack.update(time_s, update)
                self.reported_kw[update.agent] = float(update.p_net_kw[0])
                if update.agent in self.quarantined:
                    if update.agent not in estimates:
                        estimates[update.agent] = trusted(update.agent)
                    update = dataclasses.replace(update, p_net_kw=estimates[update.agent].copy())
                out.append(update)
            return out

        return apply

    def claims(self) -> dict[str, float]:
        """The step-0 claims of the step just decided (taken: the next step starts afresh)."""
        claims, self.reported_kw = self.reported_kw, {}
        return claims

    def check(
        self,
        time_s: int,
        timestamp: Any,
        observed_s: int,
        measured_kw: dict[str, float],
        reported_kw: dict[str, float],
    ) -> list[str]:
        """At control time `time_s`, score every agent's claim for the step at `observed_s`
        (`reported_kw`) against its measured meter over that step; quarantine and release; record
        (rows at `time_s`, when the alarm is known, with the step scored as `observed_s`). Returns the
        agents in quarantine for the next step."""
        rows, changes = [], []
        alarmed: set[str] = set()
        for agent, measured in measured_kw.items():
            observation = Observation(agent, observed_s, reported_kw.get(agent), measured)
            for detector in self.detectors:
                score = detector.score(observation)
                rows.append({"time_s": time_s, "timestamp": timestamp, "entity": agent,
                             "observed_s": observed_s, "detector": score.detector, "score": score.score,
                             "alarm": score.alarm})
                if score.alarm:
                    alarmed.add(agent)
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
