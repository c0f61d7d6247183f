"""The contract of an attack plug-in and its registry."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from controllers.admm.messages import CoordinatorBroadcast, LocalUpdate
from controllers.measurements import BuildingSetpoints

__all__ = ["ATTACKS", "Attack", "Values", "register_attack"]

Values = dict[str, float | None]  # a controller's inputs by name


class Attack:
    """One attack of a run, built from its scenario entry (`cosim.scenario.attacks.AttackConfig`).

    Hooks (each gets the simulation time and returns what passes on; the base passes everything
    unchanged, so a kind overrides only the injection points it attacks):
    - `measurement(time_s, agent, values)`: a controller's input between simulator and controller;
    - `update(time_s, update)`: an ADMM agent's round update on its way to the coordinator;
    - `round(time_s, updates)`: a round's messages on the network (drop, delay, replay, flood);
    - `limit_kw(time_s, limit_kw)`: the shared limit the coordinator works to (a compromised
      coordinator);
    - `broadcast(time_s, broadcast)`: the coordinator's round broadcast to the agents (a
      compromised coordinator's false decisions);
    - `setpoints(time_s, agent, setpoints)`: an agent's setpoints between the agent and its devices.
    `needs_controller`: the controller kind the attack needs (None: any); `over_mqtt`: whether it
    also runs with `transport: mqtt` (else in process only); `on_coordinator`: the target is the
    coordinator (`coordinator`), not an agent. `quantity`: the measured value a sensor attack alters;
    `params`: the kind's own numbers (documented on the kind).
    """

    kind: ClassVar[str] = ""
    needs_controller: ClassVar[str | None] = None
    over_mqtt: ClassVar[bool] = True
    on_coordinator: ClassVar[bool] = False
    quantities: ClassVar[tuple[str, ...]] = ()  # the sensor attacks' allowed quantities
    param_names: ClassVar[tuple[str, ...]] = ()  # the kind's own `params`

    def __init__(
        self,
        target: str,
        start_s: int,
        duration_s: int | None,
        magnitude: float,
        seed: int,
        quantity: str = "p_kw",
        params: dict[str, float] | None = None,
    ) -> None:
        self.target, self.start_s, self.duration_s = target, start_s, duration_s
        self.magnitude, self.seed = magnitude, seed
        self.quantity, self.params = quantity, dict(params or {})
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, config: Any) -> Attack:
        return cls(
            config.target, config.start, config.duration, config.magnitude, config.seed,
            config.quantity, config.params,
        )

    def active(self, time_s: int) -> bool:
        end = None if self.duration_s is None else self.start_s + self.duration_s
        return self.start_s <= time_s and (end is None or time_s < end)

    def measurement(self, time_s: int, agent: str, values: Values) -> Values:
        return values

    def update(self, time_s: int, update: LocalUpdate) -> LocalUpdate:
        return update

    def round(self, time_s: int, updates: list[LocalUpdate]) -> list[LocalUpdate]:
        return updates

    def limit_kw(self, time_s: int, limit_kw: float) -> float:
        return limit_kw

    def broadcast(self, time_s: int, broadcast: CoordinatorBroadcast) -> CoordinatorBroadcast:
        return broadcast

    def setpoints(self, time_s: int, agent: str, setpoints: BuildingSetpoints) -> BuildingSetpoints:
        return setpoints


ATTACKS: dict[str, type[Attack]] = {}


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Register an attack kind under `cls.kind` (a class decorator)."""
    if not cls.kind:
        raise ValueError(f"{cls.__name__} has no kind")
    ATTACKS[cls.kind] = cls
    return cls
