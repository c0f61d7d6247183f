"""Peer-to-peer ADMM benchmark (no coordinator), in process: rounds, gap and time versus N and graph.

For N agents (a sixth standalone batteries, the rest heat-pump buildings) over 24 h in 1-h steps
with the transformer limit at 80 % of the uncoordinated peak, it runs one control step of
`experiments.admm_peer.run_peer_to_peer` on a ring and on a line (neighbours in feeder order) and
solves the same problem centralised with cvxpy (Clarabel).

Columns: `rounds` until the stopping test on the edge copies holds; `gap` (J_p2p − J_central) /
|J_central|; `excess` the largest transformer excess relative to the limit; `messages` agent-to-
agent messages; `wall` the in-process wall time (sequential local solves); `central` the
centralised wall time; `ratio` central / p2p wall.

    python benchmarks/bench_admm_peer.py [--sizes 6 12 24 48] [--rho 0.02]
"""

from __future__ import annotations

import argparse

import numpy as np

from controllers.admm import AdmmAgent, SharedLimits
from controllers.mpc import solve_centralised
from experiments.admm_peer import PeerSettings, line_graph, ring_graph, run_peer_to_peer
from experiments.synthetic_district import DistrictSpec, synthetic_district

HORIZON = 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 12, 24, 48])
    parser.add_argument("--rho", type=float, default=0.02)
    parser.add_argument("--max-iterations", type=int, default=3000)
    args = parser.parse_args()
    print("| N | graph | rounds | converged | gap | excess (rel) | messages | wall [s] | central [s] "
          "| ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        n_storage = max(1, n // 6)
        agents = synthetic_district(DistrictSpec(n_buildings=n - n_storage, n_storage=n_storage,
                                                 horizon=HORIZON, seed=1))
        free = np.stack([AdmmAgent(a).solve_alone().p_net_kw for a in agents])
        limits = SharedLimits.transformer(0.8 * float(free.sum(axis=0).max()), HORIZON)
        central = solve_centralised(agents, limits)
        settings = PeerSettings(rho=args.rho, max_iterations=args.max_iterations)
        for name, edges in (("ring", ring_graph(n)), ("line", line_graph(n))):
            r = run_peer_to_peer(agents, limits, edges, settings)
            gap = (r.objective - central.objective) / abs(central.objective)
            excess = r.max_violation_kw / float(limits.p_max_kw[0])
            print(f"| {n} | {name} | {r.iterations} | {'yes' if r.converged else 'no'} | {gap * 100:.4f} % | "
                  f"{excess:.1e} | {r.messages} | {r.wall_time_s:.1f} | {central.wall_time_s:.2f} | "
                  f"{central.wall_time_s / r.wall_time_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
