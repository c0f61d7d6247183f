"""KPIs of a run's attacks and anomaly checks (tables `attacks`, `detections`, `quarantine`).

- `attacks`: the attacks injected (distinct target and kind), `attacked_agent_steps`;
- `detected_share`: attacks whose target raised an alarm within `DETECT_WITHIN_STEPS` control steps
  of the attack's first step; `steps_to_detect_median` over the detected ones;
- `false_positive_rate`: alarms per agent-step on agent-steps that were not attacked;
- `quarantined_agent_steps`: agent-steps in quarantine (from the quarantine changes).
Empty when the run had neither attacks nor detection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cosim.results.writer import read_table

__all__ = ["DETECT_WITHIN_STEPS", "clean_run", "security_kpis"]

DETECT_WITHIN_STEPS = 3


def _table(out_dir: Path, name: str) -> pd.DataFrame | None:
    try:
        return read_table(out_dir, name)
    except FileNotFoundError:
        return None


def security_kpis(out_dir: Path, step_s: int) -> dict[str, Any]:
    """The security KPIs of the run in `out_dir` (see the module docstring)."""
    attacks, detections = _table(out_dir, "attacks"), _table(out_dir, "detections")
    quarantine = _table(out_dir, "quarantine")
    if attacks is None and detections is None:
        return {}
    out: dict[str, Any] = {}
    attacked: set[tuple[int, str]] = set()
    if attacks is not None:
        attacked = set(zip(attacks["time_s"].astype(int), attacks["entity"], strict=True))
        first = attacks.groupby(["entity", "kind"])["time_s"].min()
        out["attacks"] = int(first.size)
        out["attacked_agent_steps"] = len(attacked)
        if detections is not None:
            alarms = detections[detections["alarm"].astype(bool)]
            steps: list[float] = []
            for (target, _kind), start in first.items():
                hit = alarms[(alarms["entity"] == target) & (alarms["time_s"] >= start)]["time_s"]
                if not hit.empty and (hit.min() - start) // step_s <= DETECT_WITHIN_STEPS:
                    steps.append(float((hit.min() - start) // step_s))
            out["detected_share"] = len(steps) / first.size if first.size else None
            out["steps_to_detect_median"] = float(np.median(steps)) if steps else None
    if detections is not None:
        per_step = detections.groupby(["time_s", "entity"])["alarm"].any().reset_index()
        keys = zip(per_step["time_s"].astype(int), per_step["entity"], strict=True)
        clean = np.array([k not in attacked for k in keys], dtype=bool)
        alarms_clean = per_step["alarm"].to_numpy(dtype=bool)[clean]
        out["false_positive_rate"] = float(alarms_clean.mean()) if alarms_clean.size else None
        out["alarms"] = int(per_step["alarm"].sum())
    if quarantine is not None and detections is not None:
        end = int(detections["time_s"].max()) + step_s
        total = 0
        for _agent, rows in quarantine.sort_values("time_s").groupby("entity"):
            since: int | None = None
            for time_s, state in zip(rows["time_s"], rows["state"], strict=True):
                if state == "quarantined" and since is None:
                    since = int(time_s) + step_s  # from the next step on
                elif state == "released" and since is not None:
                    total += max(int(time_s) - since, 0) // step_s + 1
                    since = None
            if since is not None:
                total += max(end - since, 0) // step_s
        out["quarantined_agent_steps"] = total
    return out


def clean_run(kpis: dict[str, Any]) -> list[str]:
    """Why a run's control loop was not clean (empty: it was): messages dropped or rejected, late
    agents, ADMM fallbacks, attacks injected, anomaly alarms. A run that ends `completed` with any
    of these says so (`kpis.json` run.clean, run.not_clean_because)."""
    reasons = []
    mqtt = kpis.get("mqtt") or {}
    if mqtt.get("dropped"):
        reasons.append(f"{mqtt['dropped']} MQTT messages dropped (stale, malformed or unexpected)")
    # retained plans seen again are no attacks (`controllers.signing.Verifier.counts`)
    rejected = sum(n for reason, n in (mqtt.get("rejected") or {}).items() if reason != "duplicate_retained")
    if rejected:
        reasons.append(f"{rejected} messages rejected by the secured control plane")
    late = (kpis.get("control") or {}).get("late_agent_steps")
    if late:
        reasons.append(f"{late} late agent answers (their fallback was applied)")
    fallbacks = (kpis.get("admm") or {}).get("fallback_steps")
    if fallbacks:
        reasons.append(f"ADMM fell back in {fallbacks} steps")
    security = kpis.get("security") or {}
    if security.get("attacks"):
        reasons.append(f"{security['attacks']} attacks injected")
    if security.get("alarms"):
        reasons.append(f"{security['alarms']} anomaly alarms")
    return reasons
