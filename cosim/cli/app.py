"""The `cosim` command line.

Every command runs inside `_guard`: a user's mistake (`cosim.cli.errors`) ends it with one message and
a documented exit code (docs/cli.md), never a traceback; `cosim --debug ...` shows the traceback.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperCommand, TyperGroup, TyperOption

from cosim.cli.errors import EXIT_CODES_HELP, ExitCode, InputError, clean_message, user_error
from cosim.scenario.model import Scenario, load_scenario
from cosim.scenario.overrides import apply_overrides, with_controller

if TYPE_CHECKING:
    from cosim.run import RunSummary


def _plain_flags(params: list[Any]) -> None:
    """No `<bool>` after a flag in the help."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""


class _Command(TyperCommand):
    """A command whose help shows `SCENARIO`, not `{SCENARIO}`, and no `<bool>` after flags."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [re.sub(r"^\{(.*)\}((?:\.\.\.)?)$", r"\1\2", p) for p in pieces]

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _plain_flags(params)
        return params


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _plain_flags(params)
        return params


app = typer.Typer(
    cls=_Group,
    help="Co-simulation and distributed control of urban energy systems.\n\n"
    "Run a scenario file (buildings, storage and a low-voltage grid coupled with mosaik), "
    "check a scenario without running it, and plot the results of a run.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., None])


def _version() -> str:
    try:
        return version("urban-cosim")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        console.print(f"cosim {_version()}", highlight=False)
        raise typer.Exit(0)


class _Options:
    """The command line's global options, set by `main` (one command per process)."""

    debug = False


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an error")] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Co-simulation and distributed control of urban energy systems."""
    _Options.debug = debug


def _debug() -> bool:
    return _Options.debug


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print `message` on stderr; the exception to raise for exit code `code`."""
    err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


def _guard(command: F) -> F:
    """Run `command`; errors become one message and their exit code (a traceback with --debug)."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            if _debug():
                raise
            raise fail("interrupted", ExitCode.INTERRUPTED) from None
        except Exception as exc:
            if _debug():
                raise
            problem = user_error(exc)
            if problem is not None:
                raise fail(str(problem), problem.exit_code) from None
            raise fail(
                f"internal error: {type(exc).__name__}: {clean_message(str(exc))}\nThis is a bug in the "
                "platform: rerun with `cosim --debug ...` to see where, and report it.",
                ExitCode.INTERNAL,
            ) from None

    return guarded  # type: ignore[return-value]


def _command(name: str | None = None) -> Callable[[F], F]:
    def register(function: F) -> F:
        app.command(name, cls=_Command)(_guard(function))
        return function

    return register


ScenarioArg = Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="change one scenario value for this run, e.g. --set duration=2d, "
        "--set grid.transformer_limit_kw=40, "
        "--set buildings.0.count=3 (repeatable; VALUE is read as YAML)",
    ),
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", metavar="N", help="the scenario's seed for this run")
]
DurationOption = Annotated[
    str | None, typer.Option("--duration", metavar="DURATION", help="run for this long, e.g. 6h, 2d (the "
                             "scenario's duration otherwise)")
]
BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker",
        metavar="URL",
        help="MQTT broker for the agents, e.g. mqtt://127.0.0.1:1883 (default: the scenario's, "
        "else a Mosquitto the platform starts, else an embedded broker)",
    ),
]
ControllerOption = Annotated[
    str | None,
    typer.Option(
        "--controller",
        metavar="KIND",
        help="run with another controller kind (none, rule_based, admm) than the scenario's, "
        "e.g. a baseline to compare with",
    ),
]


def load_checked(
    path: Path,
    sets: list[str] | None = None,
    seed: int | None = None,
    duration: str | None = None,
    controller: str | None = None,
    broker: str | None = None,
) -> Scenario:
    """The scenario with the command line's changes, checked like `cosim run` checks it before its
    first step (schema, plan file, `cosim.scenario.checks`); any problem raises a `CosimError`."""
    from cosim.plans.handdown import load_plans
    from cosim.scenario.checks import check_scenario

    _not_empty(path)
    scenario = load_scenario(path)
    if sets:
        scenario = apply_overrides(scenario, sets, path)
    if seed is not None:
        scenario = apply_overrides(scenario, [f"seed={seed}"], path, f"--seed {seed}")
    if duration is not None:
        scenario = apply_overrides(scenario, [f"duration={duration}"], path, f"--duration {duration}")
    if controller is not None:
        scenario = with_controller(scenario, controller, path)
    load_plans(scenario)
    check_scenario(scenario, path, broker)
    return scenario


