"""Aggregated heat-network model calibrated by the detailed one (the urban-planning study's
multi-scale approach). Pure NumPy on top of `HeatNetworkModel`; no mosaik here.

The network is cut into clusters of nodes: the trunk (segments serving several side streets) and
`n_groups` groups of neighbouring side streets. For each cluster c the aggregated model has

- a polynomial loss function of its load share x_c (its substations' demand over their design
  load; the trunk's is the whole network's), the ground temperature T_g and the plant's supply
  temperature T_s (a known control variable: the heating curve, or the planner's decision):
      loss_c = Σ_{i=0..d} a_ci x_c^i + (b_c + e_c x_c) T_g + (f_c + g_c x_c) T_s      (kW)
  (the study names load and ground temperature; at equal load the losses also follow the supply
  temperature, e.g. a summer hot-water peak at 70 °C against a winter hour at 85 °C, and without
  T_s the fit stays 3–12 % off on the detailed runs)
- a fictive storage for the thermal inertia of its water: the heat it holds
      E_c = k_c0 + k_c1 T_s + k_c2 x_c                                  (kWh)
  with T_s the plant's supply temperature; k_c1 (kWh/K) is its capacity per kelvin of supply
  temperature, and the storage's usable capacity k_c1 (T_s,max − T_s,min).

The heat the plant puts into the network is then Σ demand + Σ_c loss_c + ΔΣ_c E_c / Δt, as in the
detailed model. Both are fitted by least squares to detailed runs (`run_detailed`).

Calibration loop (`calibrate`): fit on the runs so far (polynomial degree d, from 1); run the
detailed model on the next calibration period and compare; while the aggregated losses miss the
detailed ones by more than the threshold (normalised RMS error of the network's loss per step),
add that period's run to the fit data, raise d (up to `max_degree`) and repeat. The result is
finally checked on a held-out period never used for fitting or checking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.heat_network.layout import Topology, segment_street
from simulators.heat_network.model import HeatNetworkModel, ground_temperature_c
from simulators.heat_network.params import NetworkParams
from simulators.heat_network.profiles import demand_kw


@dataclass(frozen=True, eq=False)
class Cluster:
    """A cluster of nodes: its segments and substations (indices) and its design load (kW)."""

    name: str
    segments: np.ndarray
    substations: np.ndarray
    design_kw: float


def make_clusters(topology: Topology, n_groups: int = 4) -> list[Cluster]:
    """The trunk plus `n_groups` groups of neighbouring side streets (fewer if there are fewer
    streets). The trunk's load is the whole network's."""
    seg_street = segment_street(topology)
    sub_street = np.asarray(topology.street)
    design = np.asarray(topology.design_kw)
    n_streets = int(sub_street.max()) + 1
    groups = min(n_groups, n_streets)
    clusters = [Cluster("trunk", np.flatnonzero(seg_street < 0), np.arange(topology.n_substations),
                        float(design.sum()))]
    group_of_street = np.arange(n_streets) * groups // n_streets
    for g in range(groups):
        streets = np.flatnonzero(group_of_street == g)
        subs = np.flatnonzero(np.isin(sub_street, streets))
        clusters.append(Cluster(f"streets_{g}", np.flatnonzero(np.isin(seg_street, streets)), subs,
                                float(design[subs].sum())))
    return clusters


@dataclass(frozen=True, eq=False)
class Period:
    """Inputs of a detailed run: hourly times, outdoor and ground temperatures (°C) and the
    substations' demands (steps × substations, kW)."""

    name: str
    times: pd.DatetimeIndex
    t_out_c: np.ndarray
    t_ground_c: np.ndarray
    demand_kw: np.ndarray


