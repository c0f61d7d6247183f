"""The run context: what the in-process simulators of one run share, handed to each of them
explicitly (mosaik passes an in-process simulator's init parameters as they are), never through
a module-global registry.

`run_scenario` makes one `RunContext` per run and gives it to `build_world`, which starts the
recorder, the control adapter and the device plane with `context=...`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cosim.mqtt.bridge_sync import SyncBridge
    from cosim.plans.handdown import Schedule
    from cosim.plans.replan import Replanner
    from cosim.results.writer import ResultsWriter
    from cosim.scenario.model import Scenario

__all__ = ["RunContext", "require_context"]


@dataclass
class RunContext:
    """One run's shared parts: the results writer, the progress callback, the validated scenario,
    the plans handed down (building → schedule), the day-ahead re-planner when the scenario
    re-plans, and once the control plane is up its bridges and the plans' publisher."""

    writer: ResultsWriter
    scenario: Scenario
    on_step: Callable[[int], None] | None = None
    schedules: dict[str, Schedule] = field(default_factory=dict)
    bridge: SyncBridge | None = None  # controllers over MQTT
    device_bridge: SyncBridge | None = None  # external devices (hardware in the loop)
    replanner: Replanner | None = None  # rolling day-ahead plans (cosim.plans.replan)
    publish_plans: Callable[[dict[str, Schedule]], object] | None = None  # retained plans, over MQTT
    # agent host → the ADMM agents that answer the rounds in its batches (cosim.mqtt.plane)
    round_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    attacks: list[Any] | None = None  # the run's attack objects, built once (cosim.attacks.run_attacks)


def require_context(context: object, who: str) -> RunContext:
    """`context` as a `RunContext`, or an error saying which simulator needs one."""
    if not isinstance(context, RunContext):
        raise RuntimeError(f"{who}: start it with context=RunContext(...) (in process; cosim.world.build)")
    return context
