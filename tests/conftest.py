"""Shared test configuration.

- The MQTT broker fixtures (a real Mosquitto per test, the running service, the embedded broker,
  unique topic prefixes) come from tests/mqtt_fixtures.py.
- Hypothesis runs derandomised, so the suite checks the same examples on every run and CI cannot
  fail on an example nobody has seen; explore with `pytest --hypothesis-seed=random`.
"""

from hypothesis import settings

pytest_plugins = ["tests.mqtt_fixtures"]

settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")
