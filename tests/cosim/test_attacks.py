"""Attacks on the control loop and anomaly checks (issue 20, first part; docs/attacks.md).

`scenarios/attack-fdi.yaml`: a compromised ADMM agent under-reports its load by 3 kW. Without
detection the shared transformer limit is exceeded; with the plan-consistency detector the agent is
quarantined at once and the limit holds. Both runs are reproducible. The sensors are noisy (the
default of a scenario with attacks); the forecasts are still the perfect twin's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from controllers.admm.messages import CoordinatorBroadcast, LocalUpdate
from controllers.detection import DETECTORS, Observation
from controllers.measurements import BuildingSetpoints
from cosim.attacks import ATTACKS
from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.model import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
FDI = ROOT / "scenarios" / "attack-fdi.yaml"


def _variant(detection: bool, attack: bool = True) -> Scenario:
    s = load_scenario(FDI)
    data = s.model_dump()
    if not detection:
        data["detection"] = None
    if not attack:
        data["attacks"] = []
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def fdi_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunSummary]:
    tmp = tmp_path_factory.mktemp("fdi")
    return {
        "on": run_scenario(_variant(True), tmp / "on", echo=lambda _t: None),
        "off": run_scenario(_variant(False), tmp / "off", echo=lambda _t: None),
    }


def test_undetected_the_lie_breaks_the_transformer_limit(fdi_runs: dict[str, RunSummary]) -> None:
    limit = fdi_runs["off"].kpis["limit"]
    assert limit["exceeded_h"] >= 0.5 and limit["max_excess_kw"] >= 0.05 * limit["limit_kw"]
    attacks = read_table(fdi_runs["off"].out_dir, "attacks")
    assert set(attacks["entity"]) == {"house-003"} and attacks["time_s"].min() == 3 * 3600


def test_detected_the_attacker_is_quarantined_and_the_limit_holds(fdi_runs: dict[str, RunSummary]) -> None:
    out = fdi_runs["on"].out_dir
    quarantine = read_table(out, "quarantine")
    first = quarantine[quarantine["state"] == "quarantined"]
    assert list(first["entity"]) == ["house-003"]
    steps_to_detect = (int(first["time_s"].iloc[0]) - 3 * 3600) // 900
    assert steps_to_detect <= 3
    limit = fdi_runs["on"].kpis["limit"]
    assert limit["exceeded_h"] == 0.0 and limit["max_excess_kw"] < 0.01 * limit["limit_kw"]
    detections = read_table(out, "detections")
    honest = detections[detections["entity"] != "house-003"]
    assert not honest["alarm"].any()  # no false positives on the honest agents
    attacker = detections[(detections["entity"] == "house-003") & (detections["observed_s"] >= 3 * 3600)]
    assert attacker["alarm"].all()  # it keeps lying, it stays quarantined
    assert fdi_runs["on"].kpis["admm"]["converged_share"] == 1.0
    security = fdi_runs["on"].kpis["security"]
    assert security["attacks"] == 1 and security["detected_share"] == 1.0
    assert security["steps_to_detect_median"] == steps_to_detect and security["false_positive_rate"] == 0.0
    steps_left = (24 * 3600 - int(first["time_s"].iloc[0])) // 900 - 1  # from the next step to the end
    assert security["quarantined_agent_steps"] == steps_left
    off = fdi_runs["off"].kpis["security"]
    assert off["attacks"] == 1 and "detected_share" not in off  # nothing watched


def test_attacked_runs_are_reproducible(fdi_runs: dict[str, RunSummary], tmp_path: Path) -> None:
    again = run_scenario(_variant(True), tmp_path / "again", echo=lambda _t: None)
    for table in ("detections", "quarantine", "attacks", "setpoints"):
        first = read_table(fdi_runs["on"].out_dir, table)
        pd.testing.assert_frame_equal(read_table(again.out_dir, table), first)


@pytest.mark.parametrize("kind", sorted(ATTACKS))
def test_attack_contract(kind: str) -> None:
    """Every attack kind: inactive outside its window and on other agents (every hook passes
    everything on unchanged), active inside on its target through at least one hook."""
    cls = ATTACKS[kind]
    target = "coordinator" if cls.on_coordinator else "a"
    attack = cls(target, 900, 1800, 2.0, 0)

    def update(agent: str, tick: int = 1) -> LocalUpdate:
        return LocalUpdate(agent, tick, 0, np.array([1.0, 1.0]), 0.0, 0.0, 1, "solved")

    values: dict[str, float | None] = {"p_kw": 1.0, "pv_kw": 0.0, "soc": 0.5, "t_in_c": 20.0}
    setpoints = BuildingSetpoints(battery_p_kw=1.0, hp_p_kw=0.5)
    broadcast = CoordinatorBroadcast(1, 0, 1.0, np.ones((1, 2)), np.ones((1, 2)), np.zeros((1, 2)))

    def untouched(time_s: int, agent: str) -> bool:
        reported = attack.update(time_s, update(agent)).p_net_kw.tolist()
        round_ = [update(agent), update("z")]
        told = attack.broadcast(time_s, broadcast)
        return (reported == [1.0, 1.0] and attack.measurement(time_s, agent, values) == values
                and attack.round(time_s, round_) == round_ and attack.limit_kw(time_s, 14.0) == 14.0
                and attack.setpoints(time_s, agent, setpoints) == setpoints
                and np.array_equal(told.z_mean, broadcast.z_mean))

    assert untouched(0, target)  # before the window
    if not cls.on_coordinator:
        assert untouched(900, "b") and untouched(1800, "b")  # another agent
    # in the window it acts on the target (a frozen reading shows once the meter moves)
    first = attack.measurement(900, target, values)
    later = attack.measurement(1800, target, {**values, "p_kw": 3.0})
    assert first != values or later["p_kw"] != 3.0 or not untouched(1800, target)
    assert untouched(2700, target) or kind in ("network_delay",)  # after it (a delay still delivers)


def _observation(agent: str, k: int, lie: bool, battery: bool) -> Observation:
    """Step k of an agent whose claim, meter, bus, battery, messages and peers agree (honest), or
    all disagree by far (a lie); the district's observation for agent `coordinator`."""
    wobble = 0.01 * ((-1) ** k)  # within every sensor's noise
    if agent == "coordinator":
        return Observation(agent, 900 * k, 20.0 if lie else 13.0, None, limit_kw=14.0,
                           dual_residual_kw=0.3 if lie else 1e-12)
    off = 5.0 if lie else wobble
    return Observation(
        agent, 900 * k, 2.0, (9.0 if lie else 2.0) + wobble, (7.0 if lie else 2.0) - wobble, 0.03,
        0.5 if battery else None, (0.8 if lie else 0.5) + wobble if battery else None,
        0.0 if battery else None, 0.01 if battery else None,
        (("fresh", 10), ("missing", 10)) if lie else (("fresh", 20),), reported_before_kw=2.0 - off,
        peer_residual_kw=off, peer_scale_kw=0.05, peer_revision_kw=off, peer_revision_scale_kw=0.05,
    )


