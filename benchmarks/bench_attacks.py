"""Attack × detector matrix on the ADMM feeder of `scenarios/attack-fdi.yaml` (in process), under
honest conditions: the sensor noise an attacked scenario has by default and the data-driven
forecasts of issue 19 (`forecast: {kind: gbt}`; `--perfect` for the twin's exact forecasts).

The detectors (the guard set, `GUARD`): `peer_consistency` (claims against the bus, less the
district's common forecast error), `plan_consistency` at 2 kW (the gross lies at once),
`plan_revision` (lies about later steps), `meter_consistency` and `soc_consistency` (sensors),
`message_check` (drop, delay, replay, flood), `limit_check` and `dual_consistency` (the
coordinator).

For every attack (kind, magnitude, target, start) the scenario runs three times: without the attack
(once, shared), attacked with detection and quarantine, and attacked with detection only (alarms
recorded, nothing done: the damage undetected). Printed per attack: detected within 3 control
steps (the alarm known by then), steps to detect, false positives per agent-step (alarms on agents
and steps not attacked), and the impact against the clean run — energy above the transformer limit
and cost — without and with quarantine. A clean multi-day run gives the false-positive rate over at
least 100 agent-days, per detector. Outsider spoofing (no valid credentials) is checked at the
secured plane's verifiers (`cosim security`): forged clock, decision, update, plan, measurement and
setpoint, each must be rejected.

Magnitudes: ADMM update attacks at 5 %, 20 % and 75 % of a house's heat-pump range; sensor attacks
at 3σ and 10σ of the sensor's noise (the meter's at the feeder's typical house load; the battery
management system's state of charge).

Efficiency against risk (`--sweep`): a detector's threshold (`--sweep-detector`, default
`peer_consistency`) swept over an attack-free day and the same day with the compromised agent of
attack-fdi (under-reporting 0.2 kW and 3 kW: 5 % and 75 % of a heat pump's range), quarantine on,
under the same conditions. For each threshold: the efficiency lost to false positives (the
attack-free day's cost with detection minus without) against the damage avoided (the energy above
the limit without detection minus with it). Plotted to `--figure`.

Detection overhead (`--overhead`): the attack-free day with no `detection:` section against the same
day with the guard set (quarantine on), alternated `--repeats` times: wall time per control step and
per ADMM round, and the ratio.

Run: `python benchmarks/bench_attacks.py [--workers 2] [--clean-days 13]`,
`python benchmarks/bench_attacks.py --sweep [--figure results/bench-attacks/efficiency_risk.png]`, or
`python benchmarks/bench_attacks.py --overhead`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from cosim.control.sensors import meter_sigma_kw
from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.attacks import SensorNoise
from cosim.scenario.model import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "attack-fdi.yaml"
HP_RANGE_KW = 4.0  # about a house's heat-pump range on this feeder (0 to its maximum electric power)
TYPICAL_LOAD_KW = 2.0  # a house's typical metered load here, for the meter noise's σ
GUARD: list[dict[str, Any]] = [
    {"kind": "peer_consistency"},
    {"kind": "plan_consistency", "threshold": 2.0},
    {"kind": "plan_revision"},
    {"kind": "meter_consistency"},
    {"kind": "soc_consistency"},
    {"kind": "message_check"},
    {"kind": "limit_check"},
    {"kind": "dual_consistency"},
]


@dataclass(frozen=True)
class Case:
    kind: str
    magnitude: float
    label: str
    target: str
    start_h: int
    family: str  # compromised agent, sensor, actuator, network, coordinator
    quantity: str = "p_kw"
    params: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.quantity}-{self.magnitude:g}-{self.target}"


def cases() -> list[Case]:
    noise = SensorNoise()
    meter_sigma = meter_sigma_kw(noise, TYPICAL_LOAD_KW)
    house, bat, start = "house-003", "bat-001", 3
    out = [Case("admm_bias", share * HP_RANGE_KW, f"{share:.0%} of HP range", house, start, "agent")
           for share in (0.05, 0.2, 0.75)]
    out += [
        Case("admm_scale", 0.2, "20 % less", house, start, "agent"),
        Case("admm_random", 1.0, "±1 kW", house, start, "agent"),
        Case("admm_stealthy", 1.0, "1 kW on later steps", house, start, "agent (stealthy)"),
        Case("admm_stealthy", 1.0, "1 kW later, 0.1 kW now", house, start, "agent (stealthy)",
             params={"step0_kw": 0.1}),
        Case("flex_lie", 1.0, "battery withheld", bat, start, "agent"),
    ]
    for k in (3, 10):
        out.append(Case("sensor_bias", k * meter_sigma, f"{k}σ meter", house, start, "sensor"))
        out.append(Case("sensor_bias", k * noise.soc, f"{k}σ SoC", bat, start, "sensor", quantity="soc"))
    out += [
        Case("sensor_scale", 0.2, "+20 % meter", house, start, "sensor"),
        Case("sensor_drift", 0.5, "0.5 kW/h meter", house, start, "sensor"),
        Case("sensor_freeze", 0.0, "frozen meter", house, start, "sensor"),
        Case("sensor_freeze", 0.0, "frozen SoC", bat, start, "sensor", quantity="soc"),
        Case("sensor_noise", 0.5, "σ 0.5 kW meter", house, start, "sensor"),
        Case("setpoint_bias", 2.0, "+2 kW battery", bat, start, "actuator"),
        # from 04:00, when the limit binds on this day (before, a false limit changes nothing)
        Case("coordinator_limit", 0.2, "limit +20 %", "coordinator", 4, "coordinator"),
        Case("coordinator_z", 0.3, "z̄ +0.3 kW per agent", "coordinator", start, "coordinator"),
        Case("network_drop", 0.5, "half the updates", house, start, "network"),
        Case("network_delay", 2.0, "2 steps", house, start, "network"),
        Case("network_replay", 4.0, "recorded 4 steps before", house, start, "network"),
        Case("network_flood", 5.0, "5 copies a round", house, start, "network"),
    ]
    return out


def _scenario(
    base: Scenario,
    attack: Case | None,
    quarantine: bool,
    perfect: bool,
    detectors: list[dict[str, Any]] | None = None,
) -> Scenario:
    data = base.model_dump()
    data["detection"] = {"detectors": GUARD if detectors is None else detectors, "quarantine": quarantine,
                         "release_after": 7200}
    data["attacks"] = (
        []
        if attack is None
        else [{"kind": attack.kind, "target": attack.target, "start": attack.start_h * 3600,
               "magnitude": attack.magnitude, "quantity": attack.quantity, "params": attack.params}]
    )
    data["sensors"] = {"noise": SensorNoise().model_dump()}  # the same noise in every run
    if not perfect:
        data["forecast"] = {"kind": "gbt"}
    return Scenario.model_validate(data)


def _run(job: tuple[Scenario, Path]) -> RunSummary:
    scenario, out = job
    return run_scenario(scenario, out, echo=lambda _t: None)


def _excess_kwh(run: RunSummary) -> float:
    return float(run.kpis["limit"]["excess_kwh"])


def _false_positives(run: RunSummary, attack: Case | None) -> tuple[int, int]:
    detections = read_table(run.out_dir, "detections")
    per_step = detections.groupby(["observed_s", "entity"])["alarm"].any().reset_index()
    if attack is not None:
        attacked = (per_step["entity"] == attack.target) & (per_step["observed_s"] >= attack.start_h * 3600)
        per_step = per_step[~attacked]
    return int(per_step["alarm"].sum()), len(per_step)


def _first_alarm(run: RunSummary, attack: Case) -> str:
    """The detector(s) that raised the target's first alarm."""
    detections = read_table(run.out_dir, "detections")
    hit = detections[(detections["entity"] == attack.target) & detections["alarm"].astype(bool)
                     & (detections["observed_s"] >= attack.start_h * 3600)]
    if hit.empty:
        return "–"
    first = hit[hit["time_s"] == hit["time_s"].min()]
    return ", ".join(sorted(set(first["detector"])))


