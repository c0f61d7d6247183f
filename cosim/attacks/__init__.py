"""Attacks on the control loop as plug-ins (docs/attacks.md): each kind is a class with a small
contract (`cosim.attacks.base.Attack`), registered by name in `ATTACKS`, declared in the scenario's
`attacks:` section and keyed to the simulation time, so a run with attacks is reproducible. Adding
one is one module with an `Attack` subclass under `@register_attack`, imported here.

Kinds:
- compromised ADMM agent: `admm_bias` (under-reports its net power by `magnitude` kW),
  `admm_scale`, `admm_random`, `admm_stealthy` (lies where no meter checks it);
- `flex_lie`: an agent withholds a share of its battery's promised flexibility;
- `coordinator_limit`: a compromised coordinator works to a false transformer limit;
  `coordinator_z`: it sends false decisions (a consensus with room that is not there);
- sensors (`quantity`: the meter `p_kw`, the battery's `soc`, the room's `t_in_c`): `sensor_bias`,
  `sensor_scale`, `sensor_drift`, `sensor_freeze`, `sensor_noise`;
- actuator: `setpoint_bias` (the battery's setpoint altered on its way);
- network (the rounds' messages): `network_drop`, `network_delay`, `network_replay`,
  `network_flood`.
"""

from typing import Any

from cosim.attacks.base import ATTACKS, Attack, register_attack
from cosim.attacks.insiders import AdmmStealthy, CoordinatorLimit, CoordinatorZ, FlexibilityLie
from cosim.attacks.kinds import AdmmBias, SensorBias
from cosim.attacks.network import NetworkDelay, NetworkDrop, NetworkFlood, NetworkReplay


def run_attacks(scenario: Any, context: Any = None) -> list[Attack]:
    """The attack objects of a run, built once per run: kept on the run's context (`RunContext`),
    so the control adapter (measurement and setpoint hooks) and the controller's defence (the
    rounds' hooks) share the same objects; without a context, fresh ones."""
    if context is not None and context.attacks is not None:
        attacks: list[Attack] = context.attacks
        return attacks
    attacks = [ATTACKS[a.kind].from_config(a) for a in scenario.attacks]
    if context is not None:
        context.attacks = attacks
    return attacks


__all__ = [
    "ATTACKS", "AdmmBias", "AdmmStealthy", "Attack", "CoordinatorLimit", "CoordinatorZ", "FlexibilityLie",
    "NetworkDelay", "NetworkDrop", "NetworkFlood", "NetworkReplay", "SensorBias", "register_attack",
    "run_attacks",
]
