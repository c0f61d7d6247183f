"""What a compromised ADMM agent reports instead of its true net power over the horizon: the lies
of the attack kinds `admm_bias`, `admm_scale`, `admm_random` and `admm_stealthy` (`cosim.attacks`),
shared by the in-process attacks and the agent that lies over MQTT
(`controllers.admm.mqtt.CompromisedAdmmAgent`)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from controllers.admm.data import FloatArray

__all__ = ["LIES", "Lie", "lie"]

Lie = Literal["bias", "scale", "random", "stealthy"]
LIES: tuple[Lie, ...] = ("bias", "scale", "random", "stealthy")


def lie(
    kind: Lie, p_kw: FloatArray, magnitude: float, *, seed: int = 0, tick: int = 0, iteration: int = 0,
    step0_kw: float = 0.0,
) -> FloatArray:
    """The reported net power (kW) for the true `p_kw`:
    - `bias`: `magnitude` kW lower over the whole horizon;
    - `scale`: scaled by (1 − `magnitude`);
    - `random`: seeded uniform noise of ±`magnitude` kW on every value, a new draw per
      (`seed`, `tick`, `iteration`);
    - `stealthy`: `magnitude` kW lower over the later steps (1 on), `step0_kw` lower over step 0.
    """
    if kind == "bias":
        return p_kw - magnitude
    if kind == "scale":
        return p_kw * (1.0 - magnitude)
    if kind == "random":
        rng = np.random.default_rng([seed, tick, iteration])
        return p_kw + rng.uniform(-magnitude, magnitude, p_kw.shape)
    out = p_kw.copy()
    out[1:] -= magnitude
    out[:1] -= step0_kw
    return out
