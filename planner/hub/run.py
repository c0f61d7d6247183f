"""Plan one case under several policies and write the outputs (summary, dispatch, figures)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from planner.hub.case import Case
from planner.hub.case_file import case_from_file
from planner.hub.errors import PlannerInputError
from planner.hub.policies import select_policies
from planner.hub.reference import find_reference_dir, load_reference_case, looks_like_reference_dir
from planner.hub.results import PlanResult, summary_frame
from planner.hub.solve import SolverOptions, plan_case

SUMMARY_FILE = "summary.csv"
DISPATCH_FILE = "dispatch.parquet"


@dataclass(frozen=True)
class PlanOutputs:
    """Files written by :func:`write_outputs`."""

    summary_csv: Path
    dispatch_parquet: Path
    figures: tuple[Path, ...]


def load_case(source: Path | str) -> Case:
    """A case from a reference-format folder, the word ``reference``, or a YAML case file."""
    text = str(source)
    if text == "reference":
        return load_reference_case()
    path = Path(source)
    if not path.exists():
        found = find_reference_dir()
        hint = "" if found is None else f"; the reference case is at {found}"
        raise PlannerInputError(f"{path}: no such case file or folder{hint}")
    if path.is_dir():
        if looks_like_reference_dir(path):
            return load_reference_case(path)
        raise PlannerInputError(f"{path}: not a case folder (expected case_data/ and price_time_series/ "
                                f"as in the reference case); a YAML case file also works")
    if path.suffix.lower() in (".yaml", ".yml"):
        return case_from_file(path)
    raise PlannerInputError(f"{path}: a case is a YAML file (.yaml) or a reference-format folder")


def plan_policies(case: Case, policies: Sequence[str], options: SolverOptions | None = None,
                  on_result: Callable[[PlanResult], None] | None = None) -> list[PlanResult]:
    """Plan ``case`` under each named policy (``all`` expands to every policy of the case)."""
    results = []
    for name in select_policies(case.policies, policies):
        result = plan_case(case, name, options)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def dispatch_long(results: Sequence[PlanResult]) -> pd.DataFrame:
    """All policies' dispatch in one table: a ``policy`` column plus the union of the columns."""
    frames = [r.dispatch.assign(policy=r.policy) for r in results]
    table = pd.concat(frames).reset_index()
    return table[["policy", "time", *[c for c in table.columns if c not in ("policy", "time")]]]


def write_outputs(results: Sequence[PlanResult], out_dir: Path, figures: bool = True) -> PlanOutputs:
    """``summary.csv`` (one row per policy), ``dispatch.parquet`` and the figures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_csv = out_dir / SUMMARY_FILE
    summary_frame(list(results)).to_csv(summary_csv, index=False)
    dispatch_parquet = out_dir / DISPATCH_FILE
    dispatch_long(results).to_parquet(dispatch_parquet, index=False)
    written: tuple[Path, ...] = ()
    if figures:
        from planner.hub.figures import write_figures

        written = write_figures(results, out_dir)
    return PlanOutputs(summary_csv, dispatch_parquet, written)


def read_dispatch(path: Path, policy: str) -> pd.DataFrame:
    """One policy's dispatch back from ``dispatch.parquet`` (indexed by time, NaN-only columns dropped)."""
    table = pd.read_parquet(path)
    chosen = table[table["policy"] == policy].drop(columns="policy").set_index("time")
    return chosen.dropna(axis=1, how="all")
