"""`cosim eco-district`: run the urban-planning study's case A and case B for a year and print the
study's annual table side by side with the platform's (cosim/heat/ecodistrict.py,
docs/heat_network.md "Eco-district case A/B")."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cosim.cli.errors import InputError

console = Console(width=max(shutil.get_terminal_size().columns, 118))  # the table's columns unwrapped
HERE = Path(__file__).resolve().parents[2] / "scenarios"


def eco_district(
    a: Annotated[Path, typer.Option("--a", metavar="SCENARIO", help="case A scenario")] = HERE
    / "eco-district-a.yaml",
    b: Annotated[Path, typer.Option("--b", metavar="SCENARIO", help="case B scenario")] = HERE
    / "eco-district-b.yaml",
    out: Annotated[
        Path,
        typer.Option("--out", "-o", metavar="FOLDER", help="where the two runs, the table and the figure go"),
    ] = Path("results/eco-district"),
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            metavar="DURATION",
            help="run this long instead of a year (the lines are scaled to a year), e.g. 7d",
        ),
    ] = None,
    plan: Annotated[
        bool,
        typer.Option(
            "--plan/--no-plan",
            help="calibrate the aggregated network model and size case B's "
            "plant with it for the simulated year",
        ),
    ] = True,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse", help="take the runs already in FOLDER/a and FOLDER/b instead of running them again"
        ),
    ] = False,
) -> None:
    """Run the eco-district case A (all-electric houses) and case B (district heating) and compare
    their annual costs and CO2 with the urban-planning study's."""
    from cosim.cli.app import load_checked
    from cosim.heat.ecodistrict import Assumptions, case_a, case_b, comparison, direction_holds, to_json
    from cosim.heat.plots import plot_heat_network

    scenarios = {name: load_checked(path, duration=duration) for name, path in (("a", a), ("b", b))}
    if scenarios["b"].heat_network is None:
        raise InputError(f"--b {b}: case B needs a heat_network section")
    for name, path in (("a", a), ("b", b)):
        folder = out / name
        if reuse and (folder / "kpis.json").exists():
            console.print(f"case {name.upper()}: the run in {folder}", highlight=False)
            continue
        if reuse:
            raise InputError(f"--reuse: {folder} holds no finished run; run without --reuse")
        _run(scenarios[name], folder, str(path), f"case {name.upper()}")
    assumptions = Assumptions()
    config = scenarios["b"].heat_network
    q_max = {src.name: src.q_max_kw for src in (config.sources or [])} or {"wood": 1200.0, "gas": 800.0}
    store_kwh = config.store.capacity_kwh if config.store is not None else 0.0
    result_a = case_a(out / "a", assumptions)
    result_b = case_b(out / "b", assumptions, config.length_m, q_max, store_kwh, scenarios["b"].n_buildings)
    _print(
        comparison(result_a, result_b),
        direction_holds(result_a, result_b),
        result_a.quantities,
        result_b.quantities,
    )
    data = to_json(result_a, result_b, assumptions)
    if plan:
        data["planning"] = _planning(out / "b", scenarios["b"].heat_network_params(), assumptions)
        data["planning"]["gas_by_wood_size"] = _gas_by_wood_size(out / "b", q_max, config)
    (out / "eco-district.json").write_text(json.dumps(data, indent=2, default=str))
    figure = plot_heat_network(out / "b", out / "heat-network.png")
    console.print(f"table in {out / 'eco-district.json'}, figure {figure}", highlight=False)


def _run(scenario: Any, folder: Path, path: str, label: str) -> None:
    from cosim.run import run_scenario

    console.print(
        f"{label}: running {scenario.name} ({scenario.n_steps} steps) into {folder}", highlight=False
    )
    say: Callable[[str], None] = lambda text: console.print(text, highlight=False)  # noqa: E731
    run_scenario(scenario, folder, overwrite=True, echo=say, scenario_path=path)


