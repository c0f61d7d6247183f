"""Scenario loading, the mosaik world, the MQTT bridge, results, KPIs and the `cosim` command line."""
