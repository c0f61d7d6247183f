"""`cosim forecast evaluate` on a user's CSV: the error table, errors.csv and figures; mistakes are
one message and exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cosim.cli.app import app


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def history_csv(tmp_path: Path) -> Path:
    times = pd.date_range("2024-03-01", periods=12 * 24, freq="h")
    rng = np.random.default_rng(2)
    hour = np.asarray(times.hour, dtype=float)
    shape = 1.0 + 0.5 * np.exp(-((hour - 19) ** 2) / 6)
    frame = pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%S")})
    for name in ("house_1", "house_2"):
        frame[name] = shape * rng.uniform(0.5, 2.0) * rng.lognormal(0.0, 0.2, len(times))
    path = tmp_path / "demand.csv"
    frame.to_csv(path, index=False)
    return path


def test_evaluate_a_csv_history(history_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code, output = _invoke("forecast", "evaluate", "--csv", str(history_csv), "--quantity", "p_base_kw",
                           "--train-days", "9", "--test-days", "2", "--leads", "1,24",
                           "--forecasters", "persistence,seasonal_naive", "--out", str(out))
    assert code == 0, output
    assert "seasonal_naive" in output
    errors = pd.read_csv(out / "errors.csv")
    assert set(errors["lead_h"]) == {1.0, 24.0}
    assert set(errors["forecaster"]) == {"persistence", "seasonal_naive"}
    at_24 = errors[errors["lead_h"] == 24].set_index("forecaster")["mae"]
    assert at_24["persistence"] == pytest.approx(at_24["seasonal_naive"])  # both: the value 24 h before
    assert (out / "forecast_p_base_kw.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--csv", "missing.csv"], "no such file"),
        (["--train-days", "30"], "need 32"),
        (["--forecasters", "oracle"], "unknown kind 'oracle'"),
        (["--forecasters", "nwp"], "no weather forecasts"),
        (["--leads", "soon"], "--leads soon"),
    ],
)
def test_mistakes_are_named(history_csv: Path, tmp_path: Path, args: list[str], message: str) -> None:
    base = ["forecast", "evaluate", "--csv", str(history_csv), "--train-days", "9", "--test-days", "2",
            "--out", str(tmp_path / "o")]
    for i in range(0, len(args), 2):  # an option given twice: the later one counts
        base += args[i : i + 2]
    code, output = _invoke(*base)
    assert code == 2, output
    assert message in output.replace("\n", " ")
    assert "Traceback" not in output


def test_scenario_or_csv_not_both(history_csv: Path) -> None:
    code, output = _invoke("forecast", "evaluate", "scenarios/demo.yaml", "--csv", str(history_csv))
    assert code == 2 and "one of them" in output
