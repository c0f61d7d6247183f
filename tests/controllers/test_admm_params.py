"""The ADMM agents' parameters are typed: JSON from the run, `--param` strings by hand, and clear
errors for bad ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controllers.admm.params import AdmmAgentParams, CoordinatorParams
from controllers.agent import build_parser
from controllers.runtime import create_agent


def test_the_run_and_the_command_line_give_the_same_parameters() -> None:
    typed = CoordinatorParams(agents=("a", "b"), limit_kw=20.0, horizon=24, refresh=True)
    from_json = CoordinatorParams.model_validate(typed.model_dump(mode="json"))
    flags = [a for p in ("agents=a,b", "limit_kw=20", "horizon=24", "refresh=1") for a in ("--param", p)]
    args = build_parser().parse_args(
        ["--broker", "mqtt://h", "--run", "r", "--agent", "coordinator", "--kind", "admm-coordinator", *flags]
    )
    from_flags = CoordinatorParams.model_validate(dict(args.param))
    assert typed == from_json == from_flags
    assert AdmmAgentParams.model_validate({"queue_updates": 1.0}).queue_updates is True


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"agents": "", "limit_kw": 20, "horizon": 24}, "agents"),
        ({"agents": "a", "limit_kw": -1, "horizon": 24}, "limit_kw"),
        ({"agents": "a", "limit_kw": 20, "horizon": 1.5}, "horizon"),
        ({"agents": "a b", "limit_kw": 20, "horizon": 24}, "agents"),
        ({"agents": "a", "limit_kw": 20, "horizon": 24, "rhoo": 1}, "rhoo"),
    ],
)
def test_bad_coordinator_parameters_name_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        create_agent("admm-coordinator", "coordinator", **params)


def test_bad_agent_parameters_name_the_field() -> None:
    with pytest.raises(ValidationError, match="plan_weight_per_kw2"):
        create_agent("admm", "b1", plan_weight_per_kw2=-1)
