"""`LeanMessageFactory` builds the same messages as `MessageFactory` and refuses the same input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from controllers.messages import MessageFactory, encode
from controllers.runtime.stamping import LeanMessageFactory

GOOD: list[dict[str, Any]] = [
    {},
    {"p_kw": 3.2, "soc": None, "t_in_c": -0.0},
    {f"v{i}": float(i) / 7 for i in range(1024)},
    {"a.b-c_D9": 1e-300, "x": 1.7976931348623157e308},
]
BAD: list[dict[str, Any]] = [
    {"p_kw": float("nan")},
    {"p_kw": float("inf")},
    {"p_kw": "3.2"},
    {"p_kw": True},
    {"bad key": 1.0},
    {"": 1.0},
    {"x" * 65: 1.0},
    {f"v{i}": 0.0 for i in range(1025)},
]


def _pair() -> tuple[MessageFactory, LeanMessageFactory]:
    clock = lambda: 1.5  # noqa: E731
    return MessageFactory("run1", "b-01", clock=clock), LeanMessageFactory("run1", "b-01", clock=clock)


def _outcome(build: Callable[..., Any], *args: Any, **kwargs: Any) -> object:
    try:
        return encode(build(*args, **kwargs))
    except ValueError as exc:
        return type(exc)


@pytest.mark.parametrize("values", [*GOOD, *BAD, {"p_kw": 1}])
def test_meas_and_setpoint_as_message_factory(values: dict[str, Any]) -> None:
    plain, lean = _pair()
    for tick in (0, 7):
        for time_s in (None, 900):
            expected = _outcome(plain.meas, tick, values, time_s=time_s)
            assert _outcome(lean.meas, tick, values, time_s=time_s) == expected
        for iteration in (None, 3):
            expected = _outcome(plain.setpoint, tick, values, iteration)
            assert _outcome(lean.setpoint, tick, values, iteration) == expected
    assert lean.next_seq == plain.next_seq == 8  # a refused message uses up its number, as before


def test_good_values_give_messages_bad_ones_errors() -> None:
    _, lean = _pair()
    for values in GOOD:
        assert lean.meas(1, values).body.values == values
    for values in BAD:
        with pytest.raises(ValueError):
            lean.setpoint(1, values)
    with pytest.raises(ValueError):
        lean.meas(-1, {})  # ticks count from 0