def _not_empty(path: Path) -> None:
    """An empty scenario file gets a message that says so (not "got NoneType")."""
    if path.is_file() and not path.read_text(encoding="utf-8", errors="replace").strip(" \t\r\n-."):
        raise InputError(
            f"{path}: the file is empty; a scenario needs at least `name` and `buildings` "
            "(see scenarios/demo.yaml)"
        )


def results_dir(scenario: Scenario) -> Path:
    """The scenario's `outputs.dir`, or `results/<name>` when the file does not set it."""
    if "dir" in scenario.outputs.model_fields_set:
        return scenario.outputs.dir
    return Path("results") / scenario.name


@_command()
def validate(
    scenario: ScenarioArg,
    set_: SetOption = None,
    seed: SeedOption = None,
    duration: DurationOption = None,
    controller: ControllerOption = None,
    broker: BrokerOption = None,
) -> None:
    """Check a scenario file as `cosim run` does before its first step, and print what it describes."""
    s = load_checked(scenario, set_, seed, duration, controller, broker)
    console.print(
        f"[green]{scenario}: valid[/green] — {s.name}: {s.n_buildings} buildings in "
        f"{len(s.buildings)} group(s), {len(s.storage)} standalone storage unit(s), grid "
        f"{s.grid.network}, controller {s.controller.kind}, {s.n_steps} steps of {s.step} s; "
        f"results to {results_dir(s)}",
        highlight=False,
        soft_wrap=True,
    )


@_command()
def run(
    scenario: ScenarioArg,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FOLDER", help="results folder (default: the scenario's "
                     "outputs.dir, else results/<name>)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace the results of an earlier run in the folder")
    ] = False,
    broker: BrokerOption = None,
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", metavar="ID", help="MQTT run id (default: generated); external devices "
                     "join with it"),
    ] = None,
    controller: ControllerOption = None,
    set_: SetOption = None,
    seed: SeedOption = None,
    duration: DurationOption = None,
    security: Annotated[
        Path | None,
        typer.Option("--security", metavar="DIR", help="secure the control plane with the folder of "
                     "`cosim security init`: TLS, a login and keys per agent, the ACL (docs/security.md)"),
    ] = None,
) -> None:
    """Run a scenario: writes Parquet result tables, run.json and kpis.json to the results folder."""
    from cosim.results.writer import check_results_folder

    s = load_checked(scenario, set_, seed, duration, controller, broker)
    out_dir = out or results_dir(s)
    check_results_folder(out_dir, overwrite)  # before anything starts, the progress bar included
    url = broker or s.controller.broker
    if url is not None and (s.controller.transport == "mqtt" or any(g.external for g in s.buildings)):
        from cosim.mqtt.emulator import preflight_broker

        preflight_broker(url, "--broker" if broker is not None else "controller.broker")
    secured = None if security is None else _security(s, security, url)
    summary = _run(s, out_dir, quiet, overwrite, broker, run_id, str(scenario), secured)
    _print_kpis(summary.kpis)
    console.print(f"results in [bold]{summary.out_dir}[/bold] ({summary.wall_time_s:.1f} s)", highlight=False)
    console.print(f"plot them with: cosim plot {summary.out_dir}", highlight=False, soft_wrap=True)


