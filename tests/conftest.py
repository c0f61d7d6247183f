"""Shared test configuration: the MQTT broker fixtures (a real Mosquitto per test, the running
service, the embedded broker, unique topic prefixes) come from tests/mqtt_fixtures.py."""

pytest_plugins = ["tests.mqtt_fixtures"]
