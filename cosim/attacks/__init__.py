"""Attacks on the control loop as plug-ins (docs/attacks.md): each kind is a class with a small
contract (`cosim.attacks.base.Attack`), registered by name in `ATTACKS`, declared in the scenario's
`attacks:` section and keyed to the simulation time, so a run with attacks is reproducible.

Kinds so far:
- `admm_bias`: a compromised ADMM agent (it holds valid credentials) under-reports its net power by
  `magnitude` kW in every round while it applies its true plan: the coordinator believes there is
  room under the transformer limit that is not there.
- `sensor_bias`: the target's meter reading (`p_kw`) is offset by `magnitude` kW between the
  simulator and the controller.
"""

from cosim.attacks.base import ATTACKS, Attack, register_attack
from cosim.attacks.kinds import AdmmBias, SensorBias

__all__ = ["ATTACKS", "AdmmBias", "Attack", "SensorBias", "register_attack"]
