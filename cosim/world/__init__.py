"""The mosaik world of a run: the registry of simulators, building the world from a scenario, the
recorder, and the run context the in-process simulators share."""
