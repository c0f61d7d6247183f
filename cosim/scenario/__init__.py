"""Scenario files: the validated model (`model`), the pre-run checks shared by `cosim validate` and
`cosim run` (`checks`), and command-line overrides (`overrides`).

`load_scenario(path)` reads and validates a scenario file; errors are `ScenarioError`.
"""

from cosim.scenario.model import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario"]
