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

In a secured run (`cosim run ... --security DIR`, docs/security.md) give the broker as
`mqtts://host:port` and `--security DIR` (the folder `cosim security init` wrote, or a copy with
what this client needs: `ca.crt`, `principals/LOGIN/{password,client.crt,client.key}`,
`principals/AGENT/hmac.key` of each agent, `public/bridge.ed25519.pub`). The client then logs in as
`agent-host` (several agents; `--login` to choose) over TLS, tags every message with its agent's
HMAC-SHA256 key and checks the bridge's: measurements under the agent's key, the clock and the
bridge's status under the bridge's Ed25519 key (the `cryptography` package), each sequence number
once. The scheme, as docs/security.md writes it: the tag covers
`b"ucosim-sig-v1\n" + topic + b"\n" + payload` with the tag's hex digits in the payload's `hmac`
field (`"{epoch}:{tag}"`) replaced by as many `0`.

The control law here is battery self-consumption: the battery takes the building's PV surplus and
covers its import, within what it can take over the step; buildings without a battery get no
setpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

SCHEMA_VERSION = 1
DOMAIN = b"ucosim-sig-v1\n"
BRIDGE = "bridge"


class Keys:
    """What a secured client holds (read from a security folder): its login and TLS files, each
    agent's HMAC key and the bridge's Ed25519 public key."""

    def __init__(self, folder: Path, login: str, agents: list[str]) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        principal = folder / "principals" / login
        self.login, self.password = login, (principal / "password").read_text().strip()
        self.ca, self.cert, self.key = folder / "ca.crt", principal / "client.crt", principal / "client.key"
        self.hmac = {a: bytes.fromhex((folder / "principals" / a / "hmac.key").read_text()) for a in agents}
        self.bridge = load_pem_public_key((folder / "public" / f"{BRIDGE}.ed25519.pub").read_bytes())
        self.epoch = time.time_ns() // 1000  # this client's session: a restarted client has a larger one

    def sign(self, topic: str, agent: str, message: dict[str, Any]) -> bytes:
        """`message` as JSON with its tag: HMAC-SHA256 with `agent`'s key."""
        zeros = "0" * 64
        draft = json.dumps({**message, "hmac": f"{self.epoch}:{zeros}"}).encode()
        tag = hmac.new(self.hmac[agent], DOMAIN + topic.encode() + b"\n" + draft, hashlib.sha256).hexdigest()
        return draft.replace(zeros.encode(), tag.encode(), 1)

    def verify(self, topic: str, payload: bytes, message: dict[str, Any]) -> str | None:
        """None if the tag of a message from the bridge fits, else why not: a measurement is tagged
        with its agent's key (the topic's last level), the clock and the bridge's status carry the
        bridge's Ed25519 signature."""
        epoch, _, tag = str(message.get("hmac") or "").partition(":")
        if not epoch.isdigit() or len(tag) not in (64, 128) or payload.count(tag.encode()) != 1:
            return "unsigned or malformed tag"
        signed = DOMAIN + topic.encode() + b"\n" + payload.replace(tag.encode(), b"0" * len(tag))
        if message.get("kind") == "meas":
            key = self.hmac.get(topic.rsplit("/", 1)[-1])
            if key is None or len(tag) != 64:
                return "not tagged with the agent's key"
            expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
            return None if hmac.compare_digest(expected, tag) else "bad HMAC"
        if len(tag) != 128:
            return "not signed by the bridge"
        try:
            self.bridge.verify(bytes.fromhex(tag), signed)  # type: ignore[union-attr,call-arg]
        except Exception:  # cryptography's InvalidSignature, or a tag that is not hex
            return "bad signature"
        return None


class ExternalController:
    """Answers the measurements of `agents` in run `run` on an MQTT broker (`keys`: a secured run)."""

    def __init__(self, host: str, port: int, run: str, agents: list[str], prefix: str = "ucosim",
                 keys: Keys | None = None) -> None:
        self.run, self.agents, self.prefix, self.keys = run, agents, prefix, keys
        self.seq: dict[str, int] = dict.fromkeys(agents, 0)
        self.answered = 0
        self.rejected: dict[str, int] = {}
        self.last_seen: dict[str, tuple[int, int]] = {}  # topic -> (epoch, seq) of the bridge's last
        self.done = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"external-{run}", clean_session=True
        )
        if keys is not None:
            self.client.username_pw_set(keys.login, keys.password)
            self.client.tls_set(ca_certs=str(keys.ca), certfile=str(keys.cert), keyfile=str(keys.key))
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
        if self.keys is not None:
            return self.keys.sign(self.topic(kind, agent), agent, message)
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
        if self.keys is not None and not self.accept(msg.topic, bytes(msg.payload), message):
            return
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

    def accept(self, topic: str, payload: bytes, message: dict[str, Any]) -> bool:
        """A secured run: the bridge's message if its tag fits and it is newer than the last one on
        its topic (no replays), else counted by reason and dropped."""
        assert self.keys is not None
        reason = None if message.get("sender") == BRIDGE else "not from the bridge"
        reason = reason or self.keys.verify(topic, payload, message)
        if reason is None:
            stamp = (int(str(message["hmac"]).partition(":")[0]), int(message.get("seq", -1)))
            if stamp <= self.last_seen.get(topic, (-1, -1)):
                reason = "replay"
            else:
                self.last_seen[topic] = stamp
        if reason is not None:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            return False
        return True

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
    parser.add_argument("--broker", required=True,
                        help="mqtt://host:port, or mqtts://host:port with --security")
    parser.add_argument("--run", required=True, help="the run id (cosim run ... --run-id)")
    parser.add_argument("--agents", required=True, help="comma-separated building names")
    parser.add_argument("--prefix", default="ucosim")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    parser.add_argument("--security", type=Path, metavar="DIR",
                        help="a secured run's security folder (cosim security init): TLS, login, tags")
    parser.add_argument("--login",
                        help="the broker login (default: agent-host for several agents, else the agent)")
    args = parser.parse_args(argv)
    url = urlparse(args.broker)
    agents = args.agents.split(",")
    secure = args.security is not None
    if url.scheme != ("mqtts" if secure else "mqtt") or not url.hostname:
        parser.error("--broker must look like mqtts://host:port with --security, else mqtt://host:port")
    keys = None
    if secure:
        login = args.login or ("agent-host" if len(agents) > 1 else agents[0])
        try:
            keys = Keys(args.security, login, agents)
        except (OSError, ValueError) as exc:
            parser.error(f"--security {args.security}: {exc}")
    controller = ExternalController(
        url.hostname, url.port or (8883 if secure else 1883), args.run, agents, args.prefix, keys
    )
    finished = controller.serve(args.timeout_s)
    rejected = f"; rejected {controller.rejected}" if controller.rejected else ""
    ended = "run finished" if finished else "timed out"
    print(f"answered {controller.answered} measurements{rejected}; {ended}")
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
