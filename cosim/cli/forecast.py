"""`cosim forecast evaluate`: train and score forecasters on a scenario's history or a user's CSV.

    cosim forecast evaluate SCENARIO [--train-days 28] [--test-days 7] [--leads 1,6,24] [--out DIR]
    cosim forecast evaluate --csv FILE [--quantity NAME] ...

With a scenario, the district's archive comes from the simulators' pure models (demand and PV per
building, the site's weather; `cosim.control.forecast_archive`): `--train-days` before the scenario's
start for training, `--test-days` from the start held out. With `--csv`, the file's columns are
`time` and one column per entity (e.g. one per building) of one quantity; its last `--test-days` are
held out; there are no weather forecasts then. Every forecaster is trained once and issued at every
step of the held-out days from the data before that step. Prints the error table (MAE, RMSE, skill
against persistence, 80 % interval coverage and pinball loss) and writes it as `errors.csv` with
one figure per quantity (forecast against actual, with the interval) to `--out`.

    cosim forecast foresight SCENARIO [--out DIR] [--set 'forecast={kind: gbt}']

runs a scenario that has a `forecast:` section twice, as it is and with perfect forecasts of every
quantity, and prints the KPIs that foresight changes for both runs and their difference: the cost of
imperfect foresight (also written as `foresight.csv`).

Registered in `cosim.cli.app` by `register(app, guard, command_class)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cosim.cli.errors import InputError

console = Console()
forecast_app = typer.Typer(help="Train and score forecasters (docs/forecasting.md).", no_args_is_help=True)
DEFAULT_FORECASTERS = "persistence,seasonal_naive,gbt"
SCENARIO_QUANTITIES = ("p_base_kw", "pv_kw", "t_out_c", "ghi_w_m2")
PLOT_LEAD_H = 24.0


def _leads(text: str, step_s: int) -> np.ndarray:
    try:
        hours = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--leads {text}: give lead times in hours separated by commas, e.g. 1,6,24") \
            from None
    steps = sorted({max(1, round(h * 3600 / step_s)) for h in hours if h > 0})
    if not steps:
        raise InputError(f"--leads {text}: give at least one positive lead time in hours")
    return np.array(steps)


def _specs(text: str, weather: bool) -> list[Any]:
    from forecasting import REGISTRY
    from forecasting.evaluate import ForecasterSpec

    specs = []
    for kind in (part.strip() for part in text.split(",") if part.strip()):
        if kind not in REGISTRY:
            raise InputError(f"--forecasters: unknown kind {kind!r}; allowed: {', '.join(sorted(REGISTRY))}")
        if kind == "nwp" and not weather:
            raise InputError("--forecasters nwp: a CSV history has no weather forecasts; leave nwp out")
        quantities = ("t_out_c", "ghi_w_m2") if kind == "nwp" else None
        specs.append(ForecasterSpec(kind, kind, {}, quantities))
    return specs


def read_history_csv(path: Path, quantity: str) -> Any:
    """A user's history: `time` plus one numeric column per entity, on a regular time axis."""
    from forecasting import Archive

    if not path.is_file():
        raise InputError(f"--csv {path}: no such file")
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"--csv {path}: not a readable CSV file ({exc})") from None
    if "time" not in frame.columns or len(frame.columns) < 2:
        raise InputError(f"{path}: needs a 'time' column and one column per entity; "
                         f"has {list(frame.columns)}")
    try:
        times = pd.DatetimeIndex(pd.to_datetime(frame.pop("time")))
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: column 'time' holds values that are not timestamps ({exc})") from None
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise InputError(f"{path}: columns {bad} are not numeric")
    steps = np.diff(times.asi8)
    if len(times) < 3 or (steps <= 0).any() or (steps != steps[0]).any():
        raise InputError(f"{path}: 'time' must be increasing with one constant step (found gaps or repeats)")
    step_s = int(steps[0] // 1_000_000_000)
    if 86400 % step_s:
        raise InputError(f"{path}: the time step ({step_s} s) must divide a day")
    if frame.isna().any().any():
        raise InputError(f"{path}: empty cells in columns {list(frame.columns[frame.isna().any()])}")
    return Archive(times, step_s, {quantity: frame.to_numpy(dtype=float)},
                   {quantity: tuple(str(c) for c in frame.columns)})


def _scenario_archive(path: Path, train_days: int, test_days: int, horizon: int) -> tuple[Any, Any, int]:
    from cosim.control.forecast_archive import district_archive
    from cosim.scenario.model import load_scenario

    scenario = load_scenario(path).model_copy(update={"duration": test_days * 86400})
    d = district_archive(scenario, train_days, horizon)
    return d.archive, d.weather, d.run_offset


def _table(frame: pd.DataFrame) -> Table:
    table = Table(title="forecast errors on the held-out days", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("quantity", "lead", "forecaster", "MAE", "RMSE", "skill", "cov80", "pinball"):
        table.add_column(column, justify="left" if column in ("quantity", "forecaster") else "right",
                         no_wrap=True)
    for row in frame.itertuples(index=False):
        def cell(value: float) -> str:
            return "" if pd.isna(value) else f"{value:.3f}"
        table.add_row(str(row.quantity), f"{row.lead_h:g}", str(row.forecaster), cell(row.mae),
                      cell(row.rmse), cell(row.skill), cell(row.coverage_80), cell(row.pinball))
    return table


def _figures(evaluation: Any, archive: Any, out: Path, quantities: list[str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lead_index = int(np.argmin(np.abs(evaluation.leads * archive.step_s / 3600.0 - PLOT_LEAD_H)))
    lead = int(evaluation.leads[lead_index])
    targets = archive.times[evaluation.issues + lead - 1]
    written = []
    for quantity in quantities:
        truth = archive.values[quantity][evaluation.issues + lead - 1]
        column = int(np.argmax(truth.std(axis=0)))  # the liveliest entity
        fig, ax = plt.subplots(figsize=(11, 4))
        ax.plot(targets, truth[:, column], color="black", lw=1.2, label="actual")
        for (label, q), issued in evaluation.issued.items():
            if q != quantity:
                continue
            ax.plot(targets, issued.mean[:, lead_index, column], lw=0.9, label=label)
            if issued.lower is not None and issued.upper is not None:
                ax.fill_between(targets, issued.lower[:, lead_index, column],
                                issued.upper[:, lead_index, column], alpha=0.2, label=f"{label} 10-90 %")
        entity = archive.entities[quantity][column]
        ax.set_title(f"{quantity} of {entity}: forecasts issued {lead * archive.step_s / 3600:g} h ahead")
        ax.legend(loc="upper right", fontsize=8, ncols=3)
        fig.autofmt_xdate()
        path = out / f"forecast_{quantity}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def evaluate(
    scenario: Annotated[Path | None, typer.Argument(metavar="[SCENARIO]", help="scenario YAML file")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", metavar="FILE", help="a history CSV instead of a "
                                             "scenario: columns time and one per entity")] = None,
    quantity: Annotated[str, typer.Option("--quantity", metavar="NAME",
                                          help="name of the CSV's quantity, e.g. p_base_kw")] = "value",
    train_days: Annotated[int, typer.Option("--train-days", min=9, metavar="DAYS",
                                            help="days of history to train on")] = 28,
    test_days: Annotated[int, typer.Option("--test-days", min=1, metavar="DAYS",
                                           help="held-out days scored")] = 7,
    leads: Annotated[str, typer.Option("--leads", metavar="HOURS",
                                       help="lead times, e.g. 1,6,24")] = "1,6,24",
    forecasters: Annotated[str, typer.Option("--forecasters", metavar="KINDS",
                                             help="forecaster kinds to score")] = DEFAULT_FORECASTERS,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="folder for errors.csv and the figures")] = Path("forecast-eval"),
) -> None:
    """Train forecasters and score them on held-out days; print the error table, write it and figures."""
    from forecasting.evaluate import evaluate as score

    if (scenario is None) == (csv is None):
        raise InputError("cosim forecast evaluate: give a SCENARIO or --csv FILE (one of them)")
    if csv is not None:
        archive, weather = read_history_csv(csv, quantity), None
        day = archive.steps_per_day
        if len(archive.times) < (train_days + test_days) * day:
            raise InputError(f"{csv}: holds {len(archive.times) / day:.1f} days; --train-days {train_days} "
                             f"and --test-days {test_days} need {train_days + test_days}")
        train_end = len(archive.times) - test_days * day
        lead_steps = _leads(leads, archive.step_s)
        quantities = [quantity]
    elif scenario is not None:
        from cosim.scenario.model import load_scenario

        step_s = load_scenario(scenario).step
        lead_steps = _leads(leads, step_s)
        horizon = int(lead_steps.max())
        archive, weather, train_end = _scenario_archive(scenario, train_days, test_days, horizon)
        quantities = list(SCENARIO_QUANTITIES)
    last = len(archive.times) - int(lead_steps.max())
    issues = np.arange(train_end, min(train_end + test_days * archive.steps_per_day, last + 1))
    try:
        evaluation = score(archive, weather, _specs(forecasters, weather is not None), quantities, train_end,
                           issues, lead_steps)
    except ValueError as exc:
        raise InputError(f"cosim forecast evaluate: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    evaluation.table.to_csv(out / "errors.csv", index=False)
    console.print(_table(evaluation.table))
    figures = _figures(evaluation, archive, out, quantities)
    console.print(f"wrote {out / 'errors.csv'} and {len(figures)} figures to {out}", highlight=False)


FORESIGHT_KPIS = (("cost", "electricity"), ("peak", "peak_import_kw"), ("limit", "exceeded_h"),
                  ("limit", "excess_kwh"), ("limit", "max_excess_kw"), ("comfort", "discomfort_kh"))
PERFECT_SECTION = {"kind": "perfect", "quantities": {"t_out_c": {"kind": "perfect"},
                                                     "ghi_w_m2": {"kind": "perfect"}}}


def imperfect_foresight(scenario: Any, out: Path,
                        echo: Callable[[str], None] = lambda _t: None) -> pd.DataFrame:
    """KPIs of `scenario` as it is and with perfect forecasts (`out/forecasts`, `out/perfect`), and
    their difference (rows: the KPI; columns: forecasts, perfect, cost of imperfect foresight)."""
    from cosim.run import run_scenario
    from cosim.scenario.model import Scenario

    if scenario.forecast is None:
        raise InputError(f"{scenario.name}: the scenario has no forecast: section, so its run already has "
                         "perfect forecasts; add one, e.g. forecast: {kind: gbt} (docs/forecasting.md)")
    data = scenario.model_dump(mode="json")
    perfect = Scenario.model_validate({**data, "forecast": {**data["forecast"], **PERFECT_SECTION}})
    columns: dict[str, dict[str, float]] = {}
    for label, s in (("forecasts", scenario), ("perfect", perfect)):
        kpis = run_scenario(s, out / label, overwrite=True, echo=echo).kpis
        columns[label] = {f"{group}.{name}": float(kpis.get(group, {}).get(name, float("nan")))
                          for group, name in FORESIGHT_KPIS}
    table = pd.DataFrame(columns)
    table["imperfect foresight"] = table["forecasts"] - table["perfect"]
    return table


def foresight(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file with a "
                                             "forecast: section")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="folder for both runs and foresight.csv")] = Path("foresight"),
    sets: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE", help="change one scenario value, e.g. --set 'forecast={kind: gbt}' "
        "(repeatable; VALUE is read as YAML)")] = None,
) -> None:
    """Run SCENARIO with its forecasts and with perfect ones; print the cost of imperfect foresight."""
    from cosim.scenario.model import load_scenario
    from cosim.scenario.overrides import apply_overrides

    def echo(text: str) -> None:
        console.print(text, highlight=False)

    loaded = load_scenario(scenario)
    if sets:
        loaded = apply_overrides(loaded, sets, scenario)
    table = imperfect_foresight(loaded, out, echo=echo)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "foresight.csv", index_label="kpi")
    shown = Table(title="cost of imperfect foresight", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("kpi", *table.columns):
        shown.add_column(column, justify="left" if column == "kpi" else "right", no_wrap=True)
    for kpi, row in table.iterrows():
        shown.add_row(str(kpi), *[f"{v:,.3f}" for v in row])
    console.print(shown)
    console.print(f"wrote {out / 'foresight.csv'}; the runs are in {out}/forecasts and {out}/perfect",
                  highlight=False)


def register(app: typer.Typer, guard: Callable[[Any], Any], command_class: type[Any]) -> None:
    """Add `cosim forecast evaluate` and `cosim forecast foresight` to `app`, inside `guard`."""
    forecast_app.command("evaluate", cls=command_class)(guard(evaluate))
    forecast_app.command("foresight", cls=command_class)(guard(foresight))
    app.add_typer(forecast_app, name="forecast")