@pytest.mark.parametrize("kind", sorted(DETECTORS))
def test_detector_contract(kind: str) -> None:
    """Every detector kind: a day of honest observations raises no alarm, a persistent lie (every
    value off by far) raises one within 3 steps, and an agent that reported nothing raises none."""
    cls = DETECTORS[kind]
    agent = "coordinator" if cls.district else "a"
    detector = cls()
    battery = kind == "soc_consistency"
    honest = [detector.score(_observation(agent, k, False, battery)) for k in range(96)]
    lying = [detector.score(_observation(agent, 96 + k, True, battery)) for k in range(3)]
    assert all(s is not None and not s.alarm for s in honest)
    assert any(s is not None and s.alarm for s in lying) and lying[-1] is not None
    assert lying[-1].score > max(s.score for s in honest if s is not None) and lying[-1].detector == kind
    silent = detector.score(Observation(agent, 0, None, None))
    assert silent is None or not silent.alarm


def test_a_sensor_bias_reaches_the_controller(tmp_path: Path) -> None:
    """`sensor_bias` offsets the target's meter reading: its rule-based battery answers it (both
    runs with the same seeded sensor noise, which an attacked run has by default)."""
    base = {
        "name": "sensor", "start": "2024-03-20T06:00:00", "duration": "4h", "step": "15min", "seed": 3,
        "buildings": [{"name": "bat", "count": 2, "pv_kwp": 6, "battery": {"capacity_kwh": 10}}],
        "grid": {"network": "kerber_landnetz_kabel_1"},
        "controller": {"kind": "rule_based", "transport": "inprocess"},
        "sensors": {"noise": {}},  # the noise an attacked run has by default, in both runs
    }
    attacked = {**base, "attacks": [{"kind": "sensor_bias", "target": "bat-001", "start": "1h",
                                     "duration": "1h", "magnitude": 1.5}]}
    runs = [run_scenario(Scenario.model_validate(d), tmp_path / n, echo=lambda _t: None)
            for n, d in (("clean", base), ("attacked", attacked))]
    clean, hit = (read_table(r.out_dir, "setpoints") for r in runs)
    window = (clean["time_s"] >= 3600) & (clean["time_s"] < 7200)
    target = clean["entity"] == "bat-001"
    # before the window both runs are equal; in it the target's battery is asked ~1.5 kW less
    pd.testing.assert_frame_equal(clean[clean["time_s"] < 3600], hit[hit["time_s"] < 3600])
    delta = (hit["battery_p_set_kw"] - clean["battery_p_set_kw"])[window & target]
    assert (delta < -0.5).any()
    assert (hit["battery_p_set_kw"] - clean["battery_p_set_kw"])[window & ~target].abs().max() < 1e-9


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attacks": [{"kind": "nope", "target": "house-001", "magnitude": 1}]}, "unknown attack kind"),
        ({"attacks": [{"kind": "admm_bias", "target": "nobody", "magnitude": 1}]}, "no agent 'nobody'"),
        ({"detection": {"detectors": [{"kind": "nope"}]}}, "unknown detector kind 'nope'"),
        ({"controller": {"kind": "rule_based", "transport": "inprocess"}}, "attacks a 'admm' controller"),
        ({"attacks": [{"kind": "admm_stealthy", "target": "house-001", "magnitude": 1,
                       "params": {"step0": 1}}]},
         r"attacks.0.params: step0 unknown for kind 'admm_stealthy'; allowed: step0_kw"),
        ({"attacks": [{"kind": "admm_bias", "target": "house-001", "magnitude": 1, "quantity": "soc"}]},
         "attacks.0.quantity: 'soc' for kind 'admm_bias'"),
        ({"detection": {"detectors": [{"kind": "peer_consistency", "params": {"drif": 1}}]}},
         "peer_consistency params: drif: Extra inputs are not permitted"),
        ({"detection": {"detectors": [{"kind": "peer_consistency", "threshold_kw": 1}]}},
         r"peer_consistency: use threshold \(in σ\)"),
    ],
)
def test_attack_sections_name_what_to_change(change: dict[str, object], message: str) -> None:
    data = {**_variant(True).model_dump(), **change}
    with pytest.raises(ValidationError, match=message):
        Scenario.model_validate(data)