def make_period(name: str, start: str, days: int, topology: Topology, seed: int = 1,
                tz: str = "Europe/Paris") -> Period:
    """`days` of hourly synthetic weather (the platform's generator, Paris) and demands."""
    from simulators.sources.weather import Site, synthetic_weather

    times = pd.date_range(pd.Timestamp(start, tz=tz), periods=24 * days, freq="h")
    weather = synthetic_weather(times, Site(48.85, 2.35, 35.0, tz), seed)
    doy = np.asarray(times.dayofyear, dtype=float) + np.asarray(times.hour) / 24.0
    demands = demand_kw(times, weather.t_out_c, np.asarray(topology.design_kw), seed)
    return Period(name, times, np.asarray(weather.t_out_c), ground_temperature_c(doy), demands)


@dataclass(frozen=True, eq=False)
class DetailedRun:
    """What the aggregated model is fitted to, per step (and cluster): load share `x`, ground and
    supply temperatures, losses and water heat per cluster, total demand and the network heat.
    Steps that did not converge are left out."""

    period: str
    x: np.ndarray
    t_ground_c: np.ndarray
    t_supply_c: np.ndarray
    loss_kw: np.ndarray
    e_water_kwh: np.ndarray
    demand_kw: np.ndarray
    q_network_kw: np.ndarray
    converged_share: float


def run_detailed(params: NetworkParams, topology: Topology, period: Period,
                 clusters: list[Cluster]) -> DetailedRun:
    """Step a fresh detailed model through `period` (hourly) and collect the cluster quantities."""
    model = HeatNetworkModel(params, topology)
    net = model.network
    rho_cp = net.fluid.rho_kg_m3 * net.fluid.cp_j_kgk / 3.6e6  # kWh per m³ and K
    rows: list[tuple[np.ndarray, float, float, np.ndarray, np.ndarray, float, float]] = []
    steps = len(period.times)
    for k in range(steps):
        s = model.step(period.demand_kw[k], float(period.t_out_c[k]), float(period.t_ground_c[k]), 1.0)
        if not s.converged:
            continue
        f = s.flow
        seg_loss = f.loss_supply_kw + f.loss_return_kw
        seg_water = rho_cp * net.volume_m3 * (f.t_mean_supply_c + f.t_mean_return_c)
        x = np.array([s.q_demand_kw[c.substations].sum() / c.design_kw for c in clusters])
        rows.append((x, float(period.t_ground_c[k]), s.t_supply_set_c,
                     np.array([seg_loss[c.segments].sum() for c in clusters]),
                     np.array([seg_water[c.segments].sum() for c in clusters]),
                     float(s.q_demand_kw.sum()), f.q_pump_kw + s.q_water_kw))
    if not rows:
        raise RuntimeError(f"period {period.name}: no step of the detailed model converged")
    x, tg, ts, loss, water, demand, qnet = (np.array(col) for col in zip(*rows, strict=True))
    return DetailedRun(period.name, x, tg, ts, loss, water, demand, qnet, len(rows) / steps)


def features(x: np.ndarray, t_ground_c: np.ndarray, t_supply_c: np.ndarray, degree: int) -> np.ndarray:
    """[1, x, …, x^degree, T_g, x·T_g, T_s, x·T_s] per row."""
    cols = [x**i for i in range(degree + 1)] + [t_ground_c, x * t_ground_c, t_supply_c, x * t_supply_c]
    return np.column_stack(cols)