def matrix(base: Scenario, args: argparse.Namespace, console: Console) -> None:
    """The attack × detector matrix and the attack-free false positives (see the module docstring)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-attacks-"))
    all_cases = [c for c in cases() if not args.only or c.kind in args.only.split(",")]
    start = time.perf_counter()
    days = max(args.clean_days, 1)  # --clean-days 0: the one clean day only (a quick look at some attacks)
    long = _scenario(base, None, True, args.perfect).model_copy(update={"duration": days * 86400})
    jobs = [(long, tmp / "clean-long"), (_scenario(base, None, True, args.perfect), tmp / "clean")]
    for k, case in enumerate(all_cases):
        jobs.append((_scenario(base, case, True, args.perfect), tmp / f"{k:02d}-{case.name}-q"))
        jobs.append((_scenario(base, case, False, args.perfect), tmp / f"{k:02d}-{case.name}-d"))
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(_run, jobs))
    long_clean, clean = runs[0], runs[1]

    detections = read_table(long_clean.out_dir, "detections")
    agents = base.n_buildings + len(base.storage)
    alarms, agent_steps = _false_positives(long_clean, None)
    conditions = "perfect forecasts" if args.perfect else "gbt forecasts"
    console.print(
        f"attack-free ({conditions}, sensor noise): {days} days × {agents} agents = "
        f"{days * agents} agent-days, {alarms} alarms in {agent_steps} agent-steps "
        f"({alarms / agent_steps:.3%}); by detector (alarms / scored):"
    )
    per = detections.groupby("detector")["alarm"].agg(["sum", "count"])
    console.print("  " + "; ".join(f"{d} {int(r['sum'])}/{int(r['count'])}" for d, r in per.iterrows()))

    table = Table(title=f"attack × guard set, attack-fdi feeder ({conditions}, sensor noise), 1 day")
    columns = (
        "family", "attack", "magnitude", "target", "detected ≤3 steps", "steps", "first alarm by",
        "false pos.", "excess kWh undetected", "excess kWh quarantined", "cost Δ undetected",
        "cost Δ quarantined",
    )
    for column in columns:
        table.add_column(column, justify="right")
    detected_by_family: dict[str, list[bool]] = {}
    base_cost = clean.kpis["cost"]["total"]
    for k, case in enumerate(all_cases):
        mitigated, exposed = runs[2 + 2 * k], runs[3 + 2 * k]
        security = mitigated.kpis["security"]
        detected = security.get("detected_share") == 1.0
        detected_by_family.setdefault(case.family, []).append(detected)
        fp, steps = _false_positives(mitigated, case)
        table.add_row(
            case.family, case.kind, f"{case.magnitude:.3g} ({case.label})",
            f"{case.target} from {case.start_h} h",
            "yes" if detected else "no",
            "–" if (median := security.get("steps_to_detect_median")) is None else f"{median:.0f}",
            _first_alarm(mitigated, case), f"{fp}/{steps}",
            f"{_excess_kwh(exposed) - _excess_kwh(clean):+.2f}",
            f"{_excess_kwh(mitigated) - _excess_kwh(clean):+.2f}",
            f"{exposed.kpis['cost']['total'] - base_cost:+.3f}",
            f"{mitigated.kpis['cost']['total'] - base_cost:+.3f}",
        )
    console.print(table)
    total = sum(sum(v) for v in detected_by_family.values())
    console.print(
        f"{total}/{len(all_cases)} attacks detected within 3 control steps ("
        + ", ".join(f"{f} {sum(v)}/{len(v)}" for f, v in detected_by_family.items())
        + f"); wall time {time.perf_counter() - start:.0f} s on {args.workers} workers (results in {tmp})"
    )
    outsider_spoofing(console)


def outsider_spoofing(console: Console) -> None:
    """Forged messages of an outsider or another agent against the secured plane's verifiers."""
    from controllers.messages import AdmmDecisionBody, AdmmUpdateBody, Message, MessageFactory, decode, encode
    from controllers.signing import Keyring, SigningMiddleware
    from controllers.topics import Kind, TopicScheme
    from cosim.security import init_security

    run, prefix = "r1", "sec"
    where = Path(tempfile.mkdtemp(prefix="bench-spoof-")) / "sec"
    folder = init_security(["b01", "b02"], where, prefix=prefix)
    scheme = TopicScheme(run, prefix)
    own = folder.client("b01").keyring.hmac_keys["b01"]  # what a compromised b01 holds
    update = AdmmUpdateBody(p_net_kw=[1.0], local_cost=0.0, solve_time_s=0.0, solver_iterations=1,
                            solver_status="solved")
    bridge, coordinator = MessageFactory(run, "bridge"), MessageFactory(run, "coordinator")
    b02, planner = MessageFactory(run, "b02"), MessageFactory(run, "planner")
    decision = AdmmDecisionBody(iterations=1, converged=True)
    forgeries: dict[str, tuple[str, Kind, str, Message]] = {  # label: (receiver, kind, topic owner, message)
        "final clock": ("b02", Kind.CLOCK, "bridge", bridge.clock(3, 2700, final=True)),
        "ADMM decision": ("b02", Kind.ADMM_Z, "coordinator", coordinator.admm_z(3, 1, decision)),
        "ADMM update of b02": ("coordinator", Kind.ADMM_X, "b02", b02.admm_x(3, 0, update)),
        "plan for b02": ("b02", Kind.PLAN, "b02", planner.plan(0, 0, 900, {"p": [9.0]})),
        "measurement tick 99999": ("b02", Kind.MEAS, "b02", bridge.meas(99999, {"p_kw": 1.0})),
        "setpoint of b02": ("bridge", Kind.SETPOINT, "b02", b02.setpoint(3, {"p_kw": 9.0})),
    }
    table = Table(title="outsider and cross-agent spoofing against the secured control plane's verifiers")
    for column in ("forged message", "unsigned (outsider)", "signed with b01's own key"):
        table.add_column(column, justify="right")
    for label, (receiver, kind, topic_owner, message) in forgeries.items():
        topic = scheme.topic(kind, topic_owner)
        verifier = folder.client(receiver).middleware()
        unsigned = verifier.incoming(receiver, topic, cast(Message, decode(encode(message))))
        signer = SigningMiddleware(Keyring({message.sender: own, topic_owner: own}))
        signed = encode(signer.outgoing(message.sender, topic, message))
        forged = verifier.incoming(receiver, topic, cast(Message, decode(signed)))
        verdicts = ["rejected" if m is None else "TAKEN" for m in (unsigned, forged)]
        table.add_row(label, *verdicts)
    console.print(table)


