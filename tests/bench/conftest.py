"""The `tiny` benchmark of the four built-in controllers, run once for the tests of this folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cosim.cli.app import app


@dataclass(frozen=True)
class BenchRun:
    out: Path
    output: str
    table: pd.DataFrame


def run_bench(out: Path, *args: str) -> BenchRun:
    result = CliRunner().invoke(app, ["bench", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return BenchRun(out, result.output, pd.read_csv(out / "kpis.csv", keep_default_na=False,
                                                    na_values=[""]))


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    """`cosim bench tiny --controllers none,rule_based,mpc,admm` (in process, one worker)."""
    return run_bench(tmp_path_factory.mktemp("bench") / "tiny", "tiny", "--controllers",
                     "none,rule_based,mpc,admm")
