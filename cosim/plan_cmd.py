"""`cosim plan`: size and dispatch a district energy hub under electricity price policies.

Registered in :mod:`cosim.cli` with ``app.command("plan")(plan)``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from planner.hub.errors import PlannerError, PlannerInputError
from planner.hub.results import REQUIRED_CAPACITY_COLUMNS, PlanResult
from planner.hub.technologies import Catalogue

console = Console()
err = Console(stderr=True)


def _table(results: list[PlanResult]) -> Table:
    """One column per policy, one row per capacity, cost term and emission."""
    capacity_columns = [*REQUIRED_CAPACITY_COLUMNS,
                        *[c for c in results[0].capacities if c not in REQUIRED_CAPACITY_COLUMNS]]
    table = Table(title=f"{results[0].case_name}: optimal design per policy (costs per year)")
    table.add_column("quantity")
    for r in results:
        table.add_column(r.policy, justify="right")
    for column in capacity_columns:
        table.add_row(column, *[f"{r.capacities.get(column, 0.0):,.0f}" for r in results])
    money = {"capex kCHF": "capex_chf", "O&M kCHF": "om_chf", "fuel kCHF": "fuel_chf",
             "import kCHF": "import_chf", "export income kCHF": "export_income_chf",
             "total cost kCHF": "total_chf"}
    for label, attribute in money.items():
        table.add_row(label, *[f"{getattr(r.costs, attribute) / 1e3:,.1f}" for r in results],
                      end_section=label.startswith("total"))
    table.add_row("CO2 t", *[f"{r.co2_t:,.1f}" for r in results])
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
    from planner.hub.run import load_case, plan_policies, write_outputs
    from planner.hub.solve import SolverOptions

    try:
        hub_case = load_case(case)
        names = policy or ["all"]
        console.print(f"planning [bold]{hub_case.name}[/bold]: {hub_case.n_steps} steps of "
                      f"{hub_case.step_h:g} h, policies {', '.join(names)}")
        results = plan_policies(
            hub_case, names, SolverOptions(time_limit_s=time_limit_s),
            on_result=lambda r: console.print(
                f"  {r.policy}: total {r.costs.total_chf / 1e3:,.1f} kCHF/a, {r.co2_t:,.1f} t CO2/a "
                f"(build {r.timing.build_s:.1f} s, solve {r.timing.solve_s:.1f} s)"))
        out_dir = out or Path("out") / f"plan-{hub_case.name}"
        outputs = write_outputs(results, out_dir, figures=figures)
        plan_files = _write_plans(results, hub_case.catalogue, plans_day, out_dir) if plans_day else []
    except PlannerInputError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    except PlannerError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(_table(results))
    console.print(f"wrote {outputs.summary_csv}, {outputs.dispatch_parquet}"
                  + (f", {len(outputs.figures)} figures" if outputs.figures else "")
                  + (f", {len(plan_files)} plan files" if plan_files else ""))
