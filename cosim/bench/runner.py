"""Running a benchmark's runs: in process, on local worker processes, or through Dask (or Ray).

Each run writes to its own folder `OUT/runs/<scenario>__<controller>__<key>` with a `bench.json`
record (key, status, error). A rerun reuses a folder whose record says `ok` for the same key (the
key covers the scenario as run, the controller's parameters and source, and the code version);
failed runs are run again. A run that fails is recorded with its error and never stops the others.

The function a worker runs, `execute`, takes and returns plain data, so any engine can ship it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

from cosim.bench.spec import RunSpec, slug
from cosim.cli.errors import InputError

Executor = Literal["local", "dask", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "dask", "ray")
RECORD = "bench.json"
EXTERNAL_WAIT_S = 30.0


@dataclass(frozen=True)
class RunRecord:
    """What became of one run."""

    scenario: str
    controller: str
    key: str
    status: str  # "ok" or "failed"
    error: str | None
    folder: str
    cached: bool
    wall_time_s: float


def run_folder(runs_dir: Path, spec: RunSpec) -> Path:
    return runs_dir / f"{slug(spec.scenario)}__{slug(spec.controller)}__{spec.key[:12]}"


def cached_record(runs_dir: Path, spec: RunSpec) -> RunRecord | None:
    """The record of a finished run of the same key, if its folder still holds its KPIs."""
    folder = run_folder(runs_dir, spec)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("key") != spec.key or record.get("status") != "ok" or not (folder / "kpis.json").is_file():
        return None
    return RunRecord(**{**record, "cached": True, "folder": str(folder)})


def execute(spec: RunSpec, runs_dir: str, broker: str | None = None) -> RunRecord:
    """Run `spec` into its folder under `runs_dir` (or reuse a finished run); never raises for a
    failed run: the record says what went wrong."""
    runs = Path(runs_dir)
    found = cached_record(runs, spec)
    if found is not None:
        return found
    folder = run_folder(runs, spec)
    if folder.exists():
        shutil.rmtree(folder)  # a failed or stale run of this key
    started = time.perf_counter()
    error: str | None = None
    try:
        _run(spec, folder, broker)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}".strip()[:500]
    record = RunRecord(spec.scenario, spec.controller, spec.key, "failed" if error else "ok", error,
                       str(folder), False, time.perf_counter() - started)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).write_text(json.dumps({k: v for k, v in asdict(record).items() if k != "cached"},
                                            indent=1), encoding="utf-8")
    return record


def _run(spec: RunSpec, folder: Path, broker: str | None) -> None:
    from cosim.run import run_scenario
    from cosim.scenario.model import Scenario

    scenario = Scenario.model_validate(spec.data)
    if spec.program is None:
        run_scenario(scenario, folder, overwrite=True, echo=lambda _t: None, broker_url=broker)
        return
    _run_external(scenario, spec, folder, broker)


def _run_external(scenario: Any, spec: RunSpec, folder: Path, broker: str | None) -> None:
    """An external controller program against the run: a broker (the given one, else a Mosquitto of
    the run's own), the program started with `--broker --run --agents`, the run, then the program's end."""
    import threading

    from cosim.mqtt.brokers import start_mosquitto
    from cosim.run import run_scenario

    assert spec.program is not None
    own = start_mosquitto() if broker is None else None
    url = broker if broker is not None else own.url  # type: ignore[union-attr]
    run_id = f"bench-{spec.key[:10]}-{os.getpid()}"
    agents = [n for g in scenario.buildings for n in g.names()] + [u.name for u in scenario.storage]
    program = [sys.executable, spec.program] if spec.program.endswith(".py") else [spec.program]
    folder.mkdir(parents=True, exist_ok=True)
    log = (folder / "external.log").open("w", encoding="utf-8")
    process = subprocess.Popen([*program, "--broker", url, "--run", run_id, "--agents", ",".join(agents)],
                               stdout=log, stderr=subprocess.STDOUT)
    done = threading.Event()
    try:
        run_scenario(scenario, folder, overwrite=True, echo=lambda _t: None, broker_url=url, run_id=run_id)
        done.set()
        try:
            code = process.wait(timeout=EXTERNAL_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        if code not in (0, None):
            raise RuntimeError(f"the external controller {spec.program} exited with code {code} "
                               f"(its output: {folder / 'external.log'})")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        if own is not None:
            own.close()


def run_all(
    specs: list[RunSpec],
    runs_dir: Path,
    workers: int = 1,
    executor: Executor = "local",
    address: str | None = None,
    broker: str | None = None,
    on_done: Callable[[RunRecord], None] = lambda _r: None,
) -> list[RunRecord]:
    """Every run of `specs` (finished ones reused), in the order of `specs`."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    # by scenario, controller and key: two scenarios of a suite can give one controller the same run
    # (an attack left out of both), each in its own folder
    records: dict[tuple[str, str, str], RunRecord] = {}
    todo = []
    for spec in specs:
        found = cached_record(runs_dir, spec)
        if found is not None:
            records[(spec.scenario, spec.controller, spec.key)] = found
            on_done(found)
        else:
            todo.append(spec)
    for record in _engine(executor)(todo, str(runs_dir), workers, address, broker):
        records[(record.scenario, record.controller, record.key)] = record
        on_done(record)
    return [records[(s.scenario, s.controller, s.key)] for s in specs]


Engine = Callable[[list[RunSpec], str, int, "str | None", "str | None"], Iterator[RunRecord]]


def _engine(executor: Executor) -> Engine:
    engines: dict[str, Engine] = {"local": _local, "dask": _dask, "ray": _ray}
    return engines[executor]


def _local(specs: list[RunSpec], runs_dir: str, workers: int, address: str | None,
           broker: str | None) -> Iterator[RunRecord]:
    if address is not None:
        raise InputError("--address: the local executor has no cluster; use it with --executor dask or ray")
    if workers <= 1 or len(specs) <= 1:
        for spec in specs:
            yield execute(spec, runs_dir, broker)
        return
    # fresh interpreters (spawn): a forked copy of a process that has run mosaik worlds is not safe
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(execute, spec, runs_dir, broker): spec for spec in specs}
        for future in as_completed(futures):
            yield _result(future, futures[future], runs_dir)


