"""Test packages (so that `tests.mqtt_fixtures` is importable and test package names never shadow
the project's own packages, e.g. tests/controllers vs controllers)."""
