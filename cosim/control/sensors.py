"""Sensor noise between the simulators and the controllers (`cosim.scenario.attacks.Sensors`).

Every agent's meter reading (`p_kw`), states of charge (`soc`, `tank_soc`) and indoor temperature
(`t_in_c`) get seeded Gaussian noise: one stream per (scenario seed, control step), drawn for the
agents in their order, so a run with noise is reproducible bit for bit. A noisy state of charge is
kept within 0–1.
"""

from __future__ import annotations

import numpy as np

from cosim.scenario.attacks import SensorNoise

__all__ = ["bus_measurements", "meter_sigma_kw", "noisy"]

Values = dict[str, float | None]
_STREAM = 0x5E115  # keeps this stream apart from the simulators' own
_GRID_STREAM = 0x6B115  # the grid side's sensors: independent of the agents'


def meter_sigma_kw(noise: SensorNoise, p_kw: float) -> float:
    """The standard deviation of one meter reading of `p_kw`."""
    return noise.p_kw_rel * abs(p_kw) + noise.p_kw_abs


def bus_measurements(
    received: dict[str, Values], noise: SensorNoise, key: tuple[int, int]
) -> dict[str, float]:
    """The grid side's measurement of each agent's building power (`p_kw`) at its bus: the true
    value (`received` before the agents' own noise and any attack) with the noise of a meter of the
    same class, drawn from a stream of its own (an independent sensor)."""
    rng = np.random.default_rng([key[0], key[1], _GRID_STREAM])
    draws = rng.standard_normal(len(received))
    out: dict[str, float] = {}
    for (agent, values), e in zip(received.items(), draws, strict=True):
        p = values.get("p_kw")
        if p is not None:
            out[agent] = p + e * meter_sigma_kw(noise, p)
    return out


def noisy(received: dict[str, Values], noise: SensorNoise, key: tuple[int, int]) -> dict[str, Values]:
    """`received` with the sensors' noise (see the module docstring); `key` = (seed, step)."""
    rng = np.random.default_rng([key[0], key[1], _STREAM])
    draws = rng.standard_normal((len(received), 4))
    out: dict[str, Values] = {}
    for (agent, values), (e_p, e_soc, e_tank, e_t) in zip(received.items(), draws, strict=True):
        v = dict(values)
        p = v.get("p_kw")
        if p is not None:
            v["p_kw"] = p + e_p * meter_sigma_kw(noise, p)
        for name, e in (("soc", e_soc), ("tank_soc", e_tank)):
            soc = v.get(name)
            if soc is not None:
                v[name] = min(max(soc + e * noise.soc, 0.0), 1.0)
        t = v.get("t_in_c")
        if t is not None:
            v["t_in_c"] = t + e_t * noise.t_c
        out[agent] = v
    return out
