"""Running a scenario end to end: results folder, world, progress, KPIs.

A run never loses what it has written: parts are flushed every step (by default), and on any
error or interrupt the writer is closed (flushed and compacted) before the error propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import inspect
import os
import platform
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controllers.plans import PlanSet
from cosim.control.agents import agent_specs
from cosim.mqtt.plane import ControlPlane, start_control_plane
from cosim.plans.handdown import Schedule, clear_plans, load_plans, plan_set, publish_plans, store_plans
from cosim.plans.replan import PLANS_TABLE, Replanner, plan_rows
from cosim.results.kpis import compute_kpis
from cosim.results.security_kpis import clean_run
from cosim.results.writer import ResultsWriter
from cosim.scenario.model import Scenario
from cosim.world.build import BuiltWorld, build_world
from cosim.world.context import RunContext
from simulators.clock import start_timestamp

if TYPE_CHECKING:
    from cosim.security.run import RunSecurity


@dataclass(frozen=True)
class RunSummary:
    """Where the results went and the headline numbers."""

    out_dir: Path
    kpis: dict[str, Any]
    wall_time_s: float
    steps: int


def run_scenario(
    scenario: Scenario,
    out_dir: Path | None = None,
    on_step: Callable[[int], None] | None = None,
    overwrite: bool = False,
    on_built: Callable[[BuiltWorld], None] | None = None,
    broker_url: str | None = None,
    echo: Callable[[str], None] = print,
    on_control_plane: Callable[[ControlPlane], None] | None = None,
    run_id: str | None = None,
    scenario_path: str = "SCENARIO",
    plans: PlanSet | None = None,
    security: RunSecurity | None = None,
) -> RunSummary:
    """Run `scenario`, writing results, `run.json` and `kpis.json` to `out_dir` (default: the
    scenario's `results_dir`; a folder holding an earlier run is refused unless `overwrite`).
    `plans`: the scenario's plan set when the caller has made it already (else it is made here)."""
    out = Path(out_dir) if out_dir is not None else scenario.results_dir
    writer = ResultsWriter(
        out, scenario.outputs.flush_every_steps, overwrite, scenario.outputs.flush_interval_s
    )
    replanner = Replanner.of(scenario, writer)  # rolling day-ahead plans: it makes the first ones too
    given = plans is not None
    if plans is None:  # made once; a broken plan file stops here
        plans = replanner.plans_at(0) if replanner is not None else plan_set(scenario)
    schedules = load_plans(scenario, plans)
    if plans is not None and (replanner is None or given):  # the re-planner records the ones it makes
        start = start_timestamp(scenario.start, scenario.timezone)
        writer.add_rows(PLANS_TABLE, plan_rows(plans, schedules, 0, start))
    context = RunContext(writer, scenario, on_step, schedules, replanner=replanner)
    started = time.perf_counter()
    meta = {
        "scenario": scenario.model_dump(mode="json"),
        "started": dt.datetime.now(dt.UTC).isoformat(),
        "python": platform.python_version(),
    }
    writer.write_json("run.json", {**meta, "status": "running"})
    previous_handler = _terminate_as_interrupt()
    plane: ControlPlane | None = None
    world: Any = None
    try:
        devices = external_devices(scenario)
        if scenario.controller.transport == "mqtt" or devices:
            c = scenario.controller
            url = broker_url or c.broker  # None: the platform spawns one (cosim.mqtt.brokers)
            plane = start_control_plane(
                agent_specs(scenario, own_broker=url is None) if c.transport == "mqtt" else [],
                name=scenario.name,
                broker_url=url,
                agents=c.agents,
                qos=c.qos,
                step_timeout_s=c.step_timeout_s,
                devices=devices,
                batch=c.batches,
                scenario_path=scenario_path,
                run_id=run_id or c.run_id,
                ready_timeout_s=c.ready_timeout_s,
                echo=echo,
                security=security,
            )
            context.bridge = plane.bridge
            context.round_hosts = plane.round_hosts
            if schedules and plane.bridge is not None and scenario.plan is not None:
                url, run, series = plane.broker.url, plane.run_id, scenario.plan.series
                planner = None if security is None else security.planner()  # signs the plans

                def publish(new: dict[str, Schedule]) -> int:  # the first plans and every re-plan
                    return publish_plans(url, run, new, series, security=planner)

                context.publish_plans = publish
                published = publish(schedules)
                plane.closers.insert(0, lambda: clear_plans(url, run, list(schedules), security=planner))
                echo(f"plans: {published} published as retained MQTT messages")
            context.device_bridge = plane.device_bridge
            if on_control_plane is not None:
                on_control_plane(plane)
            meta["mqtt"] = {
                "broker": plane.broker.url,
                "broker_kind": plane.broker.kind,
                "run_id": plane.run_id,
            }
        store_plans(plans, out)
        built = build_world(scenario, context)
        world = built.world
        if on_built is not None:
            on_built(built)
        writer.add_rows("entities", [asdict(e) for e in built.entities])
        writer.flush()
        built.world.run(until=built.until_s, print_progress=False)
    except BaseException as exc:
        # results and status first: shutting the world down resumes its simulators' unfinished steps
        writer.close()
        _finish(writer, meta, started, f"failed: {type(exc).__name__}: {exc}")
        if world is not None:  # an unfinished world keeps its event loop open otherwise
            _shut_down(world)
        raise
    finally:
        mqtt_kpis = _mqtt_kpis(plane) if plane is not None and plane.bridge is not None else None
        if plane is not None and plane.verifier is not None:  # a secured run: what the bridge refused, why
            from cosim.security.run import rejection_rows

            writer.add_rows("security_rejections", rejection_rows(plane.verifier))
        if plane is not None and plane.device_verifier is not None:  # and the device plane's bridge
            from cosim.security.run import rejection_rows

            writer.add_rows("security_rejections", rejection_rows(plane.device_verifier))
        if plane is not None:
            plane.close()
        _restore(previous_handler)
    writer.close()
    wall = time.perf_counter() - started
    prices = scenario.sources.prices
    kpis = compute_kpis(
        out,
        scenario.step,
        scenario.grid.v_min_pu,
        scenario.grid.v_max_pu,
        prices.gas_per_kwh,
        prices.gas_co2_kg_per_kwh,
        scenario.grid.transformer_limit_kw,
    )
    kpis["run"]["wall_time_s"] = wall
    if mqtt_kpis is not None:
        kpis["mqtt"] = mqtt_kpis
        if plane is not None and plane.verifier is not None:  # a secured run: what the bridge refused
            kpis["mqtt"]["rejected"] = plane.verifier.counts
    not_clean = clean_run(kpis)
    kpis["run"] |= {"clean": not not_clean, "not_clean_because": not_clean}
    if not_clean:
        echo("the control loop was not clean: " + "; ".join(not_clean))
    writer.write_json("kpis.json", kpis)
    _finish(writer, meta, started, "completed")
    return RunSummary(out, kpis, wall, scenario.n_steps)


def external_devices(scenario: Scenario) -> tuple[str, ...]:
    """Device ids of the buildings marked external (hardware in the loop)."""
    from cosim.mqtt.emulator import device_id

    return tuple(device_id(name) for g in scenario.buildings if g.external for name in g.names())


def _mqtt_kpis(plane: ControlPlane) -> dict[str, Any]:
    """Message and byte counts, round-trip latency and drops of the run's MQTT traffic."""
    if plane.bridge is None:
        return {}
    traffic = plane.bridge.traffic().values()
    rtt = plane.bridge.rtt()
    return {
        "messages": sum(t.messages_out + t.messages_in for t in traffic),
        "bytes": sum(t.bytes_out + t.bytes_in for t in traffic),
        # every message of the run (clock, hosts' batches, agents' own topics) per controlled agent
        "messages_per_agent": (sum(t.messages_out + t.messages_in for t in traffic)
                               / max(len(plane.bridge.core.agents), 1)),
        "batched_entries": sum(t.batched_out + t.batched_in for t in traffic),
        "rtt_median_ms": None if rtt.median_s is None else rtt.median_s * 1e3,
        "rtt_p99_ms": None if rtt.p99_s is None else rtt.p99_s * 1e3,
        "dropped": sum(plane.bridge.dropped().values()),
    }


class Terminated(KeyboardInterrupt):
    """SIGTERM received: handled like Ctrl-C, so the results are flushed before the process ends."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signum}")


def _shut_down(world: Any) -> None:
    """Shut down a world whose run did not finish: cancel its simulators' pending steps first (a
    resumed step would run on half its inputs; a pending one would be reported as destroyed), then
    let mosaik stop the simulators and close its loop."""
    loop = world.loop
    if loop.is_closed():
        return
    with contextlib.suppress(Exception):
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        world.shutdown()
    # mosaik's shutdown may leave a scheduler task that it created but never ran (a simulator's wait
    # for another's progress); closed here, it is not reported at exit as "destroyed but pending"
    # next to the one line an interrupted run prints
    for task in asyncio.all_tasks(loop):
        if not task.done():
            task._log_destroy_pending = False  # type: ignore[attr-defined]  # CPython's flag for that report
            task.get_coro().close()
    _close_unstarted_mosaik_coroutines()


def _close_unstarted_mosaik_coroutines() -> None:
    """Close the coroutines mosaik made for its scheduler but never started (a simulator's
    `has_passed` / `has_reached` wait, not yet a task when the run stopped): otherwise each is
    reported at exit ("coroutine ... was never awaited") next to the one line an interrupted run
    prints. Only unstarted ones, only mosaik's."""
    for obj in gc.get_objects():
        if (inspect.iscoroutine(obj) and inspect.getcoroutinestate(obj) == inspect.CORO_CREATED
                and f"{os.sep}mosaik{os.sep}" in obj.cr_code.co_filename):
            obj.close()


def _terminate_as_interrupt() -> Any:
    """Turn SIGTERM into an exception while a run is going (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore(handler: Any) -> None:
    if handler is not None:
        signal.signal(signal.SIGTERM, handler)


def _finish(writer: ResultsWriter, meta: dict[str, Any], started: float, status: str) -> None:
    writer.write_json(
        "run.json",
        {
            **meta,
            "finished": dt.datetime.now(dt.UTC).isoformat(),
            "wall_time_s": time.perf_counter() - started,
            "status": status,
        },
    )