def test_sensor_noise_is_seeded_and_on_by_default_with_attacks() -> None:
    from cosim.control.sensors import noisy
    from cosim.scenario.attacks import SensorNoise, sensor_noise

    assert sensor_noise(_variant(True)) == SensorNoise()  # attacks or detection: on by default
    assert sensor_noise(_variant(False, attack=False)) is None  # otherwise exact sensors
    received: dict[str, dict[str, float | None]] = {
        "a": {"p_kw": 2.0, "soc": 0.999, "t_in_c": 20.0}, "b": {"p_kw": -1.0, "soc": None}
    }
    first, again = (noisy(received, SensorNoise(), (5, 7)) for _ in range(2))
    assert first == again and first != noisy(received, SensorNoise(), (5, 8))
    assert first["a"]["p_kw"] != 2.0 and 0.0 <= (first["a"]["soc"] or 0.0) <= 1.0
    assert first["b"]["soc"] is None


@pytest.mark.network
def test_over_mqtt_the_attacker_is_caught_the_same_way(
    fdi_runs: dict[str, RunSummary], tmp_path: Path
) -> None:
    """The same scenario with the agents on MQTT: the compromised agent is an agent process of its
    own kind (`admm-compromised`), the bridge checks every agent's claims as they arrive, and the
    coordinator takes the quarantined agent's trusted estimate: the same detection and quarantine,
    the limit holds."""
    data = _variant(True).model_dump()
    data["controller"] = {**data["controller"], "transport": "mqtt"}
    mqtt = run_scenario(Scenario.model_validate(data), tmp_path / "mqtt", echo=lambda _t: None)
    for table in ("quarantine", "attacks"):
        expected = read_table(fdi_runs["on"].out_dir, table)
        pd.testing.assert_frame_equal(read_table(mqtt.out_dir, table), expected)
    alarms = read_table(mqtt.out_dir, "detections")
    assert set(alarms[alarms["alarm"]]["entity"]) == {"house-003"}
    assert mqtt.kpis["limit"]["exceeded_h"] == 0.0
    assert mqtt.kpis["security"]["detected_share"] == 1.0