def _cell(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _print(table: Any, direction: dict[str, bool], qa: dict[str, float], qb: dict[str, float]) -> None:
    from cosim.heat.ecodistrict import within_15_pct

    out = Table(title="Eco-district, annual results (k€/a; CO2 t/a): the study vs the platform")
    for column in ("line", "study A", "platform A", "A dev %", "study B", "platform B", "B dev %", "±15 %?"):
        out.add_column(column, justify="left" if column == "line" else "right")
    for row in table.to_dict(orient="records"):
        checked = row["checked (±15 %)"]
        verdict = within_15_pct(row["A dev %"], row["B dev %"]) if checked else ""
        out.add_row(
            row["line"],
            _cell(row["study A"]),
            _cell(row["platform A"]),
            _cell(row["A dev %"], 1),
            _cell(row["study B"], 1),
            _cell(row["platform B"], 1),
            _cell(row["B dev %"], 1),
            verdict,
        )
    console.print(out)
    console.print(
        f"study's direction (B cheaper and lower in CO2 than A): "
        f"B cheaper {direction['B cheaper']}, B lower CO2 {direction['B lower CO2']}",
        highlight=False,
    )
    quantities = Table(title="What the runs simulated (a year)")
    quantities.add_column("quantity")
    quantities.add_column("A", justify="right")
    quantities.add_column("B", justify="right")
    for key in dict.fromkeys([*qa, *qb]):
        quantities.add_row(key, _cell(qa.get(key), 1), _cell(qb.get(key), 1))
    console.print(quantities)


def _planning(folder: Path, network_params: dict[str, Any], assumptions: Any) -> dict[str, Any]:
    from cosim.heat.planning import plan_case_b

    console.print(
        "case B: calibrating the aggregated network model and sizing the plant ...", highlight=False
    )
    planning = plan_case_b(folder, network_params, assumptions)
    cal = Table(
        title="Aggregated vs detailed network losses (calibration loop, threshold "
        f"{planning.calibration.threshold:.0%} loss NRMSE per hour)"
    )
    for column in ("iteration", "degree", "hours fitted", "checked on", "loss NRMSE", "loss energy error"):
        cal.add_column(column, justify="left" if column == "checked on" else "right")
    for it in planning.calibration.iterations:
        c = it.check
        cal.add_row(
            str(it.iteration),
            str(it.degree),
            str(it.fitted_hours),
            f"{c.period} ({c.steps} h)",
            f"{c.loss_nrmse:.2%}",
            f"{c.loss_energy_error:.2%}",
        )
    h, y = planning.calibration.held_out, planning.year
    cal.add_row(
        "final",
        str(planning.calibration.model.degree),
        "",
        f"{h.period} ({h.steps} h)",
        f"{h.loss_nrmse:.2%}",
        f"{h.loss_energy_error:.2%}",
    )
    cal.add_row(
        "year",
        "",
        "",
        f"the co-simulated year ({y.hours} h)",
        f"{y.loss_nrmse:.2%}",
        f"{y.loss_energy_error:+.2%}",
    )
    console.print(cal)
    sizes = Table(
        title="Case B plant sized with the aggregated model (perfect foresight over the year; "
        "cost: capital, fixed O&M, fuel and particulates)"
    )
    for column in ("design", "wood kW", "gas kW", "store kWh", "unserved MWh", "cost k€/a"):
        sizes.add_column(column, justify="left" if column == "design" else "right")
    for name, sized in planning.designs.items():
        sizes.add_row(
            name,
            _cell(sized.capacity_kw["wood"]),
            _cell(sized.capacity_kw["gas"]),
            _cell(sized.store_kwh),
            _cell(sized.unserved_kwh / 1e3, 1),
            _cell(sized.annual_cost / 1e3, 1),
        )
    console.print(sizes)
    return {
        "calibration": [
            {
                "iteration": it.iteration,
                "degree": it.degree,
                "hours_fitted": it.fitted_hours,
                **vars(it.check),
            }
            for it in planning.calibration.iterations
        ],
        "held_out": vars(planning.calibration.held_out),
        "threshold_met": planning.calibration.met,
        "year": vars(planning.year),
        "designs": {name: vars(sized) for name, sized in planning.designs.items()},
    }


def _gas_by_wood_size(folder: Path, q_max: dict[str, float], config: Any) -> list[dict[str, float]]:
    """How case B's gas line follows the wood boiler's size (the run's network heat dispatched
    with perfect foresight, the scenario's store); printed with the study's ±15 % band."""
    from cosim.heat.ecodistrict import STUDY, _scale_to_year
    from cosim.heat.planning import gas_by_wood_size, run_network_heat_kw

    heat_kw, dt_h = run_network_heat_kw(folder)
    wood = q_max.get("wood", 1200.0)
    sizes = [wood * (1.0 + 0.05 * k) for k in range(7)]
    store = config.store
    rows = gas_by_wood_size(
        heat_kw,
        dt_h,
        sizes,
        store.capacity_kwh if store is not None else 0.0,
        store.p_max_kw if store is not None else 0.0,
        year=_scale_to_year(folder),
    )
    study_gas = STUDY["gas"][1] or 0.0
    out = Table(
        title="Case B's gas line against the wood boiler's size (the run's network heat, perfect "
        f"foresight, the scenario's store; the study's gas {study_gas} k€/a, ±15 %: "
        f"{0.85 * study_gas:.2f}–{1.15 * study_gas:.2f})"
    )
    for column in ("wood kW", "gas heat MWh", "gas k€/a", "gas dev %", "wood k€/a", "wood dev %"):
        out.add_column(column, justify="right")
    study_wood = STUDY["wood"][1] or 0.0
    for r in rows:
        out.add_row(
            _cell(r.wood_kw),
            _cell(r.gas_heat_mwh),
            _cell(r.gas_keur, 1),
            _cell(100.0 * (r.gas_keur / study_gas - 1.0), 1),
            _cell(r.wood_keur, 1),
            _cell(100.0 * (r.wood_keur / study_wood - 1.0), 1),
        )
    console.print(out)
    return [vars(r) for r in rows]


def register(app: typer.Typer, guard: Callable[[Any], Any], command_class: type[Any]) -> None:
    """Add `cosim eco-district` to `app` inside `guard`."""
    app.command("eco-district", cls=command_class)(guard(eco_district))
