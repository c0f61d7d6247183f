"""Controller benchmarking: `cosim bench SUITE --controllers ... --out DIR` (docs/benchmarking.md).

- `spec`: suites (scenarios/bench/suites.yaml), sweep files and the `--controllers` list, turned into
  one `RunSpec` per scenario × controller, each with a cache key;
- `runner`: runs the specs (in process, local worker processes, or Dask), reusing finished runs;
- `table`: the benchmark KPIs of each run, normalised by the no-control baseline, and the score;
- `report`: the tidy table (CSV, Parquet, Markdown) and the self-contained HTML report;
- `dsm`: the demand-side-management study of the urban-planning case (`cosim bench-dsm`);
- `cli`: the commands.
"""