def test_cosim_plot_draws_the_attack_timeline(fdi_runs: dict[str, RunSummary], small_run: RunSummary) -> None:
    from cosim.results.plots import plot_run

    made = {p.name for p in plot_run(fdi_runs["on"].out_dir)}
    assert "attack_timeline.png" in made
    assert (fdi_runs["on"].out_dir / "figures" / "attack_timeline.png").stat().st_size > 10_000
    assert "attack_timeline.png" not in {p.name for p in plot_run(small_run.out_dir)}  # no attacks, none


def test_a_setpoint_bias_reaches_the_battery(tmp_path: Path) -> None:
    """`setpoint_bias` alters the target's battery setpoint between agent and battery: the battery
    follows the altered setpoint (recorded as the setpoint the device got)."""
    base = {
        "name": "actuator", "start": "2024-03-20T10:00:00", "duration": "2h", "step": "15min", "seed": 3,
        "buildings": [{"name": "bat", "count": 2, "battery": {"capacity_kwh": 10, "soc_init": 0.5}}],
        "grid": {"network": "kerber_landnetz_kabel_1"},
        "controller": {"kind": "none", "transport": "inprocess"},  # batteries idle unless attacked
        "attacks": [{"kind": "setpoint_bias", "target": "bat-002", "start": "30min", "magnitude": -1.5}],
    }
    run = run_scenario(Scenario.model_validate(base), tmp_path / "run", echo=lambda _t: None)
    batteries = read_table(run.out_dir, "batteries")
    target = batteries[batteries["entity"] == "bat-002.battery"].sort_values("time_s")
    assert (target[target["time_s"] < 1800]["p_kw"] == 0).all()
    assert (target[target["time_s"] >= 1800]["p_kw"] < -1.0).all()  # discharging 1.5 kW
    assert (batteries[batteries["entity"] == "bat-001.battery"]["p_kw"] == 0).all()


def test_an_attacked_run_never_reports_itself_clean(
    fdi_runs: dict[str, RunSummary], small_run: RunSummary
) -> None:
    """kpis.json's run.clean: false with the reasons when attacks were injected, alarms raised,
    messages dropped or rejected, agents late or ADMM fell back; true for a clean run."""
    for run in fdi_runs.values():
        assert run.kpis["run"]["clean"] is False
        assert any("attacks injected" in r for r in run.kpis["run"]["not_clean_because"])
    assert any("anomaly alarms" in r for r in fdi_runs["on"].kpis["run"]["not_clean_because"])
    assert small_run.kpis["run"]["clean"] is True and small_run.kpis["run"]["not_clean_because"] == []


