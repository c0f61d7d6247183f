"""Centralised MPC baseline and the cvxpy reference formulation of the district problem."""

from controllers.mpc.centralised import CentralisedResult, solve_centralised
from controllers.mpc.formulation import (
    DistrictModel,
    build_agents_model,
    define_shared,
    local_reference_problem,
)

__all__ = [
    "CentralisedResult",
    "DistrictModel",
    "build_agents_model",
    "define_shared",
    "local_reference_problem",
    "solve_centralised",
]
