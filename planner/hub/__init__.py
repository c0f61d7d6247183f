"""Energy-hub planner: sizing and dispatch of a district hub under electricity price policies.

Entry points: :func:`planner.hub.solve.plan_case` (one case, one policy),
:func:`planner.hub.run.plan_policies` (several policies, with outputs), case loaders in
:mod:`planner.hub.reference` (the shared reference folder) and :mod:`planner.hub.case_file` (YAML).
"""
