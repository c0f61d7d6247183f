"""The coordinator's z-update (clip and water filling) and the message round trip."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllers.admm import (
    CoordinatorBroadcast,
    Coupling,
    Fallback,
    LocalUpdate,
    SharedLimits,
    StepDecision,
    VoltageSensitivity,
    from_dict,
    to_dict,
)
from controllers.admm.coupling import water_level


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    peak=st.sampled_from([0.0, 0.05, 0.5, 5.0]),
    step=st.floats(0.1, 50.0),
)
def test_prox_equals_the_cvxpy_solution(seed: int, peak: float, step: float) -> None:
    rng = np.random.default_rng(seed)
    t = 12
    p_max = rng.uniform(5, 15, t)
    limits = SharedLimits(p_max, -p_max, peak_price_per_kw=peak)
    coupling = Coupling.from_limits(("a", "b"), limits)
    y = rng.normal(0, 12, (1, t))
    w = cp.Variable(t)
    cost = 0.5 * cp.sum_squares(w - y[0]) + step * peak * cp.pos(cp.max(w))
    cp.Problem(cp.Minimize(cost), [w <= p_max, w >= -p_max]).solve(
        solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    prox = coupling.prox(y, step)[0]

    def objective(v: np.ndarray) -> float:
        return float(0.5 * np.sum((v - y[0]) ** 2) + step * peak * max(float(np.max(v)), 0.0))

    # the prox is exact: never worse than the interior-point solution, and the same point up to
    # Clarabel's tolerance (with its default tolerances a kink of the max term can be 1e-3 off)
    assert objective(prox) <= objective(w.value) + 1e-7 * max(1.0, objective(w.value))
    np.testing.assert_allclose(prox, w.value, atol=1e-4)


def test_water_level_is_exact() -> None:
    y = np.array([5.0, 3.0, 1.0, -2.0])
    free = np.full(4, np.inf)
    assert water_level(y, free, 1.0) == pytest.approx(4.0)  # (5 − 4) = 1
    assert water_level(y, free, 4.0) == pytest.approx(2.0)  # (5 − 2) + (3 − 2) = 4
    assert water_level(y, free, 100.0) == 0.0
    # a bound below y: shaving y_0 to its bound 4.5 costs nothing extra, the cap sits on the bound
    assert water_level(y, np.array([4.5, 10, 10, 10]), 0.1) == pytest.approx(4.5)


def test_voltage_rows_are_scaled_to_unit_coefficients() -> None:
    s = np.array([[-0.004, -0.002, 0.0], [0.0, 0.0, 0.0]])
    volt = VoltageSensitivity(s, np.array([1.0, 1.0]), np.array([1.0, 2.0, 3.0]), 0.95, 1.05)
    coupling = Coupling.from_limits(("a", "b", "c"), SharedLimits.transformer(50.0, 4, voltage=volt))
    assert coupling.n_rows == 2  # the all-zero bus is dropped
    np.testing.assert_allclose(coupling.matrix[1], [-1.0, -0.5, 0.0])
    # v = 1 + S (p − p0) ≥ 0.95  ⇔  ω S p ≥ ω (0.95 − 1 + S p0)
    omega = 250.0
    np.testing.assert_allclose(coupling.lo[1], omega * (0.95 - 1.0 + s[0] @ [1.0, 2.0, 3.0]))


def test_messages_round_trip() -> None:
    rng = np.random.default_rng(0)
    messages = [
        CoordinatorBroadcast(3, 7, 0.05, *(rng.normal(size=(2, 4)) for _ in range(3))),
        LocalUpdate("b0001", 3, 7, rng.normal(size=4), 1.5, 1e-4, 25, "solved"),
        StepDecision(3, 500, False, Fallback.SHIFTED_PREVIOUS, "max_iterations (500) reached"),
        StepDecision(3, 40, True, None, "converged"),
    ]
    for message in messages:
        payload = to_dict(message)
        back = from_dict(type(message), payload)
        for name in payload:
            got = getattr(back, name)
            if isinstance(got, np.ndarray):
                np.testing.assert_array_equal(got, getattr(message, name))
            else:
                assert got == getattr(message, name)
    with pytest.raises(ValueError, match="expected keys"):
        from_dict(StepDecision, {"tick": 1})
