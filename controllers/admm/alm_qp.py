"""A local QP solver for the agents' problems: a proximal augmented Lagrangian with semismooth Newton
inner solves (the method of QPALM, Hermans, Themelis and Patrinos 2022), compiled with numba.

    minimise ½ xᵀ diag(p) x + qᵀ x   subject to   l ≤ A x ≤ u

Between two ADMM rounds only q changes a little (the proximal centre), so the previous round's x, y
and active set are nearly right: warm started, a round costs one to a few Newton steps, where OSQP
needs 10–50 first-order iterations. Each Newton step solves

    (diag(p) + I/γ + A_Jᵀ Σ_J A_J) d = −∇φ(x)        (J: the rows outside [l, u] at x + Σ⁻¹y)

by a sparse Cholesky factorisation whose pattern (that of diag + AᵀA, ordered time step by time
step so the fill stays inside a step) is computed once per `QpLayout` and shared by every agent of
that layout; only the values change. A step whose matrix is the last factor's reuses it; one whose
active set (or Σ, p) differs on a few rows refactorises only the columns in those rows' subtrees of
the elimination tree, with their ancestors (`_refactorise`: bit for bit the full factorisation).
An exact line search on the piecewise quadratic φ follows. Outer iterations update
y = Σ (z − Π(z)) and raise Σ on rows whose violation does not fall.

It stops on OSQP's criteria (unscaled): ‖Ax − Π(Ax)‖∞ ≤ ε_abs + ε_rel max(‖Ax‖∞, ‖Π(Ax)‖∞) and
‖Px + q + Aᵀy‖∞ ≤ ε_abs + ε_rel max(‖Px‖∞, ‖Aᵀy‖∞, ‖q‖∞). A problem it does not solve within its
iteration limits (infeasible data, numerical trouble) is reported as not solved; `LocalQp` then
hands it to OSQP, which decides (and raises `SolverFailure` as without this solver).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
from numba.core import types
from numba.extending import overload

from controllers.admm.data import FloatArray
from controllers.admm.kernels import quadratic_value, segment_quadratics
from controllers.admm.local_qp import QpLayout

IntArray = np.ndarray


def _jit(function: Any) -> Any:
    """numba.njit(cache=True): compiled once (~5 s), then loaded from the cache (~0.4 s a process).
    error_model="numpy": no test for zero before each division (every divisor here is positive or
    tested first), so the loops stay free of those branches: the same numbers, ~3 % less time."""
    return numba.njit(cache=True, error_model="numpy")(function)


def _unsigned(a: IntArray) -> IntArray:
    """a's entries as unsigned 64-bit integers (compiled: a view of an int64 array, no copy). An
    index read from an unsigned array needs no test for a negative (wrap-around) index, which
    numba adds to every signed one it cannot prove non-negative: the sparse kernels below index
    through their pattern arrays with such values, and run 1.5–1.8× faster without those tests."""
    return np.asarray(a).astype(np.uint64)


@overload(_unsigned)
def _unsigned_compiled(a: Any) -> Any:
    def same(a: Any) -> Any:
        return a

    def view(a: Any) -> Any:
        return a.view(np.uint64)

    def converted(a: Any) -> Any:
        return a.astype(np.uint64)

    if isinstance(a, types.Array) and a.dtype == types.uint64:
        return same
    if isinstance(a, types.Array) and a.dtype == types.int64 and a.layout == "C":
        return view
    return converted


# status codes of `alm_solve`
SOLVED = 0
MAX_ITER = 1
NUMERICAL = 2

SIGMA_INIT = 1e3  # Σ_i = SIGMA_INIT / ‖a_i‖² on the first solve, kept (and raised) across solves
SIGMA_MAX = 1e8
GAMMA = 1e6  # the proximal weight 1/γ on x keeps every Newton system positive definite


@dataclass(frozen=True)
class CholeskyPattern:
    """The pattern of L (lower triangular, CSC, diagonal first in each column) of the Newton matrix
    diag + AᵀA in the fill-reducing order `perm` (permuted index = position in `perm`), its rows
    (`row_ptr`, `row_pos`, `row_col`: the entries L[j, k], k < j, by j), and where each
    row's outer product a_i a_iᵀ lands in L's values (`pair_ptr`, `pair_pos`, `pair_a`, `pair_b`:
    the contribution is a[pair_a] · a[pair_b] with positions into A's CSR data)."""

    n: int
    perm: IntArray  # perm[k] = original index of permuted k
    iperm: IntArray  # iperm[j] = permuted index of original j
    lp: IntArray
    li: IntArray
    diag_pos: IntArray  # position of (j, j) in L's values, by permuted j
    row_ptr: IntArray
    row_pos: IntArray
    row_col: IntArray
    pair_ptr: IntArray
    pair_pos: IntArray
    pair_a: IntArray
    pair_b: IntArray
    csr_indptr: IntArray  # A's CSR pattern (the same for every agent of the layout)
    csr_indices: IntArray
    csc_to_csr: IntArray  # A's values in CSR order are a.data[csc_to_csr] (`csr_values`, without scipy)
    csr_rows: IntArray  # the row of each CSR entry

    def factor_arrays(self) -> tuple[IntArray, ...]:
        """The arrays `alm_solve` takes after `sigma`, in its order."""
        return (
            self.iperm,
            self.lp,
            self.li,
            self.row_ptr,
            self.row_pos,
            self.row_col,
            self.pair_ptr,
            self.pair_pos,
            self.pair_a,
            self.pair_b,
        )


def minimum_degree_order(a: sp.csc_matrix) -> IntArray:
    """A fill-reducing order of the variables for the Cholesky factor of diag + AᵀA: greedy minimum
    degree on the graph of AᵀA (ties by index, so the same layout gives the same order). For the
    agents' problems (n ≈ 400–1,300) it takes ~30 ms, once per layout, and needs ~60 % of the
    factor entries and ~40 % of the operations of a time-major order."""
    n = a.shape[1]
    csr = a.tocsr()
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for i in range(csr.shape[0]):
        cols = [int(c) for c in csr.indices[csr.indptr[i] : csr.indptr[i + 1]]]
        for c in cols:
            neighbours[c].update(cols)
    for c in range(n):
        neighbours[c].discard(c)
    alive = set(range(n))
    order: list[int] = []
    while alive:
        v = min(alive, key=lambda j: (len(neighbours[j]), j))
        order.append(v)
        alive.remove(v)
        for w in neighbours[v]:
            neighbours[w].discard(v)
            neighbours[w] |= neighbours[v] - {w}
    return np.asarray(order, dtype=np.int64)


_PATTERNS: dict[tuple[QpLayout, bytes, bytes], CholeskyPattern] = {}


def cholesky_pattern(layout: QpLayout, a: sp.csc_matrix) -> CholeskyPattern:
    """The symbolic factorisation for `layout` and A's pattern (cached: the agents of a layout share it)."""
    key = (layout, np.asarray(a.indptr, np.int64).tobytes(), np.asarray(a.indices, np.int64).tobytes())
    found = _PATTERNS.get(key)
    if found is None:
        found = _PATTERNS[key] = _symbolic(layout, a)
    return found


# up to this many variables the symbolic factorisation runs compiled on dense n × n bitmaps (n² bytes,
# 0.75 MB for a building with a battery over 96 steps: ~2 ms instead of 25–130 ms of Python sets,
# which an agent host paid per layout inside its first control step); above it, the Python sets
DENSE_SYMBOLIC_MAX = 4096


def _symbolic(layout: QpLayout, a: sp.csc_matrix) -> CholeskyPattern:
    n = layout.n_var
    pattern = sp.csc_matrix((np.ones(a.indices.shape[0]), a.indices, a.indptr), shape=a.shape)
    csr = pattern.tocsr()
    csr.sort_indices()
    if n <= DENSE_SYMBOLIC_MAX:
        indptr = np.asarray(csr.indptr, dtype=np.int64)
        indices = np.asarray(csr.indices, dtype=np.int64)
        perm = _minimum_degree_dense(indptr, indices, n)
        iperm = np.empty(n, dtype=np.int64)
        iperm[perm] = np.arange(n)
        arrays = _symbolic_dense(indptr, indices, iperm, n)
        lp, li, row_ptr, row_pos, row_col, pair_ptr, pair_pos, pair_a, pair_b = arrays
        return CholeskyPattern(n, perm, iperm, lp, li, lp[:-1].copy(), row_ptr, row_pos, row_col, pair_ptr,
                               pair_pos, pair_a, pair_b, indptr, indices, *_csr_maps(a))  # fmt: skip
    return _symbolic_sets(layout, a, csr, minimum_degree_order(a))


def _csr_maps(a: sp.csc_matrix) -> tuple[IntArray, IntArray]:
    """(csc_to_csr, csr_rows) of A's pattern (see `CholeskyPattern`)."""
    positions = sp.csc_matrix((np.arange(1, a.nnz + 1, dtype=float), a.indices, a.indptr), shape=a.shape)
    csr = positions.tocsr()
    csr.sort_indices()
    rows = np.repeat(np.arange(a.shape[0], dtype=np.int64), np.diff(csr.indptr))
    return np.asarray(csr.data, dtype=np.int64) - 1, rows


@_jit
def _minimum_degree_dense(indptr: IntArray, indices: IntArray, n: int) -> IntArray:
    """`minimum_degree_order` (the same order: minimum degree, ties by index) on a dense bitmap of
    the elimination graph, from A's CSR pattern."""
    adj = np.zeros((n, n), dtype=np.uint8)
    for i in range(indptr.shape[0] - 1):
        for ka in range(indptr[i], indptr[i + 1]):
            for kb in range(indptr[i], indptr[i + 1]):
                if indices[ka] != indices[kb]:
                    adj[indices[ka], indices[kb]] = 1
    degree = np.zeros(n, dtype=np.int64)
    for v in range(n):
        degree[v] = np.sum(adj[v])
    alive = np.ones(n, dtype=np.uint8)
    order = np.empty(n, dtype=np.int64)
    neighbours = np.empty(n, dtype=np.int64)
    for step in range(n):
        v = -1
        for j in range(n):
            if alive[j] == 1 and (v < 0 or degree[j] < degree[v]):
                v = j
        order[step] = v
        alive[v] = 0
        count = 0
        for w in range(n):
            if adj[v, w] == 1 and alive[w] == 1:
                neighbours[count] = w
                count += 1
        for a in range(count):
            w = neighbours[a]
            adj[w, v] = 0
            degree[w] -= 1
        for a in range(count):
            w = neighbours[a]
            for b in range(count):
                u = neighbours[b]
                if u != w and adj[w, u] == 0:
                    adj[w, u] = 1
                    degree[w] += 1
    return order


@_jit
def _symbolic_dense(
    indptr: IntArray, indices: IntArray, iperm: IntArray, n: int
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray]:
    """`_symbolic_sets`' arrays (lp, li, row_ptr, row_pos, row_col, pair_ptr, pair_pos, pair_a,
    pair_b), equal to them entry by entry, with column j's rows as row j of a dense bitmap."""
    below = np.zeros((n, n), dtype=np.uint8)  # below[c, r] = 1: L[r, c] ≠ 0, r > c
    for i in range(indptr.shape[0] - 1):
        for ka in range(indptr[i], indptr[i + 1]):
            for kb in range(indptr[i], indptr[i + 1]):
                r, c = iperm[indices[ka]], iperm[indices[kb]]
                if r > c:
                    below[c, r] = 1
    lp = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        parent = -1
        count = 0
        for r in range(j + 1, n):
            if below[j, r] == 1:
                count += 1
                if parent < 0:
                    parent = r
                elif r > parent:
                    below[parent, r] = 1
        lp[j + 1] = lp[j] + 1 + count
    li = np.empty(lp[n], dtype=np.int64)
    row_count = np.zeros(n, dtype=np.int64)
    for j in range(n):
        k = lp[j]
        li[k] = j
        for r in range(j + 1, n):
            if below[j, r] == 1:
                k += 1
                li[k] = r
                row_count[r] += 1
    row_ptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n):
        row_ptr[r + 1] = row_ptr[r] + row_count[r]
    row_pos = np.empty(row_ptr[n], dtype=np.int64)
    row_col = np.empty(row_ptr[n], dtype=np.int64)
    cursor = row_ptr[:-1].copy()
    for j in range(n):
        for k in range(lp[j] + 1, lp[j + 1]):
            r = li[k]
            row_col[cursor[r]] = j
            row_pos[cursor[r]] = k
            cursor[r] += 1
    n_rows = indptr.shape[0] - 1
    pair_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(n_rows):
        count = 0
        for ka in range(indptr[i], indptr[i + 1]):
            for kb in range(indptr[i], indptr[i + 1]):
                if iperm[indices[ka]] >= iperm[indices[kb]]:
                    count += 1
        pair_ptr[i + 1] = pair_ptr[i] + count
    pair_pos = np.empty(pair_ptr[n_rows], dtype=np.int64)
    pair_a = np.empty(pair_ptr[n_rows], dtype=np.int64)
    pair_b = np.empty(pair_ptr[n_rows], dtype=np.int64)
    t = 0
    for i in range(n_rows):
        for ka in range(indptr[i], indptr[i + 1]):
            for kb in range(indptr[i], indptr[i + 1]):
                ra, rb = iperm[indices[ka]], iperm[indices[kb]]
                if ra >= rb:
                    lo, hi = lp[rb], lp[rb + 1]  # column rb's rows are sorted: bisect for ra
                    while hi - lo > 1:
                        mid = (lo + hi) // 2
                        if li[mid] <= ra:
                            lo = mid
                        else:
                            hi = mid
                    pair_pos[t] = lo
                    pair_a[t] = ka
                    pair_b[t] = kb
                    t += 1
    return lp, li, row_ptr, row_pos, row_col, pair_ptr, pair_pos, pair_a, pair_b


