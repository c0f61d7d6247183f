"""The `cosim` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cosim.scenario import Scenario, ScenarioError, format_errors, load_scenario

if TYPE_CHECKING:
    from cosim.run import RunSummary

app = typer.Typer(
    help="Co-simulation and distributed control of urban energy systems.\n\n"
    "Run a scenario file (buildings, storage and a low-voltage grid coupled with mosaik), "
    "check a scenario without running it, and plot the results of a run.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _load(path: Path) -> Scenario:
    """The validated scenario, its plan file included; errors end the command with exit code 2."""
    from cosim.handdown import PlanError, load_plans

    try:
        scenario = load_scenario(path)
        load_plans(scenario)
    except (ScenarioError, PlanError) as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    return scenario


@app.command()
def validate(scenario: Annotated[Path, typer.Argument(help="scenario YAML file")]) -> None:
    """Check a scenario file and print what it describes, without running it."""
    s = _load(scenario)
    console.print(
        f"[green]{scenario}: valid[/green] — {s.name}: {s.n_buildings} buildings in "
        f"{len(s.buildings)} group(s), {len(s.storage)} standalone storage unit(s), grid "
        f"{s.grid.network}, controller {s.controller.kind}, {s.n_steps} steps of {s.step} s"
    )


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="results folder (default: the scenario's outputs.dir)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the results of an earlier run in the folder")
    ] = False,
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="MQTT broker for the agents, e.g. mqtt://127.0.0.1:1883 (default: the scenario's, "
            "else a Mosquitto the platform starts, else an embedded broker)",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="MQTT run id (default: generated); external devices join with it"),
    ] = None,
    controller: Annotated[
        str | None,
        typer.Option(
            "--controller",
            help="run with another controller kind (none, rule_based, admm) than the scenario's, "
            "e.g. a baseline to compare with",
        ),
    ] = None,
) -> None:
    """Run a scenario: writes Parquet result tables, run.json and kpis.json to the results folder."""
    from cosim.results import ResultsExistError

    s = _load(scenario)
    if controller is not None:
        s = _with_controller(s, controller, scenario)
    out_dir = out or s.outputs.dir
    try:
        summary = _run(s, out_dir, quiet, overwrite, broker, run_id, str(scenario))
    except ResultsExistError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _print_kpis(summary.kpis)
    console.print(
        f"results in [bold]{summary.out_dir}[/bold] ({summary.wall_time_s:.1f} s); "
        f"plot them with: cosim plot {summary.out_dir}"
    )


def _with_controller(s: Scenario, kind: str, path: Path) -> Scenario:
    """The scenario with another controller kind, validated like the file itself."""
    data = s.model_dump(mode="json")
    data["controller"]["kind"] = kind
    if kind != "admm":
        data["plan"] = None  # only the ADMM agents track plans
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err.print(f"[red]{format_errors(path, exc)}[/red]", highlight=False)
        raise typer.Exit(2) from None


def _run(
    s: Scenario,
    out_dir: Path,
    quiet: bool,
    overwrite: bool,
    broker: str | None,
    run_id: str | None,
    path: str,
) -> RunSummary:
    from cosim.run import run_scenario

    def say(text: str) -> None:
        console.print(text, highlight=False)

    if quiet:
        summary = run_scenario(
            s, out_dir, overwrite=overwrite, broker_url=broker, echo=say, run_id=run_id, scenario_path=path
        )
    else:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(s.name, total=s.n_steps)
            summary = run_scenario(
                s,
                out_dir,
                on_step=lambda _t: progress.advance(task),
                overwrite=overwrite,
                broker_url=broker,
                echo=say,
                run_id=run_id,
                scenario_path=path,
            )
    return summary


def _print_kpis(kpis: dict[str, dict[str, float]]) -> None:
    table = Table(title="KPIs", show_header=True)
    table.add_column("group")
    table.add_column("kpi")
    table.add_column("value", justify="right")
    for group, values in kpis.items():
        if not values:
            continue
        for name, value in values.items():
            table.add_row(group, name, f"{value:,.3f}" if isinstance(value, float) else str(value))
    console.print(table)


@app.command()
def plot(results: Annotated[Path, typer.Argument(help="results folder of a run")]) -> None:
    """Draw PNG figures of a run into RESULTS/figures."""
    from cosim.plots import plot_run

    if not (results / "grid").is_dir():
        err.print(f"[red]{results}: not a results folder (no grid table); run a scenario first[/red]")
        raise typer.Exit(2)
    for path in plot_run(results):
        console.print(f"wrote {path}")


@app.command()
def compare(
    results: Annotated[list[Path], typer.Argument(help="results folders of finished runs")],
    out: Annotated[Path, typer.Option("--out", "-o", help="figure to write")] = Path("comparison.png"),
) -> None:
    """Compare finished runs: KPIs side by side and the district load of each on one figure."""
    from cosim.plots import compare_runs

    loaded = {}
    for folder in results:
        path = folder / "kpis.json"
        if not path.is_file():
            err.print(f"[red]{path}: not found; is {folder} the results folder of a finished run?[/red]")
            raise typer.Exit(2)
        loaded[folder.name] = json.loads(path.read_text())
    table = Table(title="KPIs compared")
    table.add_column("group")
    table.add_column("kpi")
    for name in loaded:
        table.add_column(name, justify="right")
    first = next(iter(loaded.values()))
    for group, values in first.items():
        if group in ("run", "mqtt"):
            continue
        for kpi in values:
            cells = [loaded[n].get(group, {}).get(kpi) for n in loaded]
            table.add_row(group, kpi, *(f"{c:,.3f}" if isinstance(c, float) else str(c) for c in cells))
    console.print(table)
    console.print(f"wrote {compare_runs(results, out)}")


@app.command("emulate-device")
def emulate_device(
    scenario: Annotated[Path, typer.Argument(help="the scenario the device belongs to")],
    device: Annotated[str, typer.Option("--device", help="name of the external building to play")],
    broker: Annotated[str, typer.Option("--broker", help="the run's broker, e.g. mqtt://127.0.0.1:1883")],
    run_id: Annotated[str, typer.Option("--run-id", help="the run's id (printed by `cosim run`)")],
) -> None:
    """Play an external (hardware-in-the-loop) building from its model, on MQTT, until the run ends."""
    from cosim.emulator import device_id, run_device

    s = _load(scenario)
    names = {name: g for g in s.buildings for name in g.names()}
    if device not in names:
        err.print(f"[red]{scenario}: no building {device!r}; buildings: {', '.join(names)}[/red]")
        raise typer.Exit(2)
    if not names[device].external:
        err.print(
            f"[yellow]warning: {device} is not marked `external: true`; the run will simulate it[/yellow]"
        )
    console.print(f"emulating {device_id(device)} on {broker}, run {run_id}")
    run_device(scenario, device, broker, run_id)


@app.command()
def kpis(results: Annotated[Path, typer.Argument(help="results folder of a run")]) -> None:
    """Print the KPIs of a finished run."""
    path = results / "kpis.json"
    if not path.is_file():
        err.print(f"[red]{path}: not found; the run did not finish[/red]")
        raise typer.Exit(2)
    _print_kpis(json.loads(path.read_text()))


def _register_plan() -> None:
    from cosim.plan_cmd import plan

    app.command("plan")(plan)


_register_plan()
