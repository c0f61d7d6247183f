"""A small scenario run once per test session and shared by the read-only end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario, load_scenario

SMALL = {
    "name": "small",
    "start": "2024-03-20T06:00:00",
    "duration": "8h",
    "step": "15min",
    "seed": 3,
    "sources": {"prices": {"kind": "tou"}},
    "buildings": [
        {"name": "pv", "count": 2, "pv_kwp": 8, "flex_share": 0.1, "restore_within_h": 2},
        {"name": "bat", "count": 2, "pv_kwp": 10, "battery": {"capacity_kwh": 6, "soc_init": 0.2}},
        {"name": "tank", "pv_kwp": 4, "tank": {"capacity_kwh": 5}},
        {"name": "boiler", "heating": "gas_boiler"},
    ],
    "storage": [{"name": "community", "capacity_kwh": 30, "bus": 5}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"kind": "rule_based", "dsm_start_h": 10, "dsm_end_h": 12},
}


def write_scenario(folder: Path, data: dict[str, object]) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def small_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return load_scenario(write_scenario(tmp_path_factory.mktemp("scenario"), SMALL))


@pytest.fixture(scope="session")
def small_run(small_scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> RunSummary:
    return run_scenario(small_scenario, tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def per_agent_run(small_scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> RunSummary:
    """The small scenario with one message per agent each way (`batch: false`)."""
    controller = small_scenario.controller.model_copy(update={"batch": False})
    return run_scenario(small_scenario.model_copy(update={"controller": controller}),
                        tmp_path_factory.mktemp("per-agent"))