def _symbolic_sets(layout: QpLayout, a: sp.csc_matrix, csr: sp.csr_matrix, perm: IntArray) -> CholeskyPattern:
    """The symbolic factorisation with Python sets (any n; the reference of `_symbolic_dense`)."""
    n = layout.n_var
    iperm = np.empty(n, dtype=np.int64)
    iperm[perm] = np.arange(n)
    # the pattern of H = I + AᵀA in permuted indices, lower triangle, as sets of rows per column
    cols: list[set[int]] = [set() for _ in range(n)]
    for i in range(csr.shape[0]):
        members = iperm[csr.indices[csr.indptr[i] : csr.indptr[i + 1]]]
        for r in members:
            for c in members:
                if r > c:
                    cols[c].add(int(r))
    # symbolic elimination: column j's pattern joins its parent's (the smallest row below j)
    for j in range(n):
        if cols[j]:
            parent = min(cols[j])
            cols[parent] |= cols[j] - {parent}
    lp = np.zeros(n + 1, dtype=np.int64)
    li_list: list[int] = []
    for j in range(n):
        li_list.append(j)
        li_list.extend(sorted(cols[j]))
        lp[j + 1] = len(li_list)
    li = np.asarray(li_list, dtype=np.int64)
    diag_pos = lp[:-1].copy()
    position = {}
    rows: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for j in range(n):
        for k in range(lp[j], lp[j + 1]):
            position[(int(li[k]), j)] = k
            if k > lp[j]:
                rows[int(li[k])].append((j, k))
    row_ptr = np.cumsum([0] + [len(r) for r in rows])
    row_col = [c for r in rows for c, _ in r]
    row_pos = [k for r in rows for _, k in r]
    pair_ptr = [0]
    pair_pos: list[int] = []
    pair_a: list[int] = []
    pair_b: list[int] = []
    for i in range(csr.shape[0]):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        for ka in range(lo, hi):
            for kb in range(lo, hi):
                ra, rb = int(iperm[csr.indices[ka]]), int(iperm[csr.indices[kb]])
                if ra >= rb:
                    pair_pos.append(position[(ra, rb)])
                    pair_a.append(ka)
                    pair_b.append(kb)
        pair_ptr.append(len(pair_pos))

    def ints(values: list[int] | IntArray) -> IntArray:
        return np.asarray(values, dtype=np.int64)

    return CholeskyPattern(
        n,
        perm,
        iperm,
        lp,
        li,
        diag_pos,
        ints(row_ptr),
        ints(row_pos),
        ints(row_col),
        ints(pair_ptr),
        ints(pair_pos),
        ints(pair_a),
        ints(pair_b),
        ints(csr.indptr),
        ints(csr.indices),
        *_csr_maps(a),
    )


