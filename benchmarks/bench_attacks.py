"""Attack × detector matrix on the ADMM feeder of `scenarios/attack-fdi.yaml` (in process, with the
sensor noise an attacked scenario has by default and the controllers' perfect-twin forecasts).

For every attack (kind, magnitude, target, start) the scenario runs three times: without the attack
(once, shared), attacked with detection and quarantine, and attacked with detection only (alarms
recorded, nothing done: the damage undetected). Printed per attack: detected within 3 control
steps, steps to detect, false positives per agent-step (alarms on agents and steps not attacked),
and the impact against the clean run — energy above the transformer limit and cost — without and
with quarantine. A clean multi-day run gives the false-positive rate over at least 100 agent-days.

Magnitudes: ADMM update attacks at 5 % and 20 % of a house's heat-pump range (and a larger one);
sensor biases at 3σ and 10σ of the meter noise at the feeder's typical house load (and 1 kW).

Efficiency against risk (`--sweep`): the detector's threshold swept over an attack-free day and
the same day with the compromised agent of attack-fdi (under-reporting 0.2 kW and 3 kW: 5 % and
75 % of a heat pump's range), quarantine on. For each threshold: the efficiency lost to false
positives (the attack-free day's cost with detection minus without) against the damage avoided
(the energy above the limit without detection minus with it; the cost is printed too: an
undetected attacker makes the district cheaper by breaking the limit). Plotted to `--figure`.

Run: `python benchmarks/bench_attacks.py [--threshold-kw 0.5] [--clean-days 13]` or
`python benchmarks/bench_attacks.py --sweep [--figure results/bench-attacks/efficiency_risk.png]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cosim.results.writer import read_table
from cosim.run import RunSummary, run_scenario
from cosim.scenario.attacks import SensorNoise
from cosim.scenario.model import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "attack-fdi.yaml"
HP_RANGE_KW = 4.0  # about a house's heat-pump range on this feeder (0 to its maximum electric power)
TYPICAL_LOAD_KW = 2.0  # a house's typical metered load here, for the noise's σ


@dataclass(frozen=True)
class Case:
    kind: str
    magnitude: float
    label: str
    target: str
    start_h: int


def cases() -> list[Case]:
    noise = SensorNoise()
    sigma = noise.p_kw_rel * TYPICAL_LOAD_KW + noise.p_kw_abs
    out = []
    for target, start_h in (("house-003", 3), ("bat-001", 16)):
        for share in (0.05, 0.2, 0.75):
            out.append(Case("admm_bias", share * HP_RANGE_KW, f"{share:.0%} of HP range", target, start_h))
        for k in (3, 10):
            out.append(Case("sensor_bias", k * sigma, f"{k}σ", target, start_h))
        out.append(Case("sensor_bias", 1.0, "1 kW", target, start_h))
    target, start_h = "house-003", 3  # every other kind once, where the limit binds
    out += [
        Case("admm_scale", 0.2, "20 % less", target, start_h),
        Case("admm_random", 1.0, "±1 kW", target, start_h),
        Case("sensor_scale", 0.2, "+20 %", target, start_h),
        Case("sensor_drift", 0.5, "0.5 kW/h", target, start_h),
        Case("sensor_freeze", 0.0, "frozen", target, start_h),
        Case("sensor_noise", 0.5, "σ 0.5 kW", target, start_h),
        Case("setpoint_bias", 2.0, "+2 kW", "bat-001", start_h),
    ]
    return out


def _scenario(base: Scenario, threshold_kw: float, attack: Case | None, quarantine: bool) -> Scenario:
    data = base.model_dump()
    data["detection"] = {
        "detectors": [{"kind": "plan_consistency", "threshold_kw": threshold_kw}],
        "quarantine": quarantine,
        "release_after": 7200,
    }
    data["attacks"] = (
        []
        if attack is None
        else [{"kind": attack.kind, "target": attack.target, "start": attack.start_h * 3600,
               "magnitude": attack.magnitude}]
    )
    data["sensors"] = {"noise": SensorNoise().model_dump()}  # the same noise in every run
    return Scenario.model_validate(data)


def _excess_kwh(run: RunSummary) -> float:
    return float(run.kpis["limit"]["excess_kwh"])


def _false_positives(run: RunSummary, attack: Case | None) -> tuple[int, int]:
    detections = read_table(run.out_dir, "detections")
    per_step = detections.groupby(["observed_s", "entity"])["alarm"].any().reset_index()
    if attack is not None:
        attacked = (per_step["entity"] == attack.target) & (per_step["observed_s"] >= attack.start_h * 3600)
        per_step = per_step[~attacked]
    return int(per_step["alarm"].sum()), len(per_step)


SWEEP_KW = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0)


def _same_spot(points: list[tuple[float, float, float]]) -> dict[tuple[float, float], list[float]]:
    """The thresholds that land on the same (efficiency lost, damage avoided) point, by point."""
    spots: dict[tuple[float, float], list[float]] = {}
    for threshold, lost, avoided in points:
        spots.setdefault((round(lost, 2), round(avoided, 1)), []).append(threshold)
    return spots


def sweep(base: Scenario, tmp: Path, figure: Path, console: Console) -> None:
    """Efficiency against risk over the detector's threshold (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quiet: dict[str, Any] = {"echo": lambda _t: None}
    off = {"detection": None}
    clean = run_scenario(_scenario(base, 1.0, None, True).model_copy(update=off), tmp / "s-clean", **quiet)
    honest = {
        t: run_scenario(_scenario(base, t, None, True), tmp / f"s-{t}-clean", **quiet) for t in SWEEP_KW
    }
    table = Table(title="efficiency against risk: plan_consistency threshold swept (attack-fdi, 1 day)")
    columns = (
        "attack", "threshold kW", "false alarms (clean day)", "efficiency lost", "damage avoided (kWh)",
        "cost Δ (guarded − undetected)", "detected",
    )
    for column in columns:
        table.add_column(column, justify="right")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for magnitude in (0.2, 3.0):
        attack = Case("admm_bias", magnitude, "attack-fdi", "house-003", 3)
        exposed = run_scenario(
            _scenario(base, 1.0, attack, True).model_copy(update=off), tmp / f"s-{magnitude}-exp", **quiet
        )
        points = []
        for threshold in SWEEP_KW:
            guarded = run_scenario(
                _scenario(base, threshold, attack, True), tmp / f"s-{magnitude}-{threshold}", **quiet
            )
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
        for (lost, avoided), thresholds in _same_spot(points).items():
            span = f"{thresholds[0]:g}" if len(thresholds) == 1 else f"{thresholds[0]:g}–{thresholds[-1]:g}"
            ax.annotate(f"{span} kW", (lost, avoided), textcoords="offset points", xytext=(4, 4), size=8)
    console.print(table)
    currency = clean.kpis["run"]["currency"]
    ax.set_xlabel(f"efficiency lost to false positives (cost of an attack-free day, {currency})")
    ax.set_ylabel("damage avoided (kWh above the limit)")
    ax.set_title("plan_consistency threshold: efficiency against risk")
    ax.legend(loc="center right")
    ax.grid(alpha=0.3)
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(figure, dpi=110)
    console.print(f"figure: {figure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold-kw", type=float, default=0.5)
    parser.add_argument("--clean-days", type=int, default=13, help="days of the attack-free run")
    parser.add_argument("--sweep", action="store_true", help="efficiency against risk over the threshold")
    parser.add_argument("--figure", type=Path, default=Path("results/bench-attacks/efficiency_risk.png"))
    args = parser.parse_args()
    console = Console(width=200)  # a table people paste: never wrapped to a terminal
    if args.sweep:
        tmp = Path(tempfile.mkdtemp(prefix="bench-attacks-"))
        sweep(load_scenario(SCENARIO), tmp, args.figure, console)
        return
    base = load_scenario(SCENARIO)
    tmp = Path(tempfile.mkdtemp(prefix="bench-attacks-"))
    quiet: dict[str, Any] = {"echo": lambda _t: None}

    start = time.perf_counter()
    clean = run_scenario(_scenario(base, args.threshold_kw, None, True), tmp / "clean", **quiet)
    days = _scenario(base, args.threshold_kw, None, True)
    days = days.model_copy(update={"duration": args.clean_days * 86400})
    long_clean = run_scenario(days, tmp / "clean-long", **quiet)
    alarms, agent_steps = _false_positives(long_clean, None)
    agents = base.n_buildings + len(base.storage)
    console.print(
        f"attack-free: {args.clean_days} days × {agents} agents = {args.clean_days * agents} agent-days, "
        f"{alarms} alarms in {agent_steps} agent-steps ({alarms / agent_steps:.4%}); "
        f"threshold {args.threshold_kw} kW"
    )

    table = Table(title=f"attack × plan_consistency (threshold {args.threshold_kw} kW), attack-fdi feeder")
    columns = (
        "attack", "magnitude", "target", "detected ≤3 steps", "steps to detect", "false pos.",
        "excess kWh undetected", "excess kWh quarantined", "cost Δ undetected", "cost Δ quarantined",
    )
    for column in columns:
        table.add_column(column, justify="right")
    detected_count = 0
    all_cases = cases()
    for case in all_cases:
        mitigated = run_scenario(_scenario(base, args.threshold_kw, case, True), tmp / f"{case}-q", **quiet)
        exposed = run_scenario(_scenario(base, args.threshold_kw, case, False), tmp / f"{case}-d", **quiet)
        security = mitigated.kpis["security"]
        detected = security.get("detected_share") == 1.0
        detected_count += detected
        fp, steps = _false_positives(mitigated, case)
        base_cost = clean.kpis["cost"]["total"]
        table.add_row(
            case.kind,
            f"{case.magnitude:.3g} kW ({case.label})",
            f"{case.target} from {case.start_h} h",
            "yes" if detected else "no",
            "–" if (median := security.get("steps_to_detect_median")) is None else f"{median:.0f}",
            f"{fp}/{steps}",
            f"{_excess_kwh(exposed) - _excess_kwh(clean):.2f}",
            f"{_excess_kwh(mitigated) - _excess_kwh(clean):.2f}",
            f"{exposed.kpis['cost']['total'] - base_cost:+.3f}",
            f"{mitigated.kpis['cost']['total'] - base_cost:+.3f}",
        )
    console.print(table)
    console.print(
        f"{detected_count}/{len(all_cases)} attacks detected within 3 control steps; "
        f"wall time {time.perf_counter() - start:.0f} s (results in {tmp})"
    )


if __name__ == "__main__":
    main()
