"""Attacks on the network between the ADMM agents and the coordinator (in process: on each round's
messages as they travel; see `cosim.attacks`). Each acts on the target agent's round updates."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from controllers.admm.messages import LocalUpdate
from cosim.attacks.base import Attack, register_attack

__all__ = ["NetworkDelay", "NetworkDrop", "NetworkFlood", "NetworkReplay"]


class _RoundAttack(Attack):
    """An attack on the target's messages in each round while it is active."""

    needs_controller: ClassVar[str | None] = "admm"
    over_mqtt: ClassVar[bool] = False

    def round(self, time_s: int, updates: list[LocalUpdate]) -> list[LocalUpdate]:
        if not self.active(time_s):
            self.observe(time_s, updates)
            return updates
        return self.alter(time_s, updates)

    def observe(self, time_s: int, updates: list[LocalUpdate]) -> None:  # optional
        """See the traffic while not yet active (a replay attacker records here)."""

    def alter(self, time_s: int, updates: list[LocalUpdate]) -> list[LocalUpdate]:
        raise NotImplementedError


@register_attack
class NetworkDrop(_RoundAttack):
    """Each of the target's round updates is lost with probability `magnitude` (0–1; 1: all), a
    seeded draw per round: the coordinator goes on with the agent's last value."""

    kind: ClassVar[str] = "network_drop"

    def alter(self, time_s: int, updates: list[LocalUpdate]) -> list[LocalUpdate]:
        out = []
        for u in updates:
            if u.agent == self.target:
                draw = np.random.default_rng([self.seed, time_s, u.iteration]).random()
                if draw < self.magnitude:
                    continue
            out.append(u)
        return out


@register_attack
class NetworkDelay(_RoundAttack):
    """The target's round updates are held and delivered `magnitude` control steps later (a whole
    number ≥ 1), when their step is over: the coordinator must not take them, and goes on with the
    agent's last value meanwhile."""

    kind: ClassVar[str] = "network_delay"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.held: list[tuple[int, LocalUpdate]] = []  # (due time, update)
        self.step_s: int | None = None
        self._last_time: int | None = None

    def alter(self, time_s: int, updates: list[LocalUpdate]) -> list[LocalUpdate]:
        if self._last_time is not None and time_s > self._last_time and self.step_s is None:
            self.step_s = time_s - self._last_time
        self._last_time = time_s
        delay_s = round(self.magnitude) * (self.step_s or 0)
        due = [u for t, u in self.held if self.step_s is not None and t <= time_s]
        self.held = [(t, u) for t, u in self.held if not (self.step_s is not None and t <= time_s)]
        out = [u for u in updates if u.agent != self.target]
        self.held += [(time_s + delay_s, u) for u in updates if u.agent == self.target]
        return out + due


@register_attack
class NetworkReplay(_RoundAttack):
    """A man in the middle records the target's valid round updates and, while active, blocks the
    fresh ones and replays those recorded `magnitude` control steps before (a whole number ≥ 1;
    each with its original step and round, as recorded; without credentials it cannot re-stamp
    them, see docs/security.md)."""

    kind: ClassVar[str] = "network_replay"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.recorded: dict[int, list[LocalUpdate]] = {}  # tick → the target's updates
        self._rounds: dict[int, int] = {}  # tick → rounds seen while replaying

    def observe(self, time_s: int, updates: list[LocalUpdate]) -> None:
        for u in updates:
            if u.agent == self.target:
                self.recorded.setdefault(u.tick, []).append(u)

    def alter(self, time_s: int, updates: list[LocalUpdate]) -> list[LocalUpdate]:
        out = [u for u in updates if u.agent != self.target]
        ticks = [u.tick for u in updates]
        if not ticks:
            return out
        tick = max(ticks)
        k = self._rounds.get(tick, 0)
        self._rounds = {tick: k + 1}
        old = self.recorded.get(tick - round(self.magnitude), [])
        if old:
            out.append(old[min(k, len(old) - 1)])
        return out


@register_attack
class NetworkFlood(_RoundAttack):
    """The target's topic is flooded: every round, `magnitude` copies (a whole number) of its
    update arrive beside the original (duplicates the coordinator must not count twice)."""

    kind: ClassVar[str] = "network_flood"

    def alter(self, time_s: int, updates: list[LocalUpdate]) -> list[LocalUpdate]:
        copies = [dataclasses.replace(u) for u in updates if u.agent == self.target]
        return updates + copies * round(self.magnitude)