def _run(
    s: Scenario,
    out_dir: Path,
    quiet: bool,
    overwrite: bool,
    broker: str | None,
    run_id: str | None,
    path: str,
    security: Any = None,
) -> RunSummary:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from cosim.run import run_scenario

    done = [0]

    def say(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    def run_with(on_step: Callable[[int], None]) -> RunSummary:
        def stepped(time_s: int) -> None:
            done[0] += 1
            on_step(time_s)

        return run_scenario(
            s, out_dir, on_step=stepped, overwrite=overwrite, broker_url=broker, echo=say, run_id=run_id,
            scenario_path=path, security=security,
        )

    try:
        if quiet:
            return run_with(lambda _t: None)
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
            return run_with(lambda _t: progress.advance(task))
    except KeyboardInterrupt:
        if _debug():
            raise
        from cosim.results.writer import steps_written

        written = steps_written(out_dir)  # the run flushed every finished step on its way out
        raise fail(
            f"interrupted at step {written or done[0]} of {s.n_steps}; the finished steps are in {out_dir} "
            f"(`cosim kpis {out_dir}` computes their KPIs, marked partial)",
            ExitCode.INTERRUPTED,
        ) from None


def _cell(value: Any) -> str:
    """A KPI value for a table: thousands separators, missing values as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "–"
    return str(value)


def _label(group: str, name: str, kpis: dict[str, Any]) -> str:
    currency = kpis.get("run", {}).get("currency")
    if group == "cost" and currency:
        return f"{name} ({currency})"
    return name


def _print_kpis(kpis: dict[str, Any]) -> None:
    run = kpis.get("run", {})
    title = "KPIs"
    if run.get("partial"):
        title = f"KPIs (partial: {run.get('steps')} of {run.get('planned_steps')} steps; the run was stopped)"
    table = Table(title=title, show_header=True)
    table.add_column("group")
    table.add_column("kpi")
    table.add_column("value", justify="right")
    for group, values in kpis.items():
        if not values:
            continue
        for name, value in values.items():
            table.add_row(group, _label(group, name, kpis), _cell(value))
    console.print(table)


def _results_folder(results: Path) -> None:
    """A folder that holds a run, or an InputError that says what is there instead."""
    if not results.exists():
        raise InputError(
            f"{results}: no such folder, so there is no run there; give the results folder of a run "
            "(cosim run --out FOLDER)"
        )
    if not (results / "run.json").is_file():
        raise InputError(
            f"{results}: there is no run here (no run.json); give the results folder of a run "
            "(`cosim run SCENARIO` prints it)"
        )


@_command()
def plot(results: Annotated[Path, typer.Argument(metavar="RESULTS", help="results folder of a run")]) -> None:
    """Draw PNG figures of a run into RESULTS/figures."""
    from cosim.results.plots import plot_run

    _results_folder(results)
    if not (results / "grid").is_dir():
        raise InputError(f"{results}: the run wrote no step (no grid table); nothing to plot")
    for path in plot_run(results):
        console.print(f"wrote {path}", highlight=False)


@_command()
def compare(
    results: Annotated[
        list[Path], typer.Argument(metavar="RESULTS", help="results folders of finished runs")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="figure to write")] = Path(
        "comparison.png"
    ),
) -> None:
    """Compare finished runs: KPIs side by side and the district load of each on one figure."""
    from cosim.results.plots import compare_runs, period_warning

    loaded = {}
    for folder in results:
        _results_folder(folder)
        path = folder / "kpis.json"
        if not path.is_file():
            raise InputError(f"{folder}: the run did not finish (no kpis.json); `cosim kpis {folder}` shows "
                             "the KPIs of its finished steps")
        loaded[str(folder)] = json.loads(path.read_text())
    warning = period_warning(results)
    if warning is not None:
        err.print(f"[yellow]warning: {warning}[/yellow]", highlight=False, soft_wrap=True)
    table = Table(title="KPIs compared")
    table.add_column("group")
    table.add_column("kpi")
    for name in loaded:
        table.add_column(Path(name).name, justify="right")
    first = next(iter(loaded.values()))
    for group, values in first.items():
        if group in ("run", "mqtt"):
            continue
        for kpi in values:
            cells = [loaded[n].get(group, {}).get(kpi) for n in loaded]
            table.add_row(group, _label(group, kpi, first), *(_cell(c) for c in cells))
    console.print(table)
    console.print(f"wrote {compare_runs(results, out)}", highlight=False)


@_command("emulate-device")
def emulate_device(
    scenario: ScenarioArg,
    device: Annotated[
        str, typer.Option("--device", metavar="NAME", help="name of the external building to play")
    ],
    broker: Annotated[str, typer.Option("--broker", metavar="URL", help="the run's broker, e.g. mqtt://127.0.0.1:1883")],
    run_id: Annotated[
        str, typer.Option("--run-id", metavar="ID", help="the run's id (printed by `cosim run`)")
    ],
    wait_s: Annotated[
        float,
        typer.Option("--wait-s", metavar="SECONDS", help="give up if the run has not started within this"),
    ] = 120.0,
    security: Annotated[
        Path | None,
        typer.Option("--security", metavar="DIR", help="a secured run's security folder: log in and sign as "
                     "the device (docs/security.md)"),
    ] = None,
) -> None:
    """Play an external (hardware-in-the-loop) building from its model, on MQTT, until the run ends."""
    from cosim.mqtt.emulator import device_id, preflight_broker, run_device
    from cosim.scenario.checks import broker_problems, format_problems

    s = load_scenario(scenario)
    problems = broker_problems(broker, "--broker")
    if problems:
        message = format_problems(scenario, problems)
        raise InputError(message.replace("cannot run this scenario", "cannot emulate a device"))
    names = {name: g for g in s.buildings for name in g.names()}
    if device not in names:
        raise InputError(
            f"--device {device}: {scenario} has no building {device!r}; buildings: {', '.join(names)}"
        )
    if not names[device].external:
        err.print(
            f"[yellow]warning: {device} is not marked `external: true` in {scenario}; the run will simulate "
            "it and not wait for this device[/yellow]",
            highlight=False,
        )
    preflight_broker(broker)
    console.print(
        f"emulating {device_id(device)} on {broker}, run {run_id}; waiting up to {wait_s:.0f} s for the run "
        "to start (`cosim run` prints its run id)",
        highlight=False,
        soft_wrap=True,
    )
    identity = None
    if security is not None:
        from cosim.security.store import SecurityDir, SecurityError

        try:
            identity = SecurityDir(security).client(device_id(device))
        except SecurityError as exc:
            raise InputError(f"--security {security}: {exc}") from None
    run_device(scenario, device, broker, run_id, wait_s, identity)


@_command()
def kpis(results: Annotated[Path, typer.Argument(metavar="RESULTS", help="results folder of a run")]) -> None:
    """Print the KPIs of a run (of its finished steps, marked partial, if it was stopped)."""
    from cosim.results.kpis import partial_kpis

    _results_folder(results)
    path = results / "kpis.json"
    if path.is_file():
        _print_kpis(json.loads(path.read_text()))
        return
    values = partial_kpis(results)
    if values is None:
        raise InputError(f"{results}: the run wrote no step, so there are no KPIs; run it again "
                         "(`cosim run SCENARIO --out FOLDER`)")
    _print_kpis(values)


def _security(s: Scenario, folder: Path, broker: str | None) -> Any:
    """The checked security folder of `cosim run --security` (`cosim.security.run.RunSecurity`)."""
    from cosim.control.agents import agent_specs
    from cosim.run import external_devices
    from cosim.security.run import load_run_security
    from cosim.security.store import SecurityError

    if s.controller.transport != "mqtt" and not external_devices(s):
        raise InputError(f"--security {folder}: secures the MQTT control plane, and this run's controller "
                         "has transport inprocess (and no external devices); drop --security or set "
                         "controller.transport: mqtt")
    try:
        return load_run_security(folder, [a.agent_id for a in agent_specs(s)], plans=s.plan is not None,
                                 devices=bool(external_devices(s)), broker=broker)
    except SecurityError as exc:
        raise InputError(str(exc)) from None


def _register_plan() -> None:
    from cosim.cli.plan import plan

    app.command("plan", cls=_Command)(_guard(plan))  # its own errors end with its own codes (docs/planner.md)


_register_plan()


def _register_security() -> None:
    from cosim.cli.security import register

    register(app, _guard, _Command)  # cosim security init / revoke


_register_security()


def _register_heat() -> None:
    from cosim.cli.heat import register

    register(app, _guard, _Command)  # cosim eco-district


_register_heat()


def _register_forecast() -> None:
    from cosim.cli.forecast import register

    register(app, _guard, _Command)  # cosim forecast evaluate (docs/forecasting.md)


_register_forecast()


def _register_bench() -> None:
    from cosim.bench.cli import register

    register(app, _guard, _Command)  # cosim bench, cosim bench-dsm (docs/benchmarking.md)


_register_bench()