def csr_values(a: sp.csc_matrix) -> FloatArray:
    """A's values in CSR order (sorted column indices), matching `CholeskyPattern.csr_indices`."""
    csr = a.tocsr()
    csr.sort_indices()
    return np.asarray(csr.data, dtype=float)


@_jit
def _row_runs(indptr: IntArray, runs: IntArray) -> int:
    """The runs of consecutive rows of equal length in a CSR pattern (unsigned): runs[r] = (first
    row, end row, length); returns their number (the agents' constraints come in blocks of one kind
    over the horizon: ~10 runs for ~1,000 rows)."""
    m = indptr.shape[0] - 1
    count = 0
    first = 0
    for i in range(1, m + 1):
        if i == m or indptr[i + 1] - indptr[i] != indptr[first + 1] - indptr[first]:
            runs[count, 0] = first
            runs[count, 1] = i
            runs[count, 2] = indptr[first + 1] - indptr[first]
            count += 1
            first = i
    return count


@_jit
def _matvec(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    x: FloatArray,
    out: FloatArray,
    runs: IntArray,
    n_runs: int,
) -> None:
    """out = A x, row by row (each row's sum from 0.0 in the order of its entries), with the rows of
    1, 2, 3 or 4 entries summed without an inner loop (`_row_runs`): a loop per row over so few
    entries costs more than its products."""
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    for r in range(n_runs):
        row0, row1, length = runs[r, 0], runs[r, 1], runs[r, 2]
        k = indptr[row0]
        if length == 1:
            for i in range(row0, row1):
                s = 0.0
                s += data[k] * x[indices[k]]
                out[i] = s
                k += one
        elif length == 2:
            for i in range(row0, row1):
                s = 0.0
                s += data[k] * x[indices[k]]
                s += data[k + one] * x[indices[k + one]]
                out[i] = s
                k += two
        elif length == 3:
            for i in range(row0, row1):
                s = 0.0
                s += data[k] * x[indices[k]]
                s += data[k + one] * x[indices[k + one]]
                s += data[k + two] * x[indices[k + two]]
                out[i] = s
                k += three
        elif length == 4:
            for i in range(row0, row1):
                s = 0.0
                s += data[k] * x[indices[k]]
                s += data[k + one] * x[indices[k + one]]
                s += data[k + two] * x[indices[k + two]]
                s += data[k + three] * x[indices[k + three]]
                out[i] = s
                k += two + two
        else:
            for i in range(row0, row1):
                s = 0.0
                for t in range(indptr[i], indptr[i + 1]):
                    s += data[t] * x[indices[t]]
                out[i] = s


