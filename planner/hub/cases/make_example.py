"""Regenerate ``example_timeseries.csv`` (deterministic): ``python -m planner.hub.cases.make_example``."""

from __future__ import annotations

from pathlib import Path

from planner.hub.synthetic import synthetic_timeseries

HERE = Path(__file__).parent


def main() -> None:
    synthetic_timeseries(start="2021-03-29 00:00", days=21, seed=0).to_csv(HERE / "example_timeseries.csv")


if __name__ == "__main__":
    main()
