"""Plans handed down to the real-time controllers (scenario section `plan`).

`load_plans` reads the scenario's plan set (`controllers.plans.PlanSet`), checks it against the
buildings and turns each building's tracked series into a schedule on the run's clock (seconds
since the scenario start). `publish_plans` puts them on the broker as retained `plan` messages
(`{prefix}/{run}/plan/{building}`): an agent that connects or reconnects later still gets its
plan. In a secured run the planner logs in as its principal and signs every plan with its Ed25519
key (`controllers.signing`); the agents drop a plan it did not sign. `clear_plans` removes them at
the end of the run. The in-process ADMM controller reads the
same schedules directly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiomqtt
from pydantic import ValidationError

from controllers.messages import Codec, Message, MessageFactory, encode
from controllers.plans import PlanSet
from controllers.runtime.broker_url import parse_broker_url
from controllers.topics import DEFAULT_PREFIX, Kind, TopicScheme
from cosim.scenario.model import Scenario
from simulators.clock import start_timestamp

if TYPE_CHECKING:
    from controllers.runtime.identity import ClientSecurity

PLANNER_SENDER = "planner"


class PlanError(ValueError):
    """A plan file that cannot be used; the message names the file and what to change."""


@dataclass(frozen=True)
class Schedule:
    """One building's tracked plan on the run's clock."""

    building: str
    asset: str
    start_s: int
    step_s: int
    values: tuple[float, ...]


def read_plan_set(path: Path) -> PlanSet:
    if not path.is_file():
        raise PlanError(f"{path}: plan file not found (scenario field plan.file)")
    try:
        return PlanSet.from_json(path.read_bytes())
    except (ValidationError, ValueError) as exc:
        raise PlanError(f"{path}: not a plan set of the platform's format: {exc}") from None


def plan_set(scenario: Scenario) -> PlanSet | None:
    """The scenario's plan set: read from its file or made by the planner, None without plans.
    A run makes it once (`run_scenario`) and hands it to `load_plans` and `store_plans`."""
    cfg = scenario.plan
    if cfg is None:
        return None
    if cfg.file is not None:
        return read_plan_set(cfg.file)
    from cosim.plans.source import planner_plans
    from planner.hub.errors import PlannerError

    source = cfg.planner
    try:
        return planner_plans(scenario, *(() if source is None else (source.policy, source.margin_k)))
    except (PlannerError, ValueError) as exc:
        raise PlanError(f"plan.planner: the planner could not plan the buildings: {exc}") from None


def load_plans(scenario: Scenario, plans: PlanSet | None = None) -> dict[str, Schedule]:
    """Building name → its schedule, for the buildings that have a plan (from `plans`, or the
    scenario's plan set when not given)."""
    cfg = scenario.plan
    plans = plans if plans is not None else plan_set(scenario)
    if cfg is None or plans is None:
        return {}
    where = cfg.file or "plan.planner"
    buildings = [name for g in scenario.buildings for name in g.names()]
    unknown = sorted(set(cfg.assets) - set(buildings))
    if unknown:
        raise PlanError(
            f"plan.assets names unknown buildings {unknown}; buildings: {', '.join(buildings[:10])}"
        )
    start = start_timestamp(scenario.start, scenario.timezone)
    schedules: dict[str, Schedule] = {}
    for building in buildings:
        asset = cfg.assets.get(building, building)
        plan = plans.plans.get(asset)
        if plan is None:
            if building in cfg.assets:
                raise PlanError(f"{where}: no plan for asset {asset!r} (plan.assets.{building})")
            continue
        if cfg.series not in plan.series:
            raise PlanError(
                f"{where}: the plan of {asset!r} has no series {cfg.series!r} (plan.series); "
                f"it has {', '.join(sorted(plan.series))}"
            )
        offset = (plan.start - start).total_seconds()
        if offset != int(offset):
            raise PlanError(f"{where}: the plan of {asset!r} starts between whole seconds of the run")
        schedules[building] = Schedule(
            building, asset, int(offset), plan.step_s, tuple(plan.series[cfg.series])
        )
    if not schedules:
        raise PlanError(
            f"{where}: no plan matches a building (assets {', '.join(sorted(plans.plans))}); "
            "name the assets like the buildings or map them with plan.assets"
        )
    return schedules


def store_plans(plans: PlanSet | None, out_dir: Path) -> None:
    """Write the plan set into the results (`plans.json`)."""
    if plans is not None:
        (out_dir / "plans.json").write_text(plans.to_json(), encoding="utf-8")


async def _publish(url: str, items: list[tuple[str, bytes]], security: ClientSecurity | None = None) -> None:
    broker = parse_broker_url(url) if security is None else security.broker_url(url)
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        tls_context=broker.ssl_context(),
        identifier=f"{PLANNER_SENDER}-{id(items):x}",
    ) as client:
        for topic, payload in items:
            await client.publish(topic, payload, qos=1, retain=True)


def publish_plans(
    url: str, run: str, schedules: dict[str, Schedule], series: str, prefix: str = DEFAULT_PREFIX,
    security: ClientSecurity | None = None,
) -> int:
    """Publish every schedule as a retained `plan` message for its building's agent; returns how many.
    `security`: the planner's login and keys (a secured run): each plan signed with its Ed25519 key,
    a new signing session (epoch) per call, so a re-plan's sequence numbers may start at 0 again."""
    scheme = TopicScheme(run=run, prefix=prefix)
    sender = PLANNER_SENDER if security is None else security.username
    factory = MessageFactory(run, sender)
    signer = None if security is None else security.middleware()
    items = []
    for s in schedules.values():
        topic = scheme.topic(Kind.PLAN, s.building)
        message: Message = factory.plan(0, s.start_s, s.step_s, {series: s.values})
        if signer is not None:
            message = signer.outgoing(sender, topic, message)
        items.append((topic, encode(message, Codec.JSON)))
    asyncio.run(_publish(url, items, security))
    return len(items)


def clear_plans(url: str, run: str, buildings: list[str], prefix: str = DEFAULT_PREFIX,
                security: ClientSecurity | None = None) -> None:
    """Remove the retained plans of a run from the broker (an empty retained message clears one;
    `security`: the planner's login in a secured run)."""
    scheme = TopicScheme(run=run, prefix=prefix)
    asyncio.run(_publish(url, [(scheme.topic(Kind.PLAN, b), b"") for b in buildings], security))
