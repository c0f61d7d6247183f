"""A run as a third party on the broker sees it (issue 15): an agent started beside the run ends when
the run ends, the batch topics of the run's agent host can be predicted from the run id, the last
clock says `final` and the bridge says when the run is over (`status/bridge` = stopping).

A plain paho-mqtt client watches the run's topics, as `mosquitto_sub -t 'ucosim/RUN/#'` would."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest

from controllers.runtime.broker_url import parse_broker_url
from cosim.mqtt.bridge_batch import host_id
from cosim.mqtt.brokers import MosquittoBroker
from cosim.run import run_scenario
from cosim.scenario.model import load_scenario
from tests.cosim.conftest import write_scenario

pytestmark = [pytest.mark.network]

SCENARIO = {
    "name": "outside",
    "start": "2024-03-20T06:00:00",
    "duration": "1h",
    "step": "15min",
    "buildings": [{"name": "house", "count": 3, "pv_kwp": 5}],
    "grid": {"network": "kerber_landnetz_kabel_1"},
    "controller": {"kind": "rule_based"},  # over MQTT, agents as tasks: batches by default
}
WAIT_S = 30.0


class Watcher:
    """Every message under `ucosim/{run}/#`, in arrival order, and an event per awaited topic."""

    def __init__(self, url: str, run: str) -> None:
        broker = parse_broker_url(url)
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.online = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"watcher-{run}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda client, *_: client.subscribe(f"ucosim/{run}/#", qos=1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(WAIT_S), "the watcher could not subscribe"

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        payload = json.loads(message.payload)
        with self.lock:
            self.messages.append((message.topic, payload))
        if message.topic.endswith("/status/beside") and payload["body"]["state"] == "online":
            self.online.set()

    def of(self, suffix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for t, p in self.messages if t.endswith(suffix)]

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


Watched = tuple[Watcher, "subprocess.Popen[str]"]


@pytest.fixture(scope="module")
def watched_run(
    mosquitto_broker_module: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Watched]:
    """The run, watched from its start, with a silent agent started beside it (not one of its agents)."""
    url, run, folder = mosquitto_broker_module.url, "outside-1", tmp_path_factory.mktemp("outside")
    watcher = Watcher(url, run)
    beside = subprocess.Popen(
        [sys.executable, "-m", "controllers.agent", "--broker", url, "--run", run, "--agent", "beside",
         "--kind", "silent"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert watcher.online.wait(WAIT_S), "the agent beside the run did not come online"
        scenario = load_scenario(write_scenario(folder, SCENARIO))
        run_scenario(scenario, folder / "out", broker_url=url, run_id=run, echo=lambda _: None)
        yield watcher, beside
    finally:
        if beside.poll() is None:
            beside.kill()
        beside.communicate()
        watcher.close()


def test_an_agent_beside_the_run_ends_with_it(watched_run: Watched) -> None:
    watcher, beside = watched_run
    try:
        code = beside.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail("the agent beside the run still runs after the run ended")
    assert code == 0
    clocks = watcher.of("/clock/bridge")
    assert [c["tick"] for c in clocks] == [0, 1, 2, 3]
    assert [c["body"]["final"] for c in clocks] == [False, False, False, True]
    goodbye = watcher.of("/status/beside")[-1]["body"]
    assert goodbye == {"state": "offline", "detail": "run finished"}


def test_the_bridge_says_when_the_run_is_over(watched_run: Watched) -> None:
    watcher, _ = watched_run
    bridge = [m["body"] for m in watcher.of("/status/bridge")]
    assert bridge[-1] == {"state": "stopping", "detail": "run finished at tick 3"}
    topics = watcher.topics()
    last_clock = max(i for i, t in enumerate(topics) if t.endswith("/clock/bridge"))
    assert topics.index("ucosim/outside-1/status/bridge", last_clock) > last_clock


def test_the_batch_topics_of_a_run_are_predictable(watched_run: Watched) -> None:
    watcher, _ = watched_run
    host = host_id(0)
    assert host == "host-0"
    measurements = watcher.of(f"ucosim/outside-1/batch/meas/{host}")
    answers = watcher.of(f"ucosim/outside-1/batch/setpoint/{host}")
    assert [m["tick"] for m in measurements] == [0, 1, 2, 3]
    assert all(set(m["body"]["values"]) == {"house-001", "house-002", "house-003"} for m in measurements)
    assert {m["tick"] for m in answers} == {0, 1, 2, 3}
    assert not [t for t in watcher.topics() if "/batch/" in t and not t.endswith(f"/{host}")]


def test_host_ids_avoid_agent_names() -> None:
    assert host_id(0, ["house-1", "host-0"]) == "host-0-1"
    assert host_id(2, ["host-2", "host-2-1"]) == "host-2-2"
    with pytest.raises(ValueError, match="whole number"):
        host_id(-1)