SWEEP = {"peer_consistency": (2.0, 4.0, 6.0, 10.0, 20.0),
         "plan_consistency": (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0)}


def _same_spot(points: list[tuple[float, float, float]]) -> dict[tuple[float, float], list[float]]:
    """The thresholds that land on the same (efficiency lost, damage avoided) point, by point."""
    spots: dict[tuple[float, float], list[float]] = {}
    for threshold, lost, avoided in points:
        spots.setdefault((round(lost, 2), round(avoided, 1)), []).append(threshold)
    return spots


def sweep(base: Scenario, args: argparse.Namespace, console: Console) -> None:
    """Efficiency against risk over a detector's threshold (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tmp = Path(tempfile.mkdtemp(prefix="bench-attacks-"))
    kind, perfect = args.sweep_detector, args.perfect
    thresholds = SWEEP[kind]

    def guard(threshold: float) -> list[dict[str, Any]]:
        return [{"kind": kind, "threshold": threshold}]

    off = {"detection": None}
    lies = (0.2, 3.0)
    jobs = [(_scenario(base, None, True, perfect).model_copy(update=off), tmp / "s-clean")]
    jobs += [(_scenario(base, None, True, perfect, guard(t)), tmp / f"s-{t}-clean") for t in thresholds]
    for magnitude in lies:
        attack = Case("admm_bias", magnitude, "attack-fdi", "house-003", 3, "agent")
        undetected = _scenario(base, attack, True, perfect).model_copy(update=off)
        jobs.append((undetected, tmp / f"s-{magnitude}-exp"))
        jobs += [
            (_scenario(base, attack, True, perfect, guard(t)), tmp / f"s-{magnitude}-{t}") for t in thresholds
        ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(_run, jobs))
    clean, honest = runs[0], dict(zip(thresholds, runs[1:1 + len(thresholds)], strict=True))
    conditions = "perfect forecasts" if perfect else "gbt forecasts"
    unit = "σ" if kind == "peer_consistency" else "kW"
    table = Table(title=f"efficiency against risk: {kind} threshold swept (attack-fdi, 1 day, {conditions})")
    columns = (
        "attack", f"threshold {unit}", "false alarms (clean day)", "efficiency lost", "damage avoided (kWh)",
        "cost Δ (guarded − undetected)", "detected",
    )
    for column in columns:
        table.add_column(column, justify="right")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    offset = 1 + len(thresholds)
    for m, magnitude in enumerate(lies):
        exposed = runs[offset + m * offset]
        guarded_runs = runs[offset + m * offset + 1: offset + (m + 1) * offset]
        points = []
        for threshold, guarded in zip(thresholds, guarded_runs, strict=True):
            lost = honest[threshold].kpis["cost"]["total"] - clean.kpis["cost"]["total"]
            avoided_kwh = _excess_kwh(exposed) - _excess_kwh(guarded)
            cost_delta = guarded.kpis["cost"]["total"] - exposed.kpis["cost"]["total"]
            detected = guarded.kpis["security"].get("detected_share") == 1.0
            points.append((threshold, lost, avoided_kwh))
            false_alarms = _false_positives(honest[threshold], None)[0]
            table.add_row(
                f"{magnitude:g} kW under-reported", f"{threshold:g}", str(false_alarms),
                f"{lost:+.3f}", f"{avoided_kwh:.2f}", f"{cost_delta:+.3f}", "yes" if detected else "no",
            )
        ax.plot([p[1] for p in points], [p[2] for p in points], marker="o", label=f"{magnitude:g} kW lie")
        for (lost, avoided), ts in _same_spot(points).items():
            span = f"{ts[0]:g}" if len(ts) == 1 else f"{ts[0]:g}–{ts[-1]:g}"
            ax.annotate(f"{span} {unit}", (lost, avoided), textcoords="offset points", xytext=(4, 4), size=8)
    console.print(table)
    currency = clean.kpis["run"]["currency"]
    ax.set_xlabel(f"efficiency lost to false positives (cost of an attack-free day, {currency})")
    ax.set_ylabel("damage avoided (kWh above the limit)")
    ax.set_title(f"{kind} threshold: efficiency against risk ({conditions})")
    ax.legend(loc="center right")
    ax.grid(alpha=0.3)
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(args.figure, dpi=110)
    console.print(f"figure: {args.figure}")


def overhead(base: Scenario, args: argparse.Namespace, console: Console) -> None:
    """Wall time per step and per ADMM round without a `detection:` section and with the guard set."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-attacks-"))
    plain = _scenario(base, None, True, True).model_copy(update={"detection": None, "sensors": None})
    guarded = _scenario(base, None, True, True)
    times: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    for r in range(args.repeats):
        for label, scenario in (("off", plain), ("on", guarded)):
            run = _run((scenario, tmp / f"{label}-{r}"))
            steps = read_table(run.out_dir, "admm_steps").merge(
                read_table(run.out_dir, "admm_steps_timing"), on=["time_s", "entity"], suffixes=("", "_t")
            )
            per_step_ms = float(steps["wall_time_ms"].median())
            per_round_ms = float((steps["wall_time_ms"] / steps["iterations"].clip(lower=1)).median())
            times[label].append((per_step_ms, per_round_ms))
    title = f"detection overhead, attack-fdi feeder in process ({args.repeats} runs each, medians)"
    table = Table(title=title)
    for column in ("", "ADMM step ms", "per round ms"):
        table.add_column(column, justify="right")
    med = {
        k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in times.items()
    }
    table.add_row("no detection section", f"{med['off'][0]:.1f}", f"{med['off'][1]:.2f}")
    table.add_row("guard set (8 detectors)", f"{med['on'][0]:.1f}", f"{med['on'][1]:.2f}")
    table.add_row("ratio", f"{med['on'][0] / med['off'][0]:.2f}", f"{med['on'][1] / med['off'][1]:.2f}")
    console.print(table)
    console.print(round_overhead(guarded))


