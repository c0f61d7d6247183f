"""Shared test configuration. Broker fixtures live in tests/mqtt_fixtures.py (a pytest plugin)."""
