"""Running a scenario end to end: results folder, world, progress, KPIs.

A run never loses what it has written: parts are flushed every step (by default), and on any
error or interrupt the writer is closed (flushed and compacted) before the error propagates.
"""

from __future__ import annotations

import datetime as dt
import platform
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cosim.kpis import compute_kpis
from cosim.recorder import RUNS, RunHooks
from cosim.results import ResultsWriter
from cosim.scenario import Scenario
from cosim.world import BuiltWorld, build_world


@dataclass(frozen=True)
class RunSummary:
    """Where the results went and the headline numbers."""

    out_dir: Path
    kpis: dict[str, Any]
    wall_time_s: float
    steps: int


def run_scenario(scenario: Scenario, out_dir: Path | None = None,
                 on_step: Callable[[int], None] | None = None, overwrite: bool = False,
                 on_built: Callable[[BuiltWorld], None] | None = None) -> RunSummary:
    """Run `scenario`, writing results, `run.json` and `kpis.json` to `out_dir` (a folder holding an
    earlier run is refused unless `overwrite`)."""
    out = Path(out_dir or scenario.outputs.dir)
    writer = ResultsWriter(out, scenario.outputs.flush_every_steps, overwrite, scenario.outputs.flush_interval_s)
    run_key = uuid.uuid4().hex
    RUNS[run_key] = RunHooks(writer, on_step)
    started = time.perf_counter()
    meta = {"scenario": scenario.model_dump(mode="json"), "started": dt.datetime.now(dt.UTC).isoformat(),
            "python": platform.python_version()}
    writer.write_json("run.json", {**meta, "status": "running"})
    previous_handler = _terminate_as_interrupt()
    try:
        built = build_world(scenario, run_key)
        if on_built is not None:
            on_built(built)
        writer.add_rows("entities", [asdict(e) for e in built.entities])
        writer.flush()
        built.world.run(until=built.until_s, print_progress=False)
    except BaseException as exc:
        writer.close()
        _finish(writer, meta, started, f"failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        RUNS.pop(run_key, None)
        _restore(previous_handler)
    writer.close()
    wall = time.perf_counter() - started
    prices = scenario.sources.prices
    kpis = compute_kpis(out, scenario.step, scenario.grid.v_min_pu, scenario.grid.v_max_pu,
                        prices.gas_per_kwh, prices.gas_co2_kg_per_kwh)
    kpis["run"]["wall_time_s"] = wall
    writer.write_json("kpis.json", kpis)
    _finish(writer, meta, started, "completed")
    return RunSummary(out, kpis, wall, scenario.n_steps)


class Terminated(KeyboardInterrupt):
    """SIGTERM received: handled like Ctrl-C, so the results are flushed before the process ends."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signum}")


def _terminate_as_interrupt() -> Any:
    """Turn SIGTERM into an exception while a run is going (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _restore(handler: Any) -> None:
    if handler is not None:
        signal.signal(signal.SIGTERM, handler)


def _finish(writer: ResultsWriter, meta: dict[str, Any], started: float, status: str) -> None:
    writer.write_json("run.json", {
        **meta,
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "wall_time_s": time.perf_counter() - started,
        "status": status,
    })