def test_an_actuator_attack_is_seen_by_the_battery_s_own_power(tmp_path: Path) -> None:
    """`setpoint_bias` on an ADMM agent's battery: what the agent claimed for a step and what its
    meter drew differ by the altered power, which the check sees through the battery's own power."""
    data = _variant(True).model_dump()
    data["attacks"] = [{"kind": "setpoint_bias", "target": "bat-001", "start": "3h", "magnitude": 2.0}]
    run = run_scenario(Scenario.model_validate(data), tmp_path / "actuator", echo=lambda _t: None)
    security = run.kpis["security"]
    assert security["detected_share"] == 1.0 and security["steps_to_detect_median"] <= 3
    alarms = read_table(run.out_dir, "detections")
    assert set(alarms[alarms["alarm"]]["entity"]) == {"bat-001"}


ALL_AT_ONCE = [  # (attack, the detector that must catch it within 3 steps)
    ({"kind": "admm_stealthy", "target": "house-001", "start": "3h", "magnitude": 1.0}, "plan_revision"),
    ({"kind": "network_replay", "target": "house-002", "start": "3h", "magnitude": 4}, "message_check"),
    ({"kind": "network_drop", "target": "house-006", "start": "3h", "magnitude": 1.0}, "message_check"),
    ({"kind": "sensor_bias", "target": "house-004", "start": "3h", "magnitude": 0.2}, "meter_consistency"),
    ({"kind": "sensor_bias", "target": "bat-001", "quantity": "soc", "start": "3h", "magnitude": 0.1},
     "soc_consistency"),
    # from 04:00, when the batteries discharge under the binding limit (idle, the lie changes nothing)
    ({"kind": "flex_lie", "target": "bat-002", "start": "4h", "magnitude": 1.0}, "peer_consistency"),
    ({"kind": "coordinator_limit", "target": "coordinator", "start": "4h", "magnitude": 0.2}, "limit_check"),
]


def test_every_class_of_attack_is_caught_by_its_detector(tmp_path: Path) -> None:
    """Six agents attacked at once in six ways and the coordinator compromised, on the attack-fdi
    feeder with the guard set of detectors (perfect forecasts, sensor noise): each attack is caught
    by the detector meant for it within 3 control steps, the honest house raises no alarm, and the
    rounds still converge while only agents are attacked (a lost or replayed agent is muted, then
    quarantined)."""
    data = load_scenario(FDI).model_dump()
    data["duration"] = 6 * 3600
    data["attacks"] = [attack for attack, _ in ALL_AT_ONCE]
    guard = ["peer_consistency", "plan_revision", "meter_consistency", "soc_consistency", "message_check",
             "limit_check"]
    data["detection"] = {
        "detectors": [{"kind": "plan_consistency", "threshold": 2.0}, *({"kind": k} for k in guard)]
    }
    run = run_scenario(Scenario.model_validate(data), tmp_path / "all", echo=lambda _t: None)
    detections = read_table(run.out_dir, "detections")
    alarms = detections[detections["alarm"].astype(bool)]
    for attack, detector in ALL_AT_ONCE:
        start = int(pd.Timedelta(attack["start"]).total_seconds())
        hit = alarms[(alarms["entity"] == attack["target"]) & (alarms["detector"] == detector)
                     & (alarms["observed_s"] >= start)]
        assert not hit.empty, (attack["kind"], detector)
        assert (hit["time_s"].min() - start) // 900 <= 3, (attack["kind"], int(hit["time_s"].min()))
    assert alarms[alarms["entity"] == "house-005"].empty  # the honest one
    # until the coordinator is compromised too (04:00), the rounds converge: the dropped and the
    # replayed agent are muted (their last update stands in), then quarantined
    steps = read_table(run.out_dir, "admm_steps")
    assert steps.loc[steps["time_s"] < 4 * 3600, "converged"].all()