@dataclass(frozen=True, eq=False)
class AggregatedModel:
    """Per cluster: loss polynomial coefficients (`loss_coef`, clusters × features) and fictive
    storage coefficients (`water_coef`, clusters × [1, T_s, x])."""

    clusters: list[Cluster]
    degree: int
    loss_coef: np.ndarray
    water_coef: np.ndarray

    def loss_kw(self, x: np.ndarray, t_ground_c: np.ndarray, t_supply_c: np.ndarray) -> np.ndarray:
        """Losses per step and cluster (steps × clusters)."""
        return np.column_stack([features(x[:, c], t_ground_c, t_supply_c, self.degree) @ self.loss_coef[c]
                                for c in range(len(self.clusters))])

    def water_kwh(self, x: np.ndarray, t_supply_c: np.ndarray) -> np.ndarray:
        """Heat held by each cluster's water (the fictive storage's content, steps × clusters)."""
        return np.column_stack([np.column_stack([np.ones_like(t_supply_c), t_supply_c, x[:, c]])
                                @ self.water_coef[c] for c in range(len(self.clusters))])

    def storage_capacity_kwh(self, t_supply_min_c: float, t_supply_max_c: float) -> np.ndarray:
        """Usable capacity of each cluster's fictive storage over the supply-temperature range."""
        return np.asarray(self.water_coef[:, 1] * (t_supply_max_c - t_supply_min_c))

    def q_network_kw(self, demand_kw: np.ndarray, x: np.ndarray, t_ground_c: np.ndarray,
                     t_supply_c: np.ndarray, dt_h: float = 1.0) -> np.ndarray:
        """Heat the plant puts into the network per step: demand + losses + fictive storage change
        (zero at the first step, as in the detailed model)."""
        water = self.water_kwh(x, t_supply_c).sum(axis=1)
        change = np.concatenate([[0.0], np.diff(water)]) / dt_h
        return np.asarray(demand_kw + self.loss_kw(x, t_ground_c, t_supply_c).sum(axis=1) + change)


def fit(runs: list[DetailedRun], clusters: list[Cluster], degree: int) -> AggregatedModel:
    """Least-squares fit of every cluster's loss polynomial and fictive storage to `runs`."""
    x = np.concatenate([r.x for r in runs])
    tg = np.concatenate([r.t_ground_c for r in runs])
    ts = np.concatenate([r.t_supply_c for r in runs])
    loss = np.concatenate([r.loss_kw for r in runs])
    water = np.concatenate([r.e_water_kwh for r in runs])
    loss_coef, water_coef = [], []
    for c in range(len(clusters)):
        loss_coef.append(np.linalg.lstsq(features(x[:, c], tg, ts, degree), loss[:, c], rcond=None)[0])
        a = np.column_stack([np.ones_like(ts), ts, x[:, c]])
        water_coef.append(np.linalg.lstsq(a, water[:, c], rcond=None)[0])
    return AggregatedModel(clusters, degree, np.array(loss_coef), np.array(water_coef))


@dataclass(frozen=True)
class Comparison:
    """Aggregated against detailed on one run. `loss_nrmse`: RMS of the per-step error of the
    network's total loss over its mean; `loss_energy_error`: relative error of the loss summed over
    the run; `q_network_nrmse`: the same RMS measure for the plant's network heat."""

    period: str
    steps: int
    loss_nrmse: float
    loss_energy_error: float
    q_network_nrmse: float


def compare(model: AggregatedModel, run: DetailedRun) -> Comparison:
    loss_det = run.loss_kw.sum(axis=1)
    loss_agg = model.loss_kw(run.x, run.t_ground_c, run.t_supply_c).sum(axis=1)
    q_agg = model.q_network_kw(run.demand_kw, run.x, run.t_ground_c, run.t_supply_c)
    mean_loss = float(loss_det.mean())
    return Comparison(
        period=run.period, steps=len(loss_det),
        loss_nrmse=float(np.sqrt(np.mean((loss_agg - loss_det) ** 2)) / mean_loss),
        loss_energy_error=float(abs(loss_agg.sum() - loss_det.sum()) / loss_det.sum()),
        q_network_nrmse=float(np.sqrt(np.mean((q_agg - run.q_network_kw) ** 2)) / run.q_network_kw.mean()),
    )


@dataclass(frozen=True)
class Iteration:
    """One pass of the calibration loop: the polynomial degree, the hours fitted to, and the check."""

    iteration: int
    degree: int
    fitted_hours: int
    check: Comparison


@dataclass(frozen=True, eq=False)
class Calibration:
    model: AggregatedModel
    iterations: list[Iteration]
    held_out: Comparison
    threshold: float
    met: bool


