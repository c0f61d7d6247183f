"""The price-policy reference case, read in place from the shared reference folder.

The reference data has no licence for redistribution, so it is never copied into this repository:
it is read from ``$COSIM_EHUB_REFERENCE``, an explicit path, or ``../shared/reference/ehub-price-policy``
next to the project root (or next to any parent of the working directory). Callers that can do
without it (tests, benchmarks) check :func:`find_reference_dir` and skip when it returns None.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from planner.hub.case import Case, Fuel
from planner.hub.errors import PlannerInputError
from planner.hub.policies import load_policies
from planner.hub.technologies import load_catalogue

ENV_VAR = "COSIM_EHUB_REFERENCE"
RELATIVE = Path("..") / "shared" / "reference" / "ehub-price-policy"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEADER_ROWS = 10
# The files are labelled 2016 with 29 February left out, and the TOU series has day 1 on a
# Thursday: 2015 (not a leap year, 1 January a Thursday) gives a regular hourly grid that matches.
REFERENCE_START = pd.Timestamp("2015-01-01 00:00")
# Scalar parameters of the study that are not in the files (README of the reference folder).
GAS = Fuel(price_per_kwh=0.09, co2_kg_per_kwh=0.198)
GRID_CO2_KG_PER_KWH = 0.137
INTEREST_RATE = 0.08

PRICE_FILES = {
    "tou": "TOU_prices.csv",
    "rtp": "RTP_prices.csv",
    "spot": "electricity_spot_prices.csv",
    "fip": "electricity_feed_in_price_renewables.csv",
}


CASE_FILES = ("case_data/demand_data.csv", "case_data/energy_inputs_data.csv", "case_data/node_data.csv",
              *(f"price_time_series/{name}" for name in PRICE_FILES.values()))


def is_reference_dir(path: Path) -> bool:
    return (path / "case_data" / "demand_data.csv").is_file() and (path / "price_time_series").is_dir()


def looks_like_reference_dir(path: Path) -> bool:
    """A folder meant to be in the reference format (it has case_data/ or price_time_series/)."""
    return (path / "case_data").is_dir() or (path / "price_time_series").is_dir()


def check_reference_files(folder: Path) -> None:
    """Raise a :class:`PlannerInputError` naming every file of the reference format the folder lacks."""
    missing = [name for name in CASE_FILES if not (folder / name).is_file()]
    if missing:
        raise PlannerInputError(f"{folder}: the case folder lacks {', '.join(missing)} (the reference "
                                "format: case_data/ with demand, irradiance and node data, "
                                f"price_time_series/ with {', '.join(PRICE_FILES.values())})")


def find_reference_dir(explicit: Path | str | None = None) -> Path | None:
    """The reference folder: explicit path, then $COSIM_EHUB_REFERENCE, then ../shared/... ."""
    candidates: list[Path] = []
    if explicit is not None:
        candidates.append(Path(explicit))
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    candidates.append(PROJECT_ROOT / RELATIVE)
    candidates += [parent / RELATIVE for parent in [Path.cwd(), *Path.cwd().parents]]
    for path in candidates:
        if is_reference_dir(path):
            return path.resolve()
    return None


def _read_columns(path: Path, header_rows: int, n_cols: int) -> np.ndarray:
    try:
        frame = pd.read_csv(path, skiprows=header_rows, header=None)
    except (OSError, pd.errors.ParserError) as exc:
        raise PlannerInputError(f"{path}: cannot read: {exc}") from None
    values: np.ndarray = frame.iloc[:, -n_cols:].to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise PlannerInputError(f"{path}: missing or non-numeric values")
    return values


def _roof_area_m2(path: Path) -> float:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlannerInputError(f"{path}: cannot read: {exc}") from None
    for line in text.splitlines():
        key, _, value = line.partition(",")
        if key.strip().lower() == "usable roof area":
            try:
                return float(value)
            except ValueError:
                raise PlannerInputError(f"{path}: 'Usable roof area' is {value.strip()!r}, not a number of "
                                        "m²") from None
    raise PlannerInputError(f"{path}: no 'Usable roof area' row (expected 'Usable roof area,<m²>')")


def load_reference_case(path: Path | str | None = None) -> Case:
    """The 8760-hour reference case with the default catalogue and the study's seven policies."""
    if path is not None and Path(path).is_dir() and looks_like_reference_dir(Path(path)):
        folder: Path | None = Path(path)  # an explicit folder is read as it is, never another one
    else:
        folder = find_reference_dir(path)
    if folder is None:
        where = path if path is not None else f"${ENV_VAR} or {PROJECT_ROOT / RELATIVE}"
        raise PlannerInputError(f"reference case folder not found at {where}")
    check_reference_files(folder)
    demand = _read_columns(folder / "case_data" / "demand_data.csv", HEADER_ROWS, 2)
    irradiance = _read_columns(folder / "case_data" / "energy_inputs_data.csv", HEADER_ROWS, 1)[:, 0]
    prices = {name: _read_columns(folder / "price_time_series" / file, 0, 1)[:, 0]
              for name, file in PRICE_FILES.items()}
    return Case(
        name="ehub-price-policy",
        start=REFERENCE_START,
        step_h=1.0,
        heat_demand_kw=demand[:, 0],
        elec_demand_kw=demand[:, 1],
        irradiance_w_per_m2=irradiance,
        catalogue=load_catalogue(),
        policies=load_policies(),
        price_series=prices,
        fuels={"gas": GAS},
        roof_area_m2=_roof_area_m2(folder / "case_data" / "node_data.csv"),
        interest_rate=INTEREST_RATE,
        grid_co2_kg_per_kwh=GRID_CO2_KG_PER_KWH,
    )