def round_overhead(scenario: Scenario, agents: int = 8, horizon: int = 16, steps: int = 200) -> str:
    """The detection's own work per ADMM round, in isolation (CPU time): a coordinator's rounds
    alone against the same rounds through the defence's screen and the watched coordinator (the
    in-process path with detection on), 10 rounds a step, synthetic updates."""
    import numpy as np

    from controllers.admm import AdmmSettings, Coordinator, Coupling
    from controllers.admm.data import SharedLimits
    from controllers.admm.messages import LocalUpdate
    from cosim.control.defence import Defence

    names = [f"a{i}" for i in range(agents)]
    limits = SharedLimits.transformer(14.0, horizon)
    coordinator = Coordinator(Coupling.from_limits(tuple(names), limits), AdmmSettings())
    defence = Defence(scenario, None)
    rounds = [
        [LocalUpdate(n, tick, k, np.full(horizon, 1.0 + 0.01 * k), 0.0, 0.0, 1, "solved") for n in names]
        for tick in range(steps) for k in range(10)
    ]

    def alone() -> float:
        start = time.process_time()
        for tick in range(steps):
            coordinator.start_step(tick)
            coordinator.initial_broadcast()
            for k in range(10):
                coordinator.coordinate(rounds[tick * 10 + k])
        return (time.process_time() - start) / (steps * 10)

    def guarded_rounds() -> float:
        start = time.process_time()
        for tick in range(steps):
            coordinator.start_step(tick)
            watched = defence.watch(coordinator, tick * 900)
            watched.initial_broadcast()
            screen = defence.screen(tick * 900, tick, names, lambda _a: np.zeros(horizon))
            for k in range(10):
                watched.coordinate(screen(rounds[tick * 10 + k]))
            defence.dual_residual_kw(), defence.claims(), defence.next_claims(), defence.message_counts()
        return (time.process_time() - start) / (steps * 10)

    plain = min(alone() for _ in range(3))
    guarded = min(guarded_rounds() for _ in range(3))
    return (
        f"per round in isolation ({agents} agents, horizon {horizon}, CPU time, best of 3): the coordinator "
        f"{plain * 1e6:.0f} µs, with the defence's screen and the dual-update check {guarded * 1e6:.0f} µs: "
        f"+{(guarded - plain) * 1e6:.0f} µs a round (an agent's local solve takes ~700 µs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean-days", type=int, default=13, help="days of the attack-free run")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--perfect", action="store_true", help="exact forecasts (the twin's)")
    parser.add_argument("--sweep", action="store_true", help="efficiency against risk over the threshold")
    parser.add_argument("--sweep-detector", choices=sorted(SWEEP), default="peer_consistency")
    parser.add_argument("--figure", type=Path, default=Path("results/bench-attacks/efficiency_risk.png"))
    parser.add_argument("--overhead", action="store_true", help="detection's cost per step and per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="only these attack kinds (comma-separated)")
    args = parser.parse_args()
    console = Console(width=220)  # a table people paste: never wrapped to a terminal
    base = load_scenario(SCENARIO)
    if args.sweep:
        sweep(base, args, console)
    elif args.overhead:
        overhead(base, args, console)
    else:
        matrix(base, args, console)


if __name__ == "__main__":
    main()