@pytest.mark.parametrize("kind", ["admm_bias", "admm_scale", "admm_random", "admm_stealthy"])
def test_over_mqtt_a_compromised_agent_tells_the_same_lie(kind: str) -> None:
    """Over MQTT the compromised agent is an agent process of its own (`admm-compromised`): for every
    ADMM lie, the agent the run would start reports exactly what the in-process attack reports,
    from the attack's first step on, and the truth before it."""
    from controllers.runtime import create_agent
    from cosim.control.agents import admm_agent_specs

    data = _variant(True).model_dump()
    data["controller"]["transport"] = "mqtt"
    data["attacks"] = [{"kind": kind, "target": "house-003", "start": "3h", "magnitude": 0.7, "seed": 4,
                        "params": {"step0_kw": 0.1} if kind == "admm_stealthy" else {}}]
    scenario = Scenario.model_validate(data)
    assert scenario.controller.admm is not None
    spec = next(s for s in admm_agent_specs(scenario, scenario.controller.admm) if s.agent_id == "house-003")
    assert spec.kind == "admm-compromised"
    agent = create_agent(spec.kind, spec.agent_id, **spec.params)
    attack = ATTACKS[kind].from_config(scenario.attacks[0])
    for tick in (11, 12, 13):  # 02:45, then the attack from 03:00
        update = LocalUpdate("house-003", tick, 2, np.array([1.0, 2.0, 3.0]), 0.0, 0.0, 1, "solved")
        told = agent.reported(update).p_net_kw  # type: ignore[attr-defined]
        expected = attack.update(tick * 900, update).p_net_kw
        np.testing.assert_array_equal(told, expected)
        assert (tick < 12) == np.array_equal(told, update.p_net_kw)


def test_cosim_compare_shows_what_detection_saved(fdi_runs: dict[str, RunSummary], tmp_path: Path) -> None:
    """`cosim compare` of attack-fdi without and with detection (the scenario's third command): both
    runs' limit KPIs side by side, the undetected run over the limit, the guarded one not, and the
    comparison figure written."""
    from typer.testing import CliRunner

    from cosim.cli.app import app

    figure = tmp_path / "compare.png"
    result = CliRunner().invoke(app, ["compare", str(fdi_runs["off"].out_dir), str(fdi_runs["on"].out_dir),
                                      "--out", str(figure)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "off" in flat and "on" in flat and "exceeded" in flat
    assert figure.stat().st_size > 10_000
    off, on = fdi_runs["off"].kpis["limit"]["exceeded_h"], fdi_runs["on"].kpis["limit"]["exceeded_h"]
    assert off > 0 and on == 0
    assert f"{off:g}" in flat or f"{off:.2f}" in flat


def test_over_mqtt_the_bridge_counts_each_agent_s_round_messages() -> None:
    """`message_check` over MQTT: the updates the bridge heard of an agent in a step of 5 rounds —
    a duplicate, one of the step before, two rounds unanswered."""
    from cosim.control.admm import _counts

    heard = [(7, 0), (7, 1), (7, 1), (6, 4), (7, 2)]
    counts = _counts(heard, 7, 5)
    assert counts == {"fresh": 3, "duplicate": 1, "stale": 1, "missing": 2}
    detector = DETECTORS["message_check"]()
    score = detector.score(Observation("a", 0, 1.0, 1.0, messages=tuple(sorted(counts.items()))))
    assert score is not None and score.score == 4.0 and score.alarm


def test_a_coordinator_s_false_decisions_break_its_dual_update(tmp_path: Path) -> None:
    """A compromised coordinator that tells the agents of room that is not there (`coordinator_z`)
    while keeping its own books: its broadcasts no longer add up (u⁺ ≠ u + x̄ − z̄), which every agent
    can check, so `dual_consistency` raises the alarm on the first attacked step and never before."""
    data = load_scenario(FDI).model_dump()
    data["duration"] = 5 * 3600
    data["attacks"] = [{"kind": "coordinator_z", "target": "coordinator", "start": "3h", "magnitude": 0.3}]
    data["detection"] = {"detectors": [{"kind": "dual_consistency"}]}
    run = run_scenario(Scenario.model_validate(data), tmp_path / "z", echo=lambda _t: None)
    detections = read_table(run.out_dir, "detections")
    assert set(detections["entity"]) == {"coordinator"}
    alarmed = detections[detections["alarm"].astype(bool)]["observed_s"]
    before = detections[detections["observed_s"] < 3 * 3600]["score"]
    assert alarmed.min() == 3 * 3600 and (before < 1e-6).all()
