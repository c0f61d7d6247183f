"""Shiftable share of a building's appliance load (demand-side management).

A request `flex_shift_kw` < 0 curtails up to the flexible share of the current appliance load;
the curtailed energy becomes a backlog that must be restored (extra consumption) within
`restore_within_h` hours of the end of the curtailment (every curtailed step moves the deadline:
the urban-planning study restores its evening cut "within 4 h" after it). A request > 0 restores
up to the backlog. When a step ends at or after the deadline, the whole remaining backlog is
restored in that step (forced), whatever the request. The backlog is never negative: consumption
cannot be brought forward here (the study's strategy 2, anticipation, is not modelled yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.arrays import clip, nan_to_zero


@dataclass(frozen=True)
class FlexStep:
    """Result of one step: extra power (kW, < 0 when curtailed), new backlog and deadline, forced flag."""

    flex_p_kw: np.ndarray
    backlog_kwh: np.ndarray
    deadline_s: np.ndarray
    forced: np.ndarray


def step_flex(
    flexible_kw: np.ndarray,
    request_kw: np.ndarray,
    backlog_kwh: np.ndarray,
    deadline_s: np.ndarray,
    now_s: float,
    dt_s: float,
    restore_within_s: np.ndarray,
) -> FlexStep:
    """Apply one step of shift requests (NaN = no request) for all buildings."""
    dt_h = dt_s / 3600.0
    request = nan_to_zero(request_kw)
    forced = (backlog_kwh > 0) & (now_s + dt_s >= deadline_s)
    curtail = np.where(forced, 0.0, clip(-request, 0.0, flexible_kw))
    restore = np.where(forced, backlog_kwh / dt_h, clip(request, 0.0, backlog_kwh / dt_h))
    new_backlog = np.maximum(backlog_kwh + (curtail - restore) * dt_h, 0.0)
    new_deadline = np.where(curtail > 0, now_s + dt_s + restore_within_s, deadline_s)  # after the last cut
    new_deadline = np.where(new_backlog <= 1e-12, np.inf, new_deadline)
    new_backlog = np.where(new_backlog <= 1e-12, 0.0, new_backlog)
    return FlexStep(restore - curtail, new_backlog, new_deadline, forced)
