"""Checks of a valid scenario against the world it will run in, before the first step.

`cosim.scenario.model` checks each field on its own (types, ranges, required keys); this module checks
what needs more than the field: that the start time exists in the scenario's time zone, that the
buses named exist in the chosen feeder and are low-voltage buses, that the weather and price
files cover the simulated period with plausible values, that a broker URL can be used. `cosim
validate` and `cosim run` both call `check_scenario`, so whatever `run` would reject before its
first step, `validate` rejects too, with the same message. All problems are reported at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from cosim.cli.errors import InputError
from cosim.scenario.model import Scenario

Problem = tuple[str, str]  # (field path or option, what is wrong and what to change)


def check_scenario(scenario: Scenario, path: Path | str, broker: str | None = None) -> None:
    """Raise `InputError` listing every problem that would stop `scenario` (read from `path`)
    before its first step; `broker` is a `--broker` URL given on the command line."""
    problems: list[Problem] = []
    for check in _CHECKS:
        problems += check(scenario)
    if broker is not None:
        problems += broker_problems(broker, "--broker")
    if problems:
        raise InputError(format_problems(path, problems))


def format_problems(path: Path | str, problems: list[Problem]) -> str:
    """One line per problem under a line naming the file, like the scenario's own errors."""
    n = len(problems)
    lines = [f"{path}: cannot run this scenario ({n} problem{'s' if n > 1 else ''})"]
    lines += [f"  {where}: {what}" for where, what in problems]
    return "\n".join(lines)


def _seed(s: Scenario) -> list[Problem]:
    if s.seed < 0:
        return [("seed", f"must be a whole number 0 or greater (got {s.seed})")]
    return []


def start_problem(start: str, tz: str) -> str | None:
    """Why `start` (naive: local time in `tz`) cannot start a run, or None."""
    ts = pd.Timestamp(start)
    if ts.tz is not None:
        return None
    try:
        ts.tz_localize(tz)
    except Exception as exc:  # pytz's NonExistentTimeError / AmbiguousTimeError
        name = type(exc).__name__
        if "NonExistent" in name:
            return (
                f"{start} does not exist in {tz} (the clocks are put forward that night); choose "
                "another start, e.g. an hour later, or give the UTC offset (e.g. 2024-03-31T03:30:00+02:00)"
            )
        if "Ambiguous" in name:
            first = ts.tz_localize(tz, ambiguous=True)
            second = ts.tz_localize(tz, ambiguous=False)
            return (
                f"{start} happens twice in {tz} (the clocks are put back that night); give the UTC "
                f"offset: {first.isoformat()} (the first) or {second.isoformat()} (the second)"
            )
        raise
    return None


def _start(s: Scenario) -> list[Problem]:
    problem = start_problem(s.start, s.timezone)
    return [] if problem is None else [("start", problem)]


def run_times(s: Scenario) -> pd.DatetimeIndex:
    """Every time the run reads its sources at: the simulation steps, and with ADMM the control
    steps of the last horizon too (the agents' forecasts look past the run's end)."""
    from simulators.clock import time_axis

    admm = s.controller.admm
    if s.controller.kind == "admm" and admm is not None:
        n = s.duration // s.control_step + admm.horizon // s.control_step
        return time_axis(s.start, s.timezone, s.control_step, n)
    return time_axis(s.start, s.timezone, s.step, s.n_steps)


def _sources(s: Scenario) -> list[Problem]:
    """Read the weather and price files over the run's times, as the run will."""
    from simulators.sources.model import make_prices, make_weather, site_from
    from simulators.sources.series import SeriesError

    weather, prices = s.sources.weather, s.sources.prices
    files = ("csv", "tmy")  # weather read from a file
    if weather.kind not in files and prices.kind != "csv":
        return []
    if start_problem(s.start, s.timezone) is not None:
        return []  # reported by `_start`; there is no time axis to read the files on
    times = run_times(s)
    problems: list[Problem] = []
    if weather.kind in files:
        site = site_from({**s.site.model_dump(exclude={"heating_degree_days_kd"}), "tz": s.timezone})
        try:
            make_weather(times, weather.model_dump(mode="json"), site)
        except SeriesError as exc:
            problems.append(("sources.weather.path", str(exc)))
    if prices.kind == "csv":
        spec = prices.model_dump(mode="json", exclude={"gas_per_kwh", "gas_co2_kg_per_kwh"})
        try:
            make_prices(times, {**spec, "seed": s.seed}, s.timezone)
        except SeriesError as exc:
            problems.append(("sources.prices.path", str(exc)))
    return problems


def _buses(s: Scenario) -> list[Problem]:
    """Every bus named must be a low-voltage bus of the feeder (not the medium-voltage slack bus)."""
    named: list[tuple[str, int]] = [
        (f"buildings.{k}.buses.{j}", bus)
        for k, group in enumerate(s.buildings)
        for j, bus in enumerate(group.buses or [])
    ]
    named += [(f"storage.{k}.bus", unit.bus) for k, unit in enumerate(s.storage)]
    if not named:
        return []
    from simulators.grid.networks import load_feeder

    feeder = load_feeder(s.grid.network)
    vn_kv = feeder.net.bus["vn_kv"].to_numpy()
    load_buses = ", ".join(str(b) for b in feeder.candidate_buses)
    problems: list[Problem] = []
    for where, bus in named:
        if not 0 <= bus < len(vn_kv):
            problems.append((where, f"bus {bus} is not a bus of {s.grid.network} (buses 0 to "
                                    f"{len(vn_kv) - 1}); its house connection buses are {load_buses}"))
        elif vn_kv[bus] >= 1.0:
            problems.append((where, f"bus {bus} of {s.grid.network} is the {vn_kv[bus]:g} kV side of the "
                                    "transformer, not the low-voltage feeder; use a low-voltage bus, e.g. "
                                    f"one of the house connection buses {load_buses}"))
    return problems


def broker_problems(url: str, where: str) -> list[Problem]:
    """A broker URL that cannot be used (scheme, host, port)."""
    from controllers.runtime.broker_url import BrokerUrlError, parse_broker_url

    try:
        parse_broker_url(url)
    except BrokerUrlError as exc:
        hint = f"; did you mean mqtt://{url}?" if "://" not in url else ""
        return [(where, f"{exc}{hint}")]
    return []


def _broker(s: Scenario) -> list[Problem]:
    url = s.controller.broker
    return [] if url is None else broker_problems(url, "controller.broker")


_CHECKS: tuple[Callable[[Scenario], list[Problem]], ...] = (_seed, _start, _buses, _sources, _broker)
