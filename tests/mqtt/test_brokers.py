"""Broker URLs, the generated Mosquitto config, and the choice of broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosim.mqtt import brokers
from cosim.mqtt.brokers import (
    BrokerUrlError,
    ProvidedBroker,
    mosquitto_config,
    parse_broker_url,
    port_open,
    provide_broker,
)


def test_parse_plain_and_tls_urls(tmp_path: Path) -> None:
    plain = parse_broker_url("mqtt://127.0.0.1:1883")
    assert (plain.host, plain.port, plain.tls) == ("127.0.0.1", 1883, False)
    assert parse_broker_url("mqtt://broker.local").port == 1883
    ca = tmp_path / "ca.pem"
    ca.write_text("not a real certificate")
    secure = parse_broker_url("mqtts://agent7:s%40cret@broker.local", ca_file=ca)
    assert (secure.host, secure.port, secure.tls) == ("broker.local", 8883, True)
    assert (secure.username, secure.password, secure.ca_file) == ("agent7", "s@cret", ca)
    assert "s@cret" not in repr(secure) and "s%40cret" not in str(secure)
    overridden = parse_broker_url("mqtts://a:b@h:9000", username="c", password="d")
    assert (overridden.username, overridden.password, overridden.port) == ("c", "d", 9000)


@pytest.mark.parametrize("url", ["127.0.0.1:1883", "http://h:1", "mqtt://:1883", "mqtt://h:99999",
                                 "mqtt://h:1/path"])
def test_bad_urls_name_the_problem(url: str) -> None:
    with pytest.raises(BrokerUrlError, match="broker URL"):
        parse_broker_url(url)


def test_tls_files_need_mqtts(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(BrokerUrlError, match="mqtts"):
        parse_broker_url("mqtt://h:1883", ca_file=ca)
    with pytest.raises(BrokerUrlError, match="does not exist"):
        parse_broker_url("mqtts://h", ca_file=tmp_path / "missing.pem")


def test_mosquitto_config_sets_nodelay() -> None:
    config = mosquitto_config(18999, config_extra="max_keepalive 30")
    lines = config.splitlines()
    assert "listener 18999 127.0.0.1" in lines
    assert "set_tcp_nodelay true" in lines
    assert "persistence false" in lines
    assert lines[-1] == "max_keepalive 30"


@pytest.mark.network
def test_provide_broker_prefers_external_then_mosquitto_then_embedded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said: list[str] = []
    external = provide_broker("mqtt://127.0.0.1:1883", echo=said.append)
    assert external == ProvidedBroker("mqtt://127.0.0.1:1883", "external")
    external.close()
    if brokers.find_mosquitto() is not None:
        with provide_broker(None, echo=said.append) as spawned:
            assert spawned.kind == "mosquitto"
            host, port = spawned.url.removeprefix("mqtt://").split(":")
            assert port_open(host, int(port))
        assert not port_open(host, int(port))
    monkeypatch.setattr(brokers, "find_mosquitto", lambda: None)
    with provide_broker(None, echo=said.append) as embedded:
        assert embedded.kind == "embedded"
        host, port = embedded.url.removeprefix("mqtt://").split(":")
        assert port_open(host, int(port))
    assert not port_open(host, int(port))
    assert said[0] == "MQTT broker: external at mqtt://127.0.0.1:1883"
    assert said[-1].startswith("MQTT broker: embedded amqtt at mqtt://127.0.0.1:")


@pytest.mark.network
def test_mosquitto_restarts_on_the_same_port(mosquitto_broker: brokers.MosquittoBroker) -> None:
    port = mosquitto_broker.port
    mosquitto_broker.stop()
    assert not mosquitto_broker.running and not port_open("127.0.0.1", port)
    mosquitto_broker.start()
    assert mosquitto_broker.running and port_open("127.0.0.1", port)


def test_missing_mosquitto_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(brokers, "find_mosquitto", lambda: None)
    with pytest.raises(FileNotFoundError, match="mosquitto"):
        brokers.start_mosquitto()
