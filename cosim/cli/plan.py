"""`cosim plan`: size and dispatch a district energy hub under electricity price policies.

Registered in :mod:`cosim.cli.app` with ``app.command("plan")(plan)``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cosim.cli.errors import ExitCode, no_solution
from planner.hub.errors import PlannerError, PlannerInputError
from planner.hub.results import REQUIRED_CAPACITY_COLUMNS, PlanResult
from planner.hub.technologies import Catalogue

T = TypeVar("T")
LABEL_WIDTH = 28       # the widest row label ("grid import MWh (physical)") and a margin
VALUE_WIDTH = 12       # the widest value ("2,285,279.0") and the column padding
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


def _tables(results: list[PlanResult], width: int) -> list[Table]:
    """The result table, split into as many tables as the console needs so that no number is cut."""
    per_table = max(1, (width - LABEL_WIDTH) // VALUE_WIDTH)
    return [_table(results[i:i + per_table]) for i in range(0, len(results), per_table)]


def _table(results: list[PlanResult]) -> Table:
    """One column per policy, one row per capacity, cost term and emission."""
    capacity_columns = [*REQUIRED_CAPACITY_COLUMNS,
                        *[c for c in results[0].capacities if c not in REQUIRED_CAPACITY_COLUMNS]]
    table = Table(title=f"{results[0].case_name}: optimal design per policy (costs per year)")
    table.add_column("quantity", no_wrap=True)
    for r in results:
        table.add_column(r.policy, justify="right", no_wrap=True)
    for column in capacity_columns:
        table.add_row(column, *[f"{r.capacities.get(column, 0.0):,.0f}" for r in results])
    money = {"capex kCHF": "capex_chf", "O&M kCHF": "om_chf", "fuel kCHF": "fuel_chf",
             "import kCHF": "import_chf", "export income kCHF": "export_income_chf",
             "total cost kCHF": "total_chf"}
    for label, attribute in money.items():
        table.add_row(label, *[f"{getattr(r.costs, attribute) / 1e3:,.1f}" for r in results],
                      end_section=label.startswith("total"))
    table.add_row("grid import MWh (bought)", *[f"{r.grid_import_mwh:,.0f}" for r in results])
    table.add_row("grid import MWh (physical)", *[f"{r.grid_import_physical_mwh:,.0f}" for r in results])
    table.add_row("CO2 t (study: bought)", *[f"{r.co2_t:,.1f}" for r in results])
    table.add_row("CO2 t (physical)", *[f"{r.co2_physical_t:,.1f}" for r in results])
    table.add_row("build + solve s", *[f"{r.timing.total_s:.1f}" for r in results])
    return table


def _write_plans(results: list[PlanResult], catalogue: Catalogue, day: datetime, out_dir: Path) -> list[Path]:
    from planner.hub.export import export_plans

    written = []
    for r in results:
        plans = export_plans(r, catalogue, start=day, horizon_h=24.0)
        path = out_dir / f"plans_{r.policy.replace('+', '_')}_{day:%Y%m%dT%H%M}.json"
        path.write_text(plans.to_json())
        written.append(path)
    return written


def _interruptible(work: Callable[[], T], console: Console) -> T:
    """Run ``work`` in a worker thread so that Ctrl-C is answered at once (HiGHS releases the GIL, but
    a signal reaches Python only between its calls): on Ctrl-C the process ends with exit code 130,
    writing nothing more."""
    box: dict[str, T] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="cosim-plan", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        console.print("\ninterrupted: planning stopped, no outputs written", highlight=False)
        console.file.flush()
        os._exit(EXIT_INTERRUPTED)  # the solver thread cannot be stopped from Python
    if failure:
        raise failure[0]
    return box["value"]


def plan(
    case: Annotated[str, typer.Argument(
        metavar="SCENARIO_OR_CASE",
        help="a YAML case file, a reference-format case folder "
             "(e.g. ../shared/reference/ehub-price-policy), or the word 'reference' "
             "(found via $COSIM_EHUB_REFERENCE or ../shared/reference)")],
    policy: Annotated[list[str] | None, typer.Option(
        "--policy", "-p",
        help="policy to plan for, repeatable: none, fit, fip, nm, rtp, tou, nm+tou, a case's own, "
             "or all (default)")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="output folder (default: out/plan-<case>)")] = None,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="write PNG figures")] = True,
    plans_day: Annotated[datetime | None, typer.Option(
        "--plans-day", help="also write day-ahead per-asset plans (JSON) starting at this time")] = None,
    time_limit_s: Annotated[float | None, typer.Option(
        "--time-limit", help="solver time limit per policy, s")] = None,
) -> None:
    """Size and dispatch the energy hub under price policies; print capacities, cost and CO2 per policy.

    Writes summary.csv (one row per policy), dispatch.parquet (hourly operation of every policy)
    and figures to the output folder.
    """
    from planner.hub.policies import select_policies
    from planner.hub.run import load_case, plan_policies, write_outputs
    from planner.hub.solve import SolverOptions

    console = Console()
    err = Console(stderr=True)
    try:
        hub_case = load_case(case)
        names = select_policies(hub_case.policies, policy or ["all"])
        console.print(f"planning [bold]{hub_case.name}[/bold]: {hub_case.n_steps} steps of "
                      f"{hub_case.step_h:g} h, policies {', '.join(names)}", highlight=False)
        done: list[str] = []

        def report(r: PlanResult) -> None:
            done.append(r.policy)
            console.print(
                f"  [{len(done)}/{len(names)}] {r.policy}: total {r.costs.total_chf / 1e3:,.1f} kCHF/a, "
                f"{r.co2_t:,.1f} t CO2/a ({r.co2_physical_t:,.1f} t physical), "
                f"build {r.timing.build_s:.1f} s, solve {r.timing.solve_s:.1f} s", highlight=False)

        options = SolverOptions(time_limit_s=time_limit_s)
        results = _interruptible(lambda: plan_policies(hub_case, names, options, on_result=report), console)
        out_dir = out or Path("out") / f"plan-{hub_case.name}"
        outputs = write_outputs(results, out_dir, figures=figures)
        plan_files = _write_plans(results, hub_case.catalogue, plans_day, out_dir) if plans_day else []
    except PlannerInputError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(ExitCode.INPUT) from None
    except PlannerError as exc:
        unsolved = no_solution(exc, case)
        err.print(f"[red]{escape(str(unsolved or exc))}[/red]", highlight=False)
        raise typer.Exit(ExitCode.INTERNAL if unsolved is None else unsolved.exit_code) from None
    for table in _tables(results, console.width):
        console.print(table)
    console.print(f"wrote {outputs.summary_csv}, {outputs.dispatch_parquet}"
                  + (f", {len(outputs.figures)} figures" if outputs.figures else "")
                  + (f", {len(plan_files)} plan files" if plan_files else ""))
