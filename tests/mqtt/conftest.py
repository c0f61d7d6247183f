"""MQTT tests use the broker fixtures of tests/mqtt_fixtures.py (until the root conftest
registers it as a plugin)."""

from tests.mqtt_fixtures import *  # noqa: F403