def calibrate(params: NetworkParams, topology: Topology, periods: list[Period], held_out: Period, *,
              threshold: float = 0.03, max_degree: int = 3, n_groups: int = 4) -> Calibration:
    """The calibration loop of the module docstring over `periods` (the first is fitted first, the
    others check in turn), then the check on `held_out`. `met` says whether a check came within
    `threshold` before the periods ran out."""
    if len(periods) < 2:
        raise ValueError("calibrate needs at least two periods: one to fit, one to check")
    clusters = make_clusters(topology, n_groups)
    runs = [run_detailed(params, topology, periods[0], clusters)]
    degree, iterations, met = 1, [], False
    model = fit(runs, clusters, degree)
    for it, period in enumerate(periods[1:], start=1):
        model = fit(runs, clusters, degree)
        check_run = run_detailed(params, topology, period, clusters)
        check = compare(model, check_run)
        iterations.append(Iteration(it, degree, sum(len(r.x) for r in runs), check))
        if check.loss_nrmse <= threshold:
            met = True
            break
        runs.append(check_run)
        degree = min(degree + 1, max_degree)
    if not met:
        model = fit(runs, clusters, degree)
    held = compare(model, run_detailed(params, topology, held_out, clusters))
    return Calibration(model, iterations, held, threshold, met)


CALIBRATION_PERIODS = (("January", "2023-01-09"), ("July", "2023-07-10"), ("April", "2023-04-10"),
                       ("October", "2023-10-09"), ("December", "2023-12-04"))
HELD_OUT = ("February (held out)", "2023-02-13")


def main() -> None:
    """Calibrate the aggregated model of a parametric district and print the loop's table:
    ``python -m simulators.heat_network.aggregate [--substations N --length-m L --days D]``."""
    import argparse

    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0] if main.__doc__ else None)
    parser.add_argument("--substations", type=int, default=100)
    parser.add_argument("--length-m", type=float, default=7000.0)
    parser.add_argument("--design-kw", type=float, default=30.0)
    parser.add_argument("--days", type=int, default=7, help="length of each calibration period")
    parser.add_argument("--threshold", type=float, default=0.03)
    args = parser.parse_args()
    layout = {"n_substations": args.substations, "total_length_m": args.length_m, "design_kw": args.design_kw}
    params = NetworkParams.from_dict({"layout": layout})
    topology = params.layout.topology(params.control.t_supply_design_c - params.control.t_return_design_c)
    periods = [make_period(name, start, args.days, topology, seed=i + 1)
               for i, (name, start) in enumerate(CALIBRATION_PERIODS)]
    held_out = make_period(HELD_OUT[0], HELD_OUT[1], 7, topology, seed=11)
    cal = calibrate(params, topology, periods, held_out, threshold=args.threshold)
    table = Table(title=f"Aggregated vs detailed heat-network losses: {args.substations} substations, "
                        f"{args.length_m / 1e3:.1f} km, threshold {args.threshold:.0%} (loss NRMSE per step)")
    for name in ("iteration", "degree", "hours fitted", "checked on", "loss NRMSE", "loss energy error",
                 "network heat NRMSE"):
        table.add_column(name, justify="left" if name == "checked on" else "right")
    for it in cal.iterations:
        c = it.check
        table.add_row(str(it.iteration), str(it.degree), str(it.fitted_hours), f"{c.period} ({c.steps} h)",
                      f"{c.loss_nrmse:.2%}", f"{c.loss_energy_error:.2%}", f"{c.q_network_nrmse:.2%}")
    h = cal.held_out
    table.add_row("final", str(cal.model.degree), "", f"{h.period} ({h.steps} h)", f"{h.loss_nrmse:.2%}",
                  f"{h.loss_energy_error:.2%}", f"{h.q_network_nrmse:.2%}")
    console = Console(width=140)
    console.print(table)
    capacity = cal.model.storage_capacity_kwh(params.control.t_supply_min_c, params.control.t_supply_max_c)
    console.print(f"threshold met: {cal.met}; fictive storage capacity per cluster (kWh over "
                  f"{params.control.t_supply_min_c:.0f}-{params.control.t_supply_max_c:.0f} °C supply): "
                  + ", ".join(f"{c.name} {v:.0f}" for c, v in zip(cal.model.clusters, capacity, strict=True)))


if __name__ == "__main__":
    main()
