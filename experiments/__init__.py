"""Research variants and test data, kept apart from the product packages.

- `admm_peer`: peer-to-peer ADMM without a coordinator (in process; `benchmarks/bench_admm_peer.py`);
- `admm_asynchronous`: a partial-barrier (asynchronous) coordinator, simulated in process;
- `synthetic_district`: seeded synthetic districts of ADMM agents for the tests and benchmarks.

Nothing in `cosim`, `controllers`, `simulators` or `planner` imports them.
"""