@_jit
def _rmatvec(
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    y: FloatArray,
    out: FloatArray,
    runs: IntArray,
    n_runs: int,
) -> None:
    """out = Aᵀ y (each entry's sum from 0.0 over the rows in order), by the runs of `_row_runs`
    like `_matvec`. Rows with y_i = 0 (the inactive ones) add exact zeros: no branch on them, and
    the same sums (a sum from 0.0 of nonzero terms is never -0.0, so adding ±0.0 changes nothing)."""
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    for j in range(out.shape[0]):
        out[j] = 0.0
    for r in range(n_runs):
        row0, row1, length = runs[r, 0], runs[r, 1], runs[r, 2]
        k = indptr[row0]
        if length == 1:
            for i in range(row0, row1):
                out[indices[k]] += data[k] * y[i]
                k += one
        elif length == 2:
            for i in range(row0, row1):
                yi = y[i]
                out[indices[k]] += data[k] * yi
                out[indices[k + one]] += data[k + one] * yi
                k += two
        elif length == 3:
            for i in range(row0, row1):
                yi = y[i]
                out[indices[k]] += data[k] * yi
                out[indices[k + one]] += data[k + one] * yi
                out[indices[k + two]] += data[k + two] * yi
                k += three
        elif length == 4:
            for i in range(row0, row1):
                yi = y[i]
                out[indices[k]] += data[k] * yi
                out[indices[k + one]] += data[k + one] * yi
                out[indices[k + two]] += data[k + two] * yi
                out[indices[k + three]] += data[k + three] * yi
                k += two + two
        else:
            for i in range(row0, row1):
                yi = y[i]
                for t in range(indptr[i], indptr[i + 1]):
                    out[indices[t]] += data[t] * yi


@_jit
def _row_tops(
    indptr: IntArray, indices: IntArray, iperm: IntArray, runs: IntArray, n_runs: int, tops: IntArray
) -> None:
    """tops[i] = the last (in the factor's order) of row i's variables (0 for an empty row); by the
    runs of `_row_runs`, rows of 1, 2 or 4 entries without an inner loop (vectorised gathers)."""
    one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    for r in range(n_runs):
        row0, row1, length = runs[r, 0], runs[r, 1], runs[r, 2]
        k0 = indptr[row0]
        if length == 1:
            for i in range(row0, row1):
                tops[i] = iperm[indices[k0 + (i - row0)]]
        elif length == 2:
            for i in range(row0, row1):
                k = k0 + (i - row0) * two
                tops[i] = max(iperm[indices[k]], iperm[indices[k + one]])
        elif length == 4:
            for i in range(row0, row1):
                k = k0 + (i - row0) * four
                top01 = max(iperm[indices[k]], iperm[indices[k + one]])
                tops[i] = max(top01, max(iperm[indices[k + two]], iperm[indices[k + three]]))
        else:
            for i in range(row0, row1):
                top = np.uint64(0)
                for k in range(indptr[i], indptr[i + one]):
                    top = max(top, iperm[indices[k]])
                tops[i] = top


