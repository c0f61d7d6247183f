"""`cosim bench` and `cosim bench-dsm` (docs/benchmarking.md).

    cosim bench SUITE [--controllers none,rule_based,mpc,admm[,module:Class][,external:PROGRAM]]
                      [--workers N] [--executor local|dask|ray] [--address URL] [--out DIR]
    cosim bench-dsm [--out DIR] [--shares 0,0.025,0.05,0.075,0.1]

Registered in `cosim.cli.app` by `register(app, guard, command_class)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cosim.cli.errors import InputError

console = Console()


def bench(
    suite: Annotated[
        str, typer.Argument(metavar="SUITE", help="tiny, quick, full, attack, or a suite or sweep YAML file")
    ],
    controllers: Annotated[
        str | None,
        typer.Option("--controllers", metavar="LIST", help="comma-separated: none, rule_based, mpc, admm, "
                     "package.module:Class, file.py:Class, external:PROGRAM (default: the four built-in "
                     "kinds, or the sweep file's); `none` is always run, as the baseline"),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", metavar="N", min=1, help="runs at a time")] = 1,
    executor: Annotated[
        str, typer.Option("--executor", metavar="ENGINE", help="local (worker processes), dask or ray")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", metavar="URL", help="a Dask scheduler or Ray cluster to use "
                                 "instead of a local cluster")
    ] = None,
    broker: Annotated[
        str | None, typer.Option("--broker", metavar="URL", help="MQTT broker for external controllers "
                                 "(default: a Mosquitto of each run's own)")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="the report's folder; runs are "
                                      "kept (and reused) in DIR/runs")] = Path("bench"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Benchmark controllers on a suite of scenarios: KPI table (CSV, Parquet, Markdown) and HTML report."""
    from cosim.bench.report import write_report
    from cosim.bench.runner import EXECUTORS, RunRecord, run_all
    from cosim.bench.spec import resolve
    from cosim.bench.table import tidy_table, with_variants

    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor}: choose one of {', '.join(EXECUTORS)}")
    resolved = resolve(suite, controllers)
    if resolved.baseline_added:
        console.print("[dim]the baseline `none` is added to the controllers (KPIs are normalised by it)"
                      "[/dim]")
    n = len(resolved.runs)
    console.print(f"{resolved.name}: {len(resolved.scenarios)} scenario(s) × {len(resolved.controllers)} "
                  f"controller(s) = {n} runs, {workers} at a time ({executor})", highlight=False)

    def said(record: RunRecord, index: list[int] = [0]) -> None:  # noqa: B006 - a counter
        index[0] += 1
        how = "[red]FAILED[/red] " + escape(record.error or "") if record.status != "ok" else (
            "cached" if record.cached else f"{record.wall_time_s:.1f} s")
        if not quiet:
            console.print(f"[{index[0]}/{n}] {escape(record.scenario)} × {escape(record.controller)}: {how}",
                          highlight=False, soft_wrap=True)

    records = run_all(resolved.runs, out / "runs", workers, executor, address, broker,
                      on_done=said)
    variants = {c.label: c.variant for c in resolved.scenarios}
    not_applied = {(r.scenario, r.controller): r.not_applied for r in resolved.runs}
    table = with_variants(tidy_table(resolved.name, records, not_applied), variants)
    failed = [r for r in records if r.status != "ok"]
    notes = [f"{len(records)} runs; {sum(r.cached for r in records)} reused from earlier runs."]
    if failed:
        which = "; ".join(f"{r.scenario} × {r.controller}" for r in failed)
        notes.append(f"{len(failed)} run(s) failed: {which}")
    paths = write_report(table, out, f"Benchmark: {resolved.name}", notes)
    _print_summary(table)
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    if failed:
        console.print(f"[yellow]{len(failed)} run(s) failed; their rows say why[/yellow]")


def _print_summary(table: Any) -> None:
    from rich.table import Table

    from cosim.bench.report import fmt

    scores = table[table["kpi"] == "score"]
    t = Table(title="composite score (lower is better; baseline 1)")
    t.add_column("scenario")
    controllers = list(dict.fromkeys(scores["controller"]))
    for c in controllers:
        t.add_column(c, justify="right")
    for scenario, rows in scores.groupby("scenario", sort=False):
        by = rows.set_index("controller")
        t.add_row(str(scenario), *(fmt(float(by.loc[c, "value"])) if by.loc[c, "status"] == "ok" else "failed"
                                   for c in controllers))
    console.print(t)


def bench_dsm(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="folder of the table and figure")
    ] = Path("bench-dsm"),
    shares: Annotated[
        str, typer.Option("--shares", metavar="LIST", help="controllable shares of the residential load")
    ] = "0,0.025,0.05,0.075,0.1",
    cut: Annotated[
        str | None, typer.Option("--cut", metavar="START-END", help="the cut in local hours, e.g. 17-20 (the "
                                 "study's); default: the scenario's DSM window, 18-21")
    ] = None,
) -> None:
    """The demand-side-management study: peak, ramping, evening smoothness and losses against the share
    of controllable load, strategy 1 (cut and restore) and 2 (also anticipate); table and figure."""
    from cosim.bench.dsm import run_study

    try:
        values = [float(s) for s in shares.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--shares {shares}: give shares between 0 and 0.5 separated by commas") from None
    if not values or any(not 0 <= v <= 0.5 for v in values):
        raise InputError(f"--shares {shares}: give shares between 0 and 0.5 separated by commas")
    window = None
    if cut is not None:
        start, sep, end = cut.partition("-")
        try:
            window = (float(start), float(end))
        except ValueError:
            window = None
        if not sep or window is None or not 3 <= window[0] < window[1] <= 24:
            raise InputError(f"--cut {cut}: give the cut's start and end hours, e.g. --cut 17-20")
    result = run_study(out, values, window, echo=lambda t: console.print(t, highlight=False))
    console.print(result.markdown, highlight=False)
    for path in result.paths:
        console.print(f"wrote {path}", highlight=False)


def register(app: typer.Typer, guard: Callable[[Any], Any], command_class: type) -> None:
    app.command("bench", cls=command_class)(guard(bench))
    app.command("bench-dsm", cls=command_class)(guard(bench_dsm))
