"""A run's results: the Parquet writer and reader (`writer`), KPIs (`kpis`), figures (`plots`).

`read_table(out_dir, "buildings")` reads one table of a run (its parts and compacted files alike).
"""

from cosim.results.writer import ResultsExistError, ResultsWriter, read_table

__all__ = ["ResultsExistError", "ResultsWriter", "read_table"]