@_jit
def _cholesky(
    lp: IntArray,
    li: IntArray,
    lx: FloatArray,
    row_ptr: IntArray,
    row_pos: IntArray,
    row_col: IntArray,
    work: FloatArray,
) -> bool:
    """In-place left-looking Cholesky of the lower triangle stored in (lp, li, lx) (the matrix's
    entries, zeros at the fill). False if not positive definite. `work` is an n-vector of scratch."""
    return bool(
        _cholesky_columns(lp, li, lx, row_ptr, row_pos, row_col, work, np.zeros(0, dtype=np.uint8), True)
    )


@_jit
def _cholesky_columns(
    lp: IntArray,
    li: IntArray,
    lx: FloatArray,
    row_ptr: IntArray,
    row_pos: IntArray,
    row_col: IntArray,
    work: FloatArray,
    mark: np.ndarray,
    every: bool,
) -> bool:
    """`_cholesky` of every column, or (`every` False) of the columns j with mark[j] == 1 only: each
    from column j of the matrix in lx and the columns k < j of L (one loop body, kept inline)."""
    lp, li, row_ptr, row_pos, row_col = (
        _unsigned(lp), _unsigned(li), _unsigned(row_ptr), _unsigned(row_pos), _unsigned(row_col),
    )  # fmt: skip
    one = np.uint64(1)
    for j in range(lp.shape[0] - 1):
        if not every and mark[j] == 0:
            continue
        start, end = lp[j], lp[j + 1]
        for t in range(start, end):
            work[li[t]] = lx[t]
        for r in range(row_ptr[j], row_ptr[j + 1]):
            pos = row_pos[r]
            ljk = lx[pos]
            for t in range(pos, lp[row_col[r] + one]):
                work[li[t]] -= lx[t] * ljk
        d = work[j]
        if not d > 0.0:
            return False
        d = np.sqrt(d)
        lx[start] = d
        for t in range(start + one, end):
            lx[t] = work[li[t]] / d
    return True


@_jit
def _chol_solve(lp: IntArray, li: IntArray, lx: FloatArray, b: FloatArray) -> None:
    """b ← (L Lᵀ)⁻¹ b in place."""
    lp, li = _unsigned(lp), _unsigned(li)
    one = np.uint64(1)
    n = lp.shape[0] - 1
    for j in range(n):
        start = lp[j]
        b[j] /= lx[start]
        bj = b[j]
        for k in range(start + one, lp[j + 1]):
            b[li[k]] -= lx[k] * bj
    for back in range(n):
        col = np.uint64(n - 1 - back)
        start = lp[col]
        s = b[col]
        for k in range(start + one, lp[col + one]):
            s -= lx[k] * b[li[k]]
        b[col] = s / lx[start]


# a refactorisation recomputes only the columns whose values change when at most this share of them
# do, else all (the same numbers either way)
PARTIAL_MAX = 0.5


