"""ADMM in the co-simulation: the shared limit binds without control and holds with ADMM; the
forecasts the agents plan with are exactly what the simulators then do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario

pytestmark = pytest.mark.slow

# MQTT runs equal in-process runs only if no step reaches the coordinator's wall-clock deadline
# (0.8 x the bridge's step timeout), which a loaded test machine can: give it room
SLOW_MACHINE_S = 300.0

DISTRICT = {
    "name": "admm-small",
    "start": "2024-01-16T04:00:00",
    "duration": "5h",
    "step": "15min",
    "seed": 5,
    "sources": {"prices": {"kind": "tou"}},
    "buildings": [
        {"name": "hp", "count": 5, "pv_kwp": 4},
        {"name": "bat", "count": 2, "pv_kwp": 6, "battery": {"capacity_kwh": 10, "soc_init": 0.5}},
    ],
    "grid": {"network": "kerber_landnetz_kabel_1", "transformer_limit_kw": 8.0},
    "controller": {"kind": "admm", "transport": "inprocess", "admm": {"horizon": "3h"}},
}


def _run(tmp: Path, kind: str) -> RunSummary:
    data = {**DISTRICT, "controller": {**DISTRICT["controller"], "kind": kind}}
    return run_scenario(Scenario.model_validate(data), tmp / kind, echo=lambda _t: None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSummary]:
    tmp = tmp_path_factory.mktemp("admm")
    return {kind: _run(tmp, kind) for kind in ("none", "admm")}


def test_limit_binds_without_control_and_holds_with_admm(runs: dict[str, RunSummary]) -> None:
    none, admm = runs["none"].kpis["limit"], runs["admm"].kpis["limit"]
    assert none["exceeded_h"] > 0.5 and none["max_excess_kw"] > 0.5  # the limit really binds
    assert admm["exceeded_h"] == 0.0
    assert admm["max_excess_kw"] <= 1e-2 * admm["limit_kw"]
    assert runs["admm"].kpis["admm"]["converged_share"] == 1.0
    assert runs["admm"].kpis["comfort"]["discomfort_kh"] < 0.5


def test_plans_come_true(runs: dict[str, RunSummary]) -> None:
    """Perfect forecasts and the exact model: the district power the coordinator planned for the
    current step is what the simulators produce."""
    out = runs["admm"].out_dir
    planned = read_table(out, "admm_steps").set_index("time_s")["p_planned_step0_kw"]
    meters = read_table(out, "buildings").groupby("time_s")["p_kw"].sum()
    meters = meters.add(read_table(out, "batteries").groupby("time_s")["p_kw"].sum(), fill_value=0.0)
    np.testing.assert_allclose(meters.reindex(planned.index), planned, atol=1e-3)


def test_every_round_is_recorded(runs: dict[str, RunSummary]) -> None:
    out = runs["admm"].out_dir
    steps = read_table(out, "admm_steps").set_index("time_s")
    rounds = read_table(out, "admm_iterations")
    assert rounds.groupby("time_s").size().reindex(steps.index).tolist() == steps["iterations"].tolist()
    assert (rounds["rho"] > 0).all() and (rounds["n_stale"] == 0).all()
    last = rounds.groupby("time_s").tail(1)
    assert (last["r_primal"] <= last["eps_primal"]).all() and (last["r_dual"] <= last["eps_dual"]).all()


def test_admm_needs_a_limit_and_a_deadline_inside_the_step_timeout() -> None:
    with pytest.raises(ValueError, match="transformer_limit_kw"):
        Scenario.model_validate({**DISTRICT, "grid": {"network": "kerber_landnetz_kabel_1"}})
    controller = {"kind": "admm", "step_timeout_s": 5, "admm": {"step_deadline_s": 5}}
    with pytest.raises(ValueError, match="step_deadline_s"):
        Scenario.model_validate({**DISTRICT, "controller": controller})


@pytest.mark.network
def test_admm_over_mqtt_equals_admm_in_process(
    runs: dict[str, RunSummary], tmp_path: Path, session_mosquitto_url: str
) -> None:
    """The agents and the coordinator on the running Mosquitto decide exactly as in process: same
    setpoints, iterations and KPIs; every forecast and answer went over the broker."""
    admm = {**DISTRICT["controller"]["admm"], "centralised_check": True}  # type: ignore[dict-item]
    controller = {
        **DISTRICT["controller"],
        "transport": "mqtt",
        "step_timeout_s": SLOW_MACHINE_S,
        "broker": session_mosquitto_url,
        "admm": admm,
    }
    scenario = Scenario.model_validate({**DISTRICT, "controller": controller})
    mqtt = run_scenario(scenario, tmp_path / "mqtt", echo=lambda _t: None)
    inproc = runs["admm"]
    for table in ("setpoints", "buildings", "batteries"):
        np.testing.assert_allclose(
            read_table(mqtt.out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            read_table(inproc.out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=table,
        )
    steps_mqtt, steps_inproc = (
        read_table(mqtt.out_dir, "admm_steps"),
        read_table(inproc.out_dir, "admm_steps"),
    )
    assert steps_mqtt["iterations"].tolist() == steps_inproc["iterations"].tolist()
    assert steps_mqtt["converged"].all()
    decided = ["time_s", "iteration", "rho", "r_primal", "r_dual", "eps_primal", "eps_dual", "n_fresh",
               "n_stale"]
    rounds_mqtt, rounds_inproc = (read_table(r.out_dir, "admm_iterations")[decided] for r in (mqtt, inproc))
    assert len(rounds_mqtt) == steps_mqtt["iterations"].sum()  # every round of every step, over MQTT too
    np.testing.assert_allclose(
        rounds_mqtt.to_numpy(float), rounds_inproc.to_numpy(float), rtol=1e-9, atol=1e-12
    )
    for group in ("energy", "cost", "limit", "comfort"):
        assert mqtt.kpis[group] == pytest.approx(inproc.kpis[group], rel=1e-9, abs=1e-9), group
    messages = read_table(mqtt.out_dir, "mqtt_messages")  # the bridge's side: ADMM rounds are not its
    # the agents run on one host (agents: tasks), so the forecasts go in one batch per step and the
    # buildings' setpoints come back in the host's batches; the coordinator answers on its own topic
    # once its statistics are out
    kinds = messages.groupby(["kind", "direction"]).size().to_dict()
    assert kinds.get(("batch/forecast", "out")) == scenario.n_steps and ("forecast", "out") not in kinds
    assert scenario.n_steps <= kinds[("batch/setpoint", "in")] <= 2 * scenario.n_steps
    assert kinds[("setpoint", "in")] == scenario.n_steps
    assert mqtt.kpis["mqtt"]["batched_entries"] >= 2 * scenario.n_buildings * scenario.n_steps
    assert mqtt.kpis["mqtt"]["dropped"] == 0
    assert mqtt.kpis["admm"]["gap_steps"] == scenario.n_steps  # the centralised check ran every step
    assert abs(mqtt.kpis["admm"]["gap_max"]) <= 1e-3


def test_optimality_gap_against_the_centralised_mpc(tmp_path: Path) -> None:
    """With `centralised_check`, every step's ADMM objective is within 0.1 % of the centralised
    optimum of the same data (cvxpy), recorded per step and as KPIs."""
    admm = {**DISTRICT["controller"]["admm"], "centralised_check": True}  # type: ignore[dict-item]
    scenario = Scenario.model_validate({**DISTRICT, "controller": {**DISTRICT["controller"], "admm": admm}})
    run = run_scenario(scenario, tmp_path / "checked", echo=lambda _t: None)
    steps = read_table(run.out_dir, "admm_steps")
    assert steps["gap"].notna().all() and len(steps) == scenario.n_steps
    assert (steps["gap"].abs() <= 1e-3).all(), steps["gap"].describe()
    # the gap is relative to max(|J_central|, a tenth of the plan's gross energy value)
    # (cosim/admm_check.py); where the objective is far from 0 that is the plain relative difference
    far = steps["central_objective"].abs() > 0.5
    assert far.sum() >= 15
    np.testing.assert_allclose(steps.loc[far, "central_objective"], steps.loc[far, "objective"], rtol=1e-3)
    assert run.kpis["admm"]["gap_max"] == pytest.approx(float(steps["gap"].max()))


VOLTAGE_GRID = {"network": "kerber_landnetz_freileitung_1", "transformer_limit_kw": 8.0, "v_min_pu": 0.9975}


def _voltage_scenario(voltage: bool, **controller: Any) -> Scenario:
    admm = {**DISTRICT["controller"]["admm"], "voltage": voltage}  # type: ignore[dict-item]
    data = {
        **DISTRICT,
        "grid": VOLTAGE_GRID,
        "controller": {**DISTRICT["controller"], "admm": admm, **controller},
    }
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def voltage_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, RunSummary]:
    tmp = tmp_path_factory.mktemp("voltage")
    return {v: run_scenario(_voltage_scenario(v), tmp / str(v), echo=lambda _t: None) for v in (False, True)}


def test_voltage_band_held_with_sensitivities(voltage_runs: dict[bool, RunSummary]) -> None:
    """`admm.voltage`: the coordinator keeps the building buses inside the band with sensitivities
    of the feeder refreshed every step. A weak overhead feeder and a tight band (0.9975 pu) that the
    heat pumps' morning peak violates when only the transformer limit is coordinated.

    The band is held up to the linearisation's error: with each building's reactive power moved at
    its `reactive_ratio` (cosim/voltage.py) the lowest voltage of the held run was 0.997995–0.997998
    pu for six ADMM settings (ρ 0.005–0.05, with and without the own-optimum start); with the net
    power's q/p ratio used before, it was 0.99786–0.99800, depending on the settings.

    The buildings calibrated against the weather (issue 17, 2026-12-07) draw more in this winter
    morning: at 0.998 pu the hard band then cost 5 of 20 steps their convergence (the rounds hit
    `max_iterations`; the soft band is the remedy, tested below), so the band is 0.9975 pu: the
    free run reaches 0.99701 pu, the held one 0.997497."""
    v_min = VOLTAGE_GRID["v_min_pu"]
    free, held = (read_table(voltage_runs[v].out_dir, "connections")["v_pu"] for v in (False, True))
    error = 2e-5  # the linearisation's error
    assert free.min() < v_min - 3e-4  # the band binds without voltage coordination
    assert held.min() >= v_min - error  # held up to the linearisation error
    # bus-steps below the band by more than that error: many without coordination, none with it
    assert (free < v_min - error).sum() >= 10 and (held < v_min - error).sum() == 0
    held = voltage_runs[True].kpis
    assert held["limit"]["exceeded_h"] == 0.0 and held["admm"]["converged_share"] == 1.0


@pytest.mark.network
def test_voltage_rows_over_mqtt_equal_in_process(
    voltage_runs: dict[bool, RunSummary], tmp_path: Path, session_mosquitto_url: str
) -> None:
    """The bridge sends the refreshed rows to the coordinator and each agent its column: the same
    decisions as in process."""
    scenario = _voltage_scenario(
        True, transport="mqtt", broker=session_mosquitto_url, step_timeout_s=SLOW_MACHINE_S
    )
    mqtt = run_scenario(scenario, tmp_path / "mqtt", echo=lambda _t: None)
    for table in ("setpoints", "connections"):
        np.testing.assert_allclose(
            read_table(mqtt.out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            read_table(voltage_runs[True].out_dir, table).select_dtypes("number").to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=table,
        )


def _tight_band(price: float | None, **controller: Any) -> Scenario:
    """The weak feeder at 0.9985 pu, which the district cannot hold at every step.

    The exact penalty's kink is slow for ADMM: soft, the steps took 1–241 rounds (2026-12-03) and
    1–300 with inexact early rounds (2026-12-04), chaotically per step (the total stayed ~1,900);
    the limit is the coordinator's default of 500, not the scenario's 300."""
    data = _voltage_scenario(True, **controller).model_dump()
    data["grid"]["v_min_pu"] = 0.9985
    data["controller"]["admm"]["voltage_violation_price_per_pu"] = price
    data["controller"]["admm"]["max_iterations"] = 500
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def tight_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[float | None, RunSummary]:
    tmp = tmp_path_factory.mktemp("tight")
    return {p: run_scenario(_tight_band(p), tmp / str(p), echo=lambda _t: None) for p in (None, 300.0)}


def test_a_soft_voltage_band_keeps_the_rounds_converging(tight_runs: dict[float | None, RunSummary]) -> None:
    """Hard, some steps run to `max_iterations` and fall back; with `voltage_violation_price_per_pu`
    the steps converge to their least-cost violation (the same exact penalty as the centralised MPC,
    tests/controllers/test_soft_voltage.py).

    The rounds per step are chaotic at the penalty's kink (see `_tight_band`): every step converged
    with the buildings of 2026-12-03/04, while with the synthetic weather and the calibrated
    buildings of issue 17 (2026-12-07) one step of 20, the same on every repeat, reaches 500 rounds
    (hard: 5 of 20). The claim tested is the difference: the soft band converges on a larger share
    than the hard one, and on at least 90 %."""
    hard, soft = (tight_runs[p].kpis["admm"] for p in (None, 300.0))
    assert hard["converged_share"] < 0.9
    assert soft["converged_share"] >= 0.9 and soft["converged_share"] > hard["converged_share"]
    assert soft["fallback_steps"] < hard["fallback_steps"]


@pytest.mark.network
def test_a_soft_band_over_mqtt_equals_in_process(
    tight_runs: dict[float | None, RunSummary], tmp_path: Path
) -> None:
    """The soft rows' prices reach the coordinator over MQTT (the coupling series): same decisions.
    On the platform's own broker, so the agents queue their round updates (`queue_updates`); the
    other MQTT tests here use the running Mosquitto, where they await each acknowledgement."""
    scenario = _tight_band(300.0, transport="mqtt", step_timeout_s=SLOW_MACHINE_S)
    mqtt = run_scenario(scenario, tmp_path / "mqtt", echo=lambda _t: None)
    np.testing.assert_allclose(
        read_table(mqtt.out_dir, "setpoints").select_dtypes("number").to_numpy(dtype=float),
        read_table(tight_runs[300.0].out_dir, "setpoints").select_dtypes("number").to_numpy(dtype=float),
        rtol=1e-9,
        atol=1e-9,
    )
    assert mqtt.kpis["admm"]["converged_share"] == tight_runs[300.0].kpis["admm"]["converged_share"]
