"""The district heating network simulator (pandapipes) and its aggregated model."""