@_jit
def _refactorise(
    p: FloatArray,
    z: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    sigma: FloatArray,
    data: FloatArray,
    indptr: IntArray,
    indices: IntArray,
    factor: FloatArray,
    factor_active: IntArray,
    factor_p: FloatArray,
    factor_sigma: FloatArray,
    factor_valid: IntArray,
    iperm: IntArray,
    lp: IntArray,
    li: IntArray,
    row_ptr: IntArray,
    row_pos: IntArray,
    row_col: IntArray,
    pair_ptr: IntArray,
    pair_pos: IntArray,
    pair_a: IntArray,
    pair_b: IntArray,
    work: FloatArray,
    mark: np.ndarray,
    runs: IntArray,
    n_runs: int,
) -> bool:
    """The Cholesky factor of diag(p) + I/γ + A_Jᵀ Σ_J A_J (J: the rows with z outside [lo, hi])
    into `factor`, with the active rows, p and Σ it is made for; False if not positive definite.
    `mark` is an n-vector of scratch; `runs` and `n_runs` those of `_row_runs` for A.

    When `factor` holds a valid factor, only the columns that change are computed again: column c
    of L depends only on the matrix's columns in c's subtree of the elimination tree, so the columns
    outside the subtrees holding a changed row (a row whose activity or active Σ changed) or a
    changed p are the same numbers (the same operations on the same values). Those marked, with
    their ancestors, are assembled (each entry summed in the same order as a full assembly) and
    factorised column by column in increasing order: bit for bit the full factorisation."""
    n, m = p.shape[0], lo.shape[0]
    inv_gamma = 1.0 / GAMMA
    one = np.uint64(1)
    indptr, indices, iperm = _unsigned(indptr), _unsigned(indices), _unsigned(iperm)
    lp, li, row_ptr = _unsigned(lp), _unsigned(li), _unsigned(row_ptr)
    row_pos, row_col, pair_ptr = _unsigned(row_pos), _unsigned(row_col), _unsigned(pair_ptr)
    pair_pos, pair_a, pair_b = _unsigned(pair_pos), _unsigned(pair_a), _unsigned(pair_b)
    marked = n
    if factor_valid[0] == 1:
        for c in range(n):
            mark[c] = 0
        for j in range(n):
            if p[j] != factor_p[j]:
                mark[iperm[j]] = 1
        for i in range(m):
            # | and & rather than `or` and `and`: no branch on a row's activity, which follows no
            # pattern the branch predictor could learn; only on "changed", nearly always false
            active = (z[i] < lo[i]) | (z[i] > hi[i])
            if (np.int64(active) != factor_active[i]) | (active & (sigma[i] != factor_sigma[i])):
                factor_active[i] = np.int64(active)
                for k in range(indptr[i], indptr[i + 1]):
                    mark[iperm[indices[k]]] = 1
            factor_sigma[i] = sigma[i]
        marked = 0
        for c in range(n):  # close upwards: the parent of c is the first row below c in L's column c
            if mark[c] == 1:
                marked += 1
                if lp[c + 1] > lp[c] + one:
                    mark[li[lp[c] + one]] = 1
    else:
        for i in range(m):
            factor_active[i] = 1 if (z[i] < lo[i] or z[i] > hi[i]) else 0
            factor_sigma[i] = sigma[i]
    factor_valid[0] = 0
    for j in range(n):
        factor_p[j] = p[j]
    if marked > PARTIAL_MAX * n:
        for k in range(factor.shape[0]):
            factor[k] = 0.0
        for j in range(n):
            factor[lp[iperm[j]]] += p[j] + inv_gamma
        for i in range(m):
            if factor_active[i] == 1:
                s = sigma[i]
                for k in range(pair_ptr[i], pair_ptr[i + 1]):
                    factor[pair_pos[k]] += s * data[pair_a[k]] * data[pair_b[k]]
        return bool(_cholesky(lp, li, factor, row_ptr, row_pos, row_col, work))
    for c in range(n):
        if mark[c] == 1:
            for t in range(lp[c], lp[c + 1]):
                factor[t] = 0.0
    for j in range(n):
        if mark[iperm[j]] == 1:
            factor[lp[iperm[j]]] += p[j] + inv_gamma
    # a row's variables are a chain of the elimination tree: it reaches a marked column only if its
    # last one (an ancestor of the others) is marked
    tops = np.empty(m, dtype=np.uint64)
    _row_tops(indptr, indices, iperm, runs, n_runs, tops)
    for i in range(m):
        if (factor_active[i] == 1) & (mark[tops[i]] == 1):
            s = sigma[i]
            for k in range(pair_ptr[i], pair_ptr[i + 1]):
                if mark[iperm[indices[pair_b[k]]]] == 1:  # the entry is in that variable's column
                    factor[pair_pos[k]] += s * data[pair_a[k]] * data[pair_b[k]]
    return bool(_cholesky_columns(lp, li, factor, row_ptr, row_pos, row_col, work, mark, False))


