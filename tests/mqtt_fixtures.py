"""Broker fixtures for tests (a pytest plugin: `pytest_plugins = ["tests.mqtt_fixtures"]`).

Every broker a test talks to is started by a fixture on a free port: no test depends on a broker
that happens to run on the machine. Without the `mosquitto` binary the MQTT tests fail (they never
skip): install it (`apt install mosquitto`; `scripts/test.sh` does so when it can).

- `mosquitto_broker` / `mosquitto_broker_module`: a Mosquitto of the test's (module's) own on a
  free port, started with a generated config (`set_tcp_nodelay true`).
- `session_mosquitto_url`: one such Mosquitto shared by the whole session (tests that share it
  use their own `topic_prefix`; do not stop it). Tests use it as "a broker the user runs".
- `embedded_broker`: an amqtt broker in a background thread on a free port.
- `broker_url`: parametrised over the session's Mosquitto and the embedded broker.
- `topic_prefix`: a prefix unique to the test, so tests sharing a broker never see each other.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from cosim.mqtt.brokers import (
    EmbeddedBroker,
    MosquittoBroker,
    find_mosquitto,
    start_embedded_broker,
    start_mosquitto,
)

__all__ = [
    "broker_url", "embedded_broker", "mosquitto_broker", "mosquitto_broker_module", "session_mosquitto_url",
    "topic_prefix",
]


def _own_mosquitto() -> Iterator[MosquittoBroker]:
    if find_mosquitto() is None:
        pytest.fail("the MQTT tests need the mosquitto binary: install the 'mosquitto' package "
                    "(apt install mosquitto; ./scripts/test.sh installs it when run as root)", pytrace=False)
    broker = start_mosquitto()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def mosquitto_broker() -> Iterator[MosquittoBroker]:
    """A Mosquitto of this test's own (stop and `start()` it to test reconnects)."""
    yield from _own_mosquitto()


@pytest.fixture(scope="module")
def mosquitto_broker_module() -> Iterator[MosquittoBroker]:
    """A Mosquitto shared by the tests of one module (do not stop it)."""
    yield from _own_mosquitto()


@pytest.fixture(scope="session")
def _session_mosquitto() -> Iterator[MosquittoBroker]:
    yield from _own_mosquitto()


@pytest.fixture
def session_mosquitto_url(_session_mosquitto: MosquittoBroker) -> str:
    """URL of the Mosquitto shared by the session (restarted if an earlier test stopped it)."""
    if not _session_mosquitto.running:
        _session_mosquitto.start()
    return _session_mosquitto.url


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """An amqtt broker of this test's own."""
    broker = start_embedded_broker()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(params=["mosquitto", "embedded"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """The session's Mosquitto, then the embedded broker."""
    if request.param == "mosquitto":
        url: str = request.getfixturevalue("session_mosquitto_url")
        return url
    broker: EmbeddedBroker = request.getfixturevalue("embedded_broker")
    return broker.url


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """`test/<test name>-<random>`: unique to this test."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "-", request.node.name)[:40].strip("-") or "t"
    return f"test/{name}-{uuid.uuid4().hex[:8]}"