def _result(future: Any, spec: RunSpec, runs_dir: str) -> RunRecord:
    """A worker's record, or a failed one when the worker itself died (the sweep goes on)."""
    try:
        record: RunRecord = future.result()
    except Exception as exc:  # a crashed worker process, a lost connection to the cluster
        return RunRecord(spec.scenario, spec.controller, spec.key, "failed",
                         f"the worker failed: {type(exc).__name__}: {exc}"[:500],
                         str(run_folder(Path(runs_dir), spec)), False, 0.0)
    return record


def _dask(specs: list[RunSpec], runs_dir: str, workers: int, address: str | None,
          broker: str | None) -> Iterator[RunRecord]:
    try:
        import distributed
    except ImportError:
        raise InputError("--executor dask: Dask is not installed; pip install 'dask[distributed]'") from None
    if not specs:
        return
    dask: Any = distributed  # untyped
    cluster = None
    if address is None:  # a local cluster of worker processes, one run at a time each
        cluster = dask.LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                                    dashboard_address=":0", silence_logs=40)
        client = dask.Client(cluster)
    else:
        client = dask.Client(address)
    try:
        futures = client.map(execute, specs, runs_dir=runs_dir, broker=broker, pure=False)
        by_key = {future.key: spec for future, spec in zip(futures, specs, strict=True)}
        for future in dask.as_completed(futures):
            yield _result(future, by_key[future.key], runs_dir)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ray(specs: list[RunSpec], runs_dir: str, workers: int, address: str | None,
         broker: str | None) -> Iterator[RunRecord]:  # pragma: no cover - Ray is not installed in CI
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray: Ray is not installed; pip install ray (or use --executor dask)") \
            from None
    if not specs:
        return
    ray.init(address=address, num_cpus=None if address else max(workers, 1), ignore_reinit_error=True)
    try:
        remote = ray.remote(num_cpus=1)(execute)
        pending = [remote.remote(spec, runs_dir, broker) for spec in specs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        ray.shutdown()
