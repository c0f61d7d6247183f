"""An LP handed to HiGHS once and re-solved after its column bounds change (a hot start).

cvxpy builds a new HiGHS model for every solve; re-solving an 8760-step LP after fixing a few
hundred variables then costs as much as the first solve. :class:`HotLP` compiles a cvxpy problem
with the public ``Problem.get_problem_data``, passes it to one ``highspy.Highs`` (as cvxpy's own
HiGHS interface does), and after ``fix`` re-runs from the previous basis; every solve's values and
duals are written back into the problem's variables and constraints with
``Problem.unpack_results``.
"""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import cvxpy.settings as cps
import highspy
import numpy as np


class HotLP:
    """``problem`` (an LP) in one HiGHS instance; ``options`` are HiGHS options (name → value)."""

    def __init__(self, problem: cp.Problem, options: dict[str, Any] | None = None) -> None:
        if problem.is_mixed_integer():
            raise ValueError("HotLP solves LPs only")
        self.problem = problem
        data, self._chain, self._inverse = problem.get_problem_data(cp.HIGHS)
        self._columns: dict[int, int] = dict(data[cps.PARAM_PROB].var_id_to_col)
        self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self.highs.setOptionValue("log_to_console", False)
        for name, value in (options or {}).items():
            if self.highs.setOptionValue(name, value) == highspy.HighsStatus.kError:
                raise ValueError(f"HiGHS refused option {name}={value!r}")
        self.highs.passModel(_highs_model(data))

    def run(self) -> str:
        """Solve (from the last basis after the first time) and write the solution back; returns the
        cvxpy status (``optimal``, ``infeasible``, …)."""
        self.highs.run()
        results: dict[str, Any] = {
            "solution": self.highs.getSolution(),
            "basis": self.highs.getBasis(),
            "info": self.highs.getInfo(),
            "model_status": self.highs.getModelStatus().name,
            "run_time": self.highs.getRunTime(),
        }
        if results["model_status"] == "kInfeasible":
            results["dual_ray"] = self.highs.getDualRay()  # type: ignore[attr-defined]
        self.problem.unpack_results(results, self._chain, self._inverse)
        return str(self.problem.status)

    def fix(self, variable: cp.Variable, values: np.ndarray) -> None:
        """Fix every entry of ``variable`` (lower = upper bound) at ``values``, in cvxpy's column order."""
        start = self._columns[variable.id]
        flat = np.asarray(values, dtype=float).reshape(-1, order="F")
        columns = np.arange(start, start + flat.size, dtype=np.int32)
        self.highs.changeColsBounds(flat.size, columns, flat, flat)


def _highs_model(data: dict[Any, Any]) -> highspy.HighsModel:
    """HiGHS model of cvxpy's conic LP data (equalities first, then ≤ rows; column bounds)."""
    inf = highspy.kHighsInf
    eq_rows = int(data[cps.DIMS].zero)
    leq_rows = int(data[cps.DIMS].nonneg)
    a_matrix = data[cps.A].tocsc()
    upper = np.asarray(data[cps.B], dtype=float)
    lower = np.concatenate([upper[:eq_rows], np.full(leq_rows, -inf)])
    model = highspy.HighsModel()
    lp = model.lp_
    lp.num_col_, lp.num_row_ = a_matrix.shape[1], a_matrix.shape[0]
    lp.offset_ = 0
    lp.col_cost_ = np.asarray(data[cps.C], dtype=float)
    lp.row_lower_, lp.row_upper_ = lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a_matrix.indptr
    lp.a_matrix_.index_ = a_matrix.indices
    lp.a_matrix_.value_ = a_matrix.data
    col_lower, col_upper = data[cps.LOWER_BOUNDS], data[cps.UPPER_BOUNDS]
    lp.col_lower_ = np.full(lp.num_col_, -inf) if col_lower is None else np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.full(lp.num_col_, inf) if col_upper is None else np.asarray(col_upper, dtype=float)
    return model
