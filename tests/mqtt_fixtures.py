"""Broker fixtures for tests (a pytest plugin: `pytest_plugins = ["tests.mqtt_fixtures"]`).

- `mosquitto_broker` / `mosquitto_broker_module`: a Mosquitto of the test's (module's) own on a
  free port, started with a generated config (`set_tcp_nodelay true`); skipped without the binary.
- `running_mosquitto_url`: the Mosquitto service on 127.0.0.1:1883; skipped if it is not running.
- `embedded_broker`: an amqtt broker in a background thread on a free port.
- `broker_url`: parametrised over the running Mosquitto and the embedded broker.
- `topic_prefix`: a prefix unique to the test, so tests sharing a broker never see each other.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from cosim.brokers import (
    EmbeddedBroker,
    MosquittoBroker,
    find_mosquitto,
    port_open,
    start_embedded_broker,
    start_mosquitto,
)

RUNNING_MOSQUITTO_HOST = "127.0.0.1"
RUNNING_MOSQUITTO_PORT = 1883

__all__ = [
    "broker_url", "embedded_broker", "mosquitto_broker", "mosquitto_broker_module", "running_mosquitto_url",
    "topic_prefix",
]


def _own_mosquitto() -> Iterator[MosquittoBroker]:
    if find_mosquitto() is None:
        pytest.skip("mosquitto binary not found (install the 'mosquitto' package)")
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


@pytest.fixture
def running_mosquitto_url() -> str:
    """URL of the Mosquitto service on 127.0.0.1:1883."""
    if not port_open(RUNNING_MOSQUITTO_HOST, RUNNING_MOSQUITTO_PORT):
        pytest.skip(f"no MQTT broker is running on {RUNNING_MOSQUITTO_HOST}:{RUNNING_MOSQUITTO_PORT} "
                    "(start the mosquitto service to run this test)")
    return f"mqtt://{RUNNING_MOSQUITTO_HOST}:{RUNNING_MOSQUITTO_PORT}"


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
    """The running Mosquitto, then the embedded broker."""
    if request.param == "mosquitto":
        url: str = request.getfixturevalue("running_mosquitto_url")
        return url
    broker: EmbeddedBroker = request.getfixturevalue("embedded_broker")
    return broker.url


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """`test/<test name>-<random>`: unique to this test."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "-", request.node.name)[:40].strip("-") or "t"
    return f"test/{name}-{uuid.uuid4().hex[:8]}"
