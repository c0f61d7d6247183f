"""Demand profiles: annual energy × normalised typical-day hourly profiles.

This is the method of the urban-planning study: each end use's annual final energy is spread over
the year with a normalised typical-day profile (weekday / weekend shapes, in the spirit of
VDI 4655 for residential buildings) and a seasonal factor, so that integrating the profile over a
365-day year gives exactly the annual energy. Each building gets its own seeded variation (a time
shift of up to ±`shift_h_max` and multiplicative hourly noise), so a district is not a copy of one
house while the district average keeps the typical shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.arrays import clip

HOURS_PER_YEAR = 8760.0

# Hourly shares of a day's energy (24 values each; they are normalised below).
_APPLIANCES_WEEKDAY = np.array(
    [
        2.6,
        2.2,
        2.0,
        1.9,
        1.9,
        2.2,
        3.4,
        4.9,
        4.6,
        3.9,
        3.7,
        3.9,
        4.6,
        4.4,
        3.8,
        3.6,
        3.9,
        4.8,
        6.2,
        7.2,
        7.3,
        6.6,
        5.2,
        3.6,
    ]
)
_APPLIANCES_WEEKEND = np.array(
    [
        3.0,
        2.5,
        2.2,
        2.0,
        1.9,
        2.0,
        2.4,
        3.2,
        4.4,
        5.0,
        5.2,
        5.6,
        6.0,
        5.4,
        4.6,
        4.2,
        4.3,
        4.9,
        5.8,
        6.5,
        6.6,
        6.0,
        4.9,
        3.8,
    ]
)
_DHW_WEEKDAY = np.array(
    [
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        2.0,
        9.5,
        11.0,
        7.0,
        4.5,
        3.8,
        4.0,
        4.6,
        3.9,
        3.2,
        3.0,
        3.4,
        4.6,
        6.6,
        7.4,
        6.6,
        4.9,
        3.0,
        1.4,
    ]
)
_DHW_WEEKEND = np.array(
    [
        0.8,
        0.5,
        0.3,
        0.3,
        0.3,
        0.6,
        2.4,
        6.5,
        10.0,
        9.5,
        7.2,
        5.6,
        5.2,
        4.3,
        3.4,
        3.1,
        3.4,
        4.4,
        6.0,
        6.8,
        6.0,
        4.6,
        3.2,
        1.6,
    ]
)
END_USES = ("appliances", "dhw")


@dataclass(frozen=True)
class ProfileShape:
    """Typical-day shapes (shares per hour, each summing to 1) and the seasonal swing.

    The seasonal factor is 1 + `seasonal_amplitude` · cos(2π (day − 15) / 365): highest mid-January.
    """

    weekday: np.ndarray
    weekend: np.ndarray
    seasonal_amplitude: float


SHAPES: dict[str, ProfileShape] = {
    "appliances": ProfileShape(
        _APPLIANCES_WEEKDAY / _APPLIANCES_WEEKDAY.sum(), _APPLIANCES_WEEKEND / _APPLIANCES_WEEKEND.sum(), 0.15
    ),
    "dhw": ProfileShape(_DHW_WEEKDAY / _DHW_WEEKDAY.sum(), _DHW_WEEKEND / _DHW_WEEKEND.sum(), 0.10),
}


_HOUR_MIDPOINTS = np.arange(24) + 0.5


def _periodic_table(shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The midpoints and shares extended by one point at each end across midnight: what
    `np.interp(..., period=24)` builds on every call (the same operations, done once)."""
    xp = _HOUR_MIDPOINTS % 24.0
    order = np.argsort(xp)
    xp, fp = xp[order], np.asarray(shape, dtype=np.float64)[order]
    return np.concatenate((xp[-1:] - 24.0, xp, xp[0:1] + 24.0)), np.concatenate((fp[-1:], fp, fp[0:1]))


_TABLES: dict[int, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = {}


def _shape_at(shape: np.ndarray, hour_of_day: np.ndarray) -> np.ndarray:
    """Hourly shares (per hour) interpolated periodically at fractional hours (piecewise linear
    through the hour midpoints; its integral over a day stays 1). The same numbers as
    `np.interp(np.mod(hour_of_day, 24.0), _HOUR_MIDPOINTS, shape, period=24.0)`, with the
    periodic table of each shape built once."""
    cached = _TABLES.get(id(shape))
    if cached is None or cached[0] is not shape:
        cached = _TABLES[id(shape)] = (shape, _periodic_table(shape))
    xp, fp = cached[1]
    x = np.asarray(np.mod(hour_of_day, 24.0), dtype=np.float64) % 24.0
    result: np.ndarray = np.interp(x, xp, fp)
    return result


def normalised_power(
    end_use: str, day_of_year: np.ndarray, hour_of_day: np.ndarray, weekend: np.ndarray | bool
) -> np.ndarray:
    """Power as a fraction of annual energy per hour (1/h): multiply by annual kWh to get kW.

    `day_of_year` counts from 0. Over a 365-day year of 2 weekend days a week the profile
    integrates to 1 (the seasonal cosine integrates to zero, each day's shares to one).
    """
    if end_use not in SHAPES:
        raise ValueError(f"unknown end use {end_use!r}; allowed: {', '.join(SHAPES)}")
    s = SHAPES[end_use]
    if isinstance(weekend, bool) or np.ndim(weekend) == 0:  # one day type for all: its profile only
        daily = _shape_at(s.weekend if weekend else s.weekday, hour_of_day)
    else:
        daily = np.where(weekend, _shape_at(s.weekend, hour_of_day), _shape_at(s.weekday, hour_of_day))
    seasonal = 1.0 + s.seasonal_amplitude * np.cos(2 * np.pi * (day_of_year - 15.0) / 365.0)
    return daily * seasonal / 365.0


@dataclass(frozen=True)
class BuildingVariation:
    """Per-building, per-end-use profile variation drawn once from the building's seed."""

    shift_h: np.ndarray  # shape (n_buildings,)
    noise_std: float


def draw_variation(
    seeds: list[tuple[int, int]], shift_h_max: float = 1.0, noise_std: float = 0.15
) -> BuildingVariation:
    """One time shift per building, uniform in ±`shift_h_max`, from its own (scenario seed, index) stream."""
    shifts = np.array(
        [np.random.default_rng([s, i, 31]).uniform(-shift_h_max, shift_h_max) for s, i in seeds]
    )
    return BuildingVariation(shifts, noise_std)


def step_noise(seed: int, step_index: int, n: int, std: float, stream: int) -> np.ndarray:
    """Multiplicative noise (mean 1, clipped at 0) for one step, the same whatever else ran before."""
    if std <= 0.0:
        return np.ones(n)
    rng = np.random.default_rng([seed, step_index, stream])
    return clip(1.0 + rng.normal(0.0, std, n), 0.0)
