"""What two runs of the same scenario must agree on, whatever the transport."""

from __future__ import annotations

from typing import Any


def comparable_kpis(kpis: dict[str, Any]) -> dict[str, Any]:
    """KPIs without what differs between transports by design (wall time, MQTT traffic, exchange
    timings)."""
    return {
        group: {k: v for k, v in values.items() if k != "wall_time_s"}
        for group, values in kpis.items()
        if group not in ("mqtt", "control")
    }
