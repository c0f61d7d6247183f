"""Mapping mosaik time (integer seconds from the scenario start) to wall-calendar timestamps."""

from __future__ import annotations

import pandas as pd


def start_timestamp(start: str, tz: str) -> pd.Timestamp:
    """The scenario start as a tz-aware timestamp (naive ISO strings are read in `tz`)."""
    ts = pd.Timestamp(start)
    return ts.tz_localize(tz) if ts.tz is None else ts.tz_convert(tz)


def time_axis(start: str, tz: str, step_s: int, n_steps: int) -> pd.DatetimeIndex:
    """`n_steps` regular timestamps from the scenario start, `step_s` seconds apart."""
    if step_s <= 0 or n_steps <= 0:
        raise ValueError(f"step_s and n_steps must be positive, got {step_s} and {n_steps}")
    return pd.date_range(start_timestamp(start, tz), periods=n_steps, freq=pd.Timedelta(seconds=step_s))
