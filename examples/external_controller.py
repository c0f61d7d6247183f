"""An external controller: a plain MQTT client that controls buildings of a run, importing nothing of
the platform. Port it to any language with an MQTT client and a JSON library.

Start a run that waits for it (`controller: {agents: external}`), then this, with the agent names
the run prints:

    cosim run examples/external-controller.yaml --broker mqtt://127.0.0.1:1883 --run-id lab1 &
    python examples/external_controller.py --broker mqtt://127.0.0.1:1883 --run lab1 \\
        --agents house-bat-001,house-bat-002,house

The protocol (docs/controllers.md; JSON Schemas in docs/schemas/):
1. subscribe to `{prefix}/{run}/meas/{agent}` for each agent, `{prefix}/{run}/clock/bridge` and
   `{prefix}/{run}/status/bridge`;
2. publish a `status` message with state `online` on `{prefix}/{run}/status/{agent}` for each agent,
   and again whenever the bridge's status says `waiting`;
3. answer each `meas` message with a `setpoint` message of the same `tick` on
   `{prefix}/{run}/setpoint/{agent}`;
4. stop after a `clock` message with `final: true`.

The control law here is battery self-consumption: the battery takes the building's PV surplus and
covers its import, within what it can take over the step; buildings without a battery get no
setpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

SCHEMA_VERSION = 1


class ExternalController:
    """Answers the measurements of `agents` in run `run` on an MQTT broker."""

    def __init__(self, host: str, port: int, run: str, agents: list[str], prefix: str = "ucosim") -> None:
        self.run, self.agents, self.prefix = run, agents, prefix
        self.seq: dict[str, int] = dict.fromkeys(agents, 0)
        self.answered = 0
        self.done = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"external-{run}", clean_session=True
        )
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message
        self.client.connect(host, port, keepalive=30)

    def topic(self, kind: str, agent: str) -> str:
        return f"{self.prefix}/{self.run}/{kind}/{agent}"

    def envelope(self, kind: str, agent: str, tick: int, body: dict[str, Any]) -> bytes:
        """A message as the platform's schema wants it: envelope fields around `body`."""
        self.seq[agent] += 1
        message = {
            "v": SCHEMA_VERSION,
            "kind": kind,
            "run": self.run,
            "tick": tick,
            "iteration": None,
            "sender": agent,
            "seq": self.seq[agent],
            "ts_s": time.time(),
            "hmac": None,
            "body": body,
        }
        return json.dumps(message).encode()

    def announce(self, tick: int = 0) -> None:
        for agent in self.agents:
            payload = self.envelope(
                "status", agent, tick, {"state": "online", "detail": "external controller"}
            )
            self.client.publish(self.topic("status", agent), payload, qos=1)

    def on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            print(f"cannot connect: {reason}", file=sys.stderr)
            self.done.set()
            return
        filters = [(self.topic("meas", a), 1) for a in self.agents]
        filters += [(self.topic("clock", "bridge"), 1), (self.topic("status", "bridge"), 1)]
        client.subscribe(filters)
        self.announce()

    def on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            message = json.loads(msg.payload)
        except ValueError:
            return  # not JSON: ignore it, as the platform's agents do
        kind = message.get("kind")
        if kind == "meas" and message.get("sender") == "bridge":
            agent = msg.topic.rsplit("/", 1)[-1]
            values = self.decide(message["body"]["values"])
            payload = self.envelope("setpoint", agent, message["tick"], {"values": values})
            self.client.publish(self.topic("setpoint", agent), payload, qos=1)
            self.answered += 1
        elif kind == "status" and message["body"].get("state") == "waiting":
            self.announce(message.get("tick", 0))
        elif kind == "clock" and message["body"].get("final"):
            self.done.set()

    @staticmethod
    def decide(values: dict[str, float | None]) -> dict[str, float | None]:
        """Battery power (kW, + = charging) for the step: the building's net power, reversed, within
        what the battery can take over the step (`p_charge_max_kw`, `p_discharge_max_kw`)."""
        if not values.get("capacity_kwh"):
            return {"battery_p_set_kw": None}
        p_kw = -(values.get("p_kw") or 0.0)
        charge_max, discharge_max = values.get("p_charge_max_kw"), values.get("p_discharge_max_kw")
        if charge_max is not None:
            p_kw = min(p_kw, charge_max)
        if discharge_max is not None:
            p_kw = max(p_kw, -discharge_max)
        return {"battery_p_set_kw": p_kw}

    def serve(self, timeout_s: float) -> bool:
        """Run until the final clock (True) or `timeout_s` (False)."""
        self.client.loop_start()
        try:
            finished = self.done.wait(timeout_s)
            time.sleep(0.2)  # let the last answers' acknowledgements arrive
            return finished
        finally:
            self.client.disconnect()
            self.client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="mqtt://host:port")
    parser.add_argument("--run", required=True, help="the run id (cosim run ... --run-id)")
    parser.add_argument("--agents", required=True, help="comma-separated building names")
    parser.add_argument("--prefix", default="ucosim")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    args = parser.parse_args(argv)
    url = urlparse(args.broker)
    if url.scheme != "mqtt" or not url.hostname:
        parser.error("--broker must look like mqtt://host:port")
    controller = ExternalController(
        url.hostname, url.port or 1883, args.run, args.agents.split(","), args.prefix
    )
    finished = controller.serve(args.timeout_s)
    print(f"answered {controller.answered} measurements; {'run finished' if finished else 'timed out'}")
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