@_jit
def _clip(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else (hi if v > hi else v)


@_jit
def _line_search(
    a0: float, b0: float, z: FloatArray, ad: FloatArray, sigma: FloatArray, lo: FloatArray, hi: FloatArray
) -> float:
    """The minimiser τ ≥ 0 of ½ a0 τ² + b0 τ + ½ Σ σ_i dist²(z_i + τ ad_i, [lo_i, hi_i]) (b0 < 0):
    safeguarded Newton on the piecewise linear, nondecreasing derivative (finite on each piece)."""
    left, right = 0.0, np.inf
    tau = 1.0
    for _ in range(60):
        f = a0 * tau + b0
        s = a0
        for i in range(z.shape[0]):
            v = z[i] + tau * ad[i]
            if v < lo[i]:
                f += sigma[i] * ad[i] * (v - lo[i])
                s += sigma[i] * ad[i] * ad[i]
            elif v > hi[i]:
                f += sigma[i] * ad[i] * (v - hi[i])
                s += sigma[i] * ad[i] * ad[i]
        if f == 0.0:
            return tau
        if f < 0.0:
            left = tau
        else:
            right = tau
        new = tau - f / s if s > 0.0 else np.inf
        if np.abs(new - tau) <= 1e-14 * max(1.0, tau):
            return new
        if new <= left or new >= right:
            new = 0.5 * (left + right) if np.isfinite(right) else 2.0 * max(tau, left)
        tau = new
        if right - left <= 1e-14 * max(1.0, right):
            break
    return tau


@_jit
def alm_solve(
    p: FloatArray,
    q: FloatArray,
    indptr: IntArray,
    indices: IntArray,
    data: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    x: FloatArray,
    y: FloatArray,
    sigma: FloatArray,
    factor: FloatArray,
    factor_active: IntArray,
    factor_p: FloatArray,
    factor_sigma: FloatArray,
    factor_valid: IntArray,
    iperm: IntArray,
    lp: IntArray,
    li: IntArray,
    row_ptr: IntArray,
    row_pos: IntArray,
    row_col: IntArray,
    pair_ptr: IntArray,
    pair_pos: IntArray,
    pair_a: IntArray,
    pair_b: IntArray,
    eps_abs: float,
    eps_rel: float,
    max_newton: int,
) -> tuple[int, int, int]:
    """Solve in place from (x, y); returns (status, Newton steps, outer iterations). `sigma` is
    updated in place (kept for the next solve). `factor` keeps the last Cholesky factor with the
    active rows, p and Σ it was made for (`factor_valid[0] == 1`): a Newton step whose matrix is
    the same (the usual case in an ADMM round after the first steps) reuses it."""
    n, m = p.shape[0], lo.shape[0]
    inv_gamma = 1.0 / GAMMA
    indptr, indices, iperm, lp = _unsigned(indptr), _unsigned(indices), _unsigned(iperm), _unsigned(lp)
    pair_ptr, pair_pos, pair_a, pair_b = (
        _unsigned(pair_ptr),
        _unsigned(pair_pos),
        _unsigned(pair_a),
        _unsigned(pair_b),
    )
    scratch = np.empty(6 * m + 6 * n)  # one allocation: the vectors below are slices of it
    ax, y_sigma, z = scratch[0:m], scratch[m : 2 * m], scratch[2 * m : 3 * m]  # y_sigma = y / Σ
    ybar, ad, viol_prev = scratch[3 * m : 4 * m], scratch[4 * m : 5 * m], scratch[5 * m : 6 * m]
    vectors = scratch[6 * m :]
    g, aty, d, dp = vectors[0:n], vectors[n : 2 * n], vectors[2 * n : 3 * n], vectors[3 * n : 4 * n]
    work, xhat = vectors[4 * n : 5 * n], vectors[5 * n : 6 * n]
    for i in range(m):
        viol_prev[i] = np.inf
    for j in range(n):
        xhat[j] = x[j]
    mark = np.empty(n, dtype=np.uint8)
    runs = np.empty((m, 3), dtype=np.uint64)
    n_runs = _row_runs(indptr, runs)
    newton = 0
    qnorm = 0.0
    for j in range(n):
        qnorm = max(qnorm, abs(q[j]))
    for outer in range(200):
        # inner: minimise φ(x) = f(x) + (1/2γ)‖x − x̂‖² + ½ Σ σ dist²(Ax + y/σ, [l, u]) by Newton
        fresh = False  # ax, z, ybar and aty = Aᵀ ybar are those of the current x
        for i in range(m):
            y_sigma[i] = y[i] / sigma[i]
        for _inner in range(50):
            _matvec(indptr, indices, data, x, ax, runs, n_runs)
            for i in range(m):
                z[i] = ax[i] + y_sigma[i]
                ybar[i] = sigma[i] * (z[i] - _clip(z[i], lo[i], hi[i]))
            _rmatvec(indptr, indices, data, ybar, aty, runs, n_runs)
            gnorm = 0.0
            for j in range(n):
                g[j] = p[j] * x[j] + q[j] + (x[j] - xhat[j]) * inv_gamma + aty[j]
                gnorm = max(gnorm, abs(g[j]))
            if gnorm <= 0.2 * (eps_abs + eps_rel * qnorm):
                fresh = True
                break
            if newton >= max_newton:
                return MAX_ITER, newton, outer + 1
            newton += 1
            reuse = factor_valid[0] == 1
            if reuse:
                # without an early exit (the usual answer is "the same", after the whole pass) and
                # with & only, the compiler vectorises these two loops: ~3.5× faster
                for j in range(n):
                    reuse &= p[j] == factor_p[j]
            if reuse:
                for i in range(m):
                    a = np.int64((z[i] < lo[i]) | (z[i] > hi[i]))
                    reuse &= (a == factor_active[i]) & ((a == 0) | (sigma[i] == factor_sigma[i]))
            if not reuse:
                if not _refactorise(
                    p, z, lo, hi, sigma, data, indptr, indices, factor, factor_active, factor_p,
                    factor_sigma, factor_valid, iperm, lp, li, row_ptr, row_pos, row_col, pair_ptr,
                    pair_pos, pair_a, pair_b, work, mark, runs, n_runs,
                ):  # fmt: skip
                    return NUMERICAL, newton, outer + 1
                factor_valid[0] = 1
            for j in range(n):
                dp[iperm[j]] = -g[j]
            _chol_solve(lp, li, factor, dp)
            for j in range(n):
                d[j] = dp[iperm[j]]
            _matvec(indptr, indices, data, d, ad, runs, n_runs)
            a0 = 0.0
            b0 = 0.0
            for j in range(n):
                a0 += d[j] * d[j] * (p[j] + inv_gamma)
                b0 += d[j] * (p[j] * x[j] + q[j] + (x[j] - xhat[j]) * inv_gamma)
            if b0 + 0.0 >= 0.0 and a0 == 0.0:
                return NUMERICAL, newton, outer + 1
            tau = _line_search(a0, b0, z, ad, sigma, lo, hi)
            if not np.isfinite(tau):
                return NUMERICAL, newton, outer + 1
            for j in range(n):
                x[j] += tau * d[j]
        # outer: multipliers, residuals, penalties; the new y is the inner's last ybar at this x
        # (computed again only when the inner loop ended on a step), and Aᵀy its aty
        if not fresh:
            _matvec(indptr, indices, data, x, ax, runs, n_runs)
            for i in range(m):
                z[i] = ax[i] + y_sigma[i]
                ybar[i] = sigma[i] * (z[i] - _clip(z[i], lo[i], hi[i]))
            _rmatvec(indptr, indices, data, ybar, aty, runs, n_runs)
        axn = 0.0
        pn = 0.0
        rp = 0.0
        for i in range(m):
            zi = z[i]
            yn = ybar[i]
            viol = abs(ax[i] - _clip(zi, lo[i], hi[i]))
            if viol > eps_abs and viol > 0.25 * viol_prev[i] and sigma[i] < SIGMA_MAX:
                sigma[i] = min(SIGMA_MAX, 10.0 * sigma[i])
            viol_prev[i] = viol
            y[i] = yn
            c = _clip(ax[i], lo[i], hi[i])
            rp = max(rp, abs(ax[i] - c))
            axn = max(axn, abs(ax[i]))
            pn = max(pn, abs(c))
        rd = 0.0
        pxn = 0.0
        atyn = 0.0
        qn = 0.0
        for j in range(n):
            rd = max(rd, abs(p[j] * x[j] + q[j] + aty[j]))
            pxn = max(pxn, abs(p[j] * x[j]))
            atyn = max(atyn, abs(aty[j]))
            qn = max(qn, abs(q[j]))
        if rp <= eps_abs + eps_rel * max(axn, pn) and rd <= eps_abs + eps_rel * max(pxn, atyn, qn):
            return SOLVED, newton, outer + 1
        for j in range(n):
            xhat[j] = x[j]
    return MAX_ITER, newton, outer + 1


_WARM = [False]


def warm_up() -> None:
    """Load (or compile) the kernels once per process with a one-variable problem, so no agent's
    first round pays for it (~0.4 s from numba's cache, ~5 s to compile)."""
    if _WARM[0]:
        return
    one, zero = np.ones(1), np.zeros(1)
    i0, i01 = np.zeros(1, dtype=np.int64), np.array([0, 1], dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    pattern = (i0, i01, i0, np.zeros(2, dtype=np.int64), empty, empty, i01, i0, i0, i0)
    alm_solve(
        one, zero, i01, i0, one.copy(), -one, one.copy(), zero.copy(), zero.copy(), one.copy(),
        zero.copy(), i0.copy(), zero.copy(), zero.copy(), i0.copy(), *pattern, 1e-6, 1e-6, 10,
    )  # fmt: skip
    offsets = np.array([[0] * 12, [1, 2, 1, 2, 0, 0, 2, 1, 1, 1, 2, 1]], dtype=np.int64)
    alm_solve_batch(
        np.ones(1, dtype=np.int64), i0.copy(), offsets, *pattern, i01, i0,
        np.array([[0, 0, 0, 0], [1, 1, 1, 1]], dtype=np.int64), one, zero, one.copy(), -one, one.copy(),
        zero.copy(), zero.copy(), one.copy(), zero.copy(), i0.copy(), zero.copy(), zero.copy(), i0.copy(),
        np.full(1, 1e-6), np.full(1, 1e-6), 10, i0.copy(), i0.copy(),
    )  # fmt: skip
    i1 = np.array([0, 1], dtype=np.int64)
    _symbolic_dense(i1, i0, _minimum_degree_dense(i1, i0, 1), 1)
    quadratic_value(one, zero, one)  # the agents' local cost after each solve
    segment_quadratics(one, zero, one, np.array([[0, 1]], dtype=np.int64), zero.copy())  # a host's, at once
    _WARM[0] = True


@_jit
def alm_solve_batch(
    todo: IntArray,
    pattern_of: IntArray,
    pattern_offsets: IntArray,
    iperm: IntArray,
    lp: IntArray,
    li: IntArray,
    row_ptr: IntArray,
    row_pos: IntArray,
    row_col: IntArray,
    pair_ptr: IntArray,
    pair_pos: IntArray,
    pair_a: IntArray,
    pair_b: IntArray,
    indptr: IntArray,
    indices: IntArray,
    offsets: IntArray,
    p: FloatArray,
    q: FloatArray,
    data: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    x: FloatArray,
    y: FloatArray,
    sigma: FloatArray,
    factor: FloatArray,
    factor_active: IntArray,
    factor_p: FloatArray,
    factor_sigma: FloatArray,
    factor_valid: IntArray,
    eps_abs: FloatArray,
    eps_rel: FloatArray,
    max_newton: int,
    status: IntArray,
    steps: IntArray,
) -> None:
    """`alm_solve` for every agent i with todo[i] in one call. Agent i's vectors are the slices
    offsets[i, 0:1] (n), offsets[i, 1:2] (m), offsets[i, 2:3] (A's values), offsets[i, 3:4] (L's
    values) of the flat arrays (offsets has one more row); its symbolic factorisation is pattern
    `pattern_of[i]`, whose 12 arrays are the slices pattern_offsets[k, j] … pattern_offsets[k + 1, j]
    of iperm, lp, li, row_ptr, row_pos, row_col, pair_ptr, pair_pos, pair_a, pair_b, indptr, indices."""
    for i in range(todo.shape[0]):
        if todo[i] == 0:
            continue
        k = pattern_of[i]
        o0 = pattern_offsets[k]
        o1 = pattern_offsets[k + 1]
        n0, n1 = offsets[i, 0], offsets[i + 1, 0]
        m0, m1 = offsets[i, 1], offsets[i + 1, 1]
        a0, a1 = offsets[i, 2], offsets[i + 1, 2]
        f0, f1 = offsets[i, 3], offsets[i + 1, 3]
        result = alm_solve(
            p[n0:n1],
            q[n0:n1],
            indptr[o0[10] : o1[10]],
            indices[o0[11] : o1[11]],
            data[a0:a1],
            lo[m0:m1],
            hi[m0:m1],
            x[n0:n1],
            y[m0:m1],
            sigma[m0:m1],
            factor[f0:f1],
            factor_active[m0:m1],
            factor_p[n0:n1],
            factor_sigma[m0:m1],
            factor_valid[i : i + 1],
            iperm[o0[0] : o1[0]],
            lp[o0[1] : o1[1]],
            li[o0[2] : o1[2]],
            row_ptr[o0[3] : o1[3]],
            row_pos[o0[4] : o1[4]],
            row_col[o0[5] : o1[5]],
            pair_ptr[o0[6] : o1[6]],
            pair_pos[o0[7] : o1[7]],
            pair_a[o0[8] : o1[8]],
            pair_b[o0[9] : o1[9]],
            eps_abs[i],
            eps_rel[i],
            max_newton,
        )
        status[i] = result[0]
        steps[i] = result[1]
