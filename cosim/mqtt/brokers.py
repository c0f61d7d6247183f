"""MQTT brokers for a run: an external one given by URL, a Mosquitto spawned on a free port, or
an embedded Python broker (amqtt) so that a user with nothing installed can run a scenario.

`provide_broker(url_or_None)` picks, in this order: the external broker if a URL is given,
else Mosquitto if its binary is found, else the embedded broker; it prints which one is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from controllers.runtime.broker_url import BrokerUrl, BrokerUrlError, parse_broker_url

__all__ = [
    "BrokerHandle",
    "BrokerSecurity",
    "BrokerUrl",
    "BrokerUrlError",
    "EmbeddedBroker",
    "MosquittoBroker",
    "ProvidedBroker",
    "SecureBrokerError",
    "debian_default_config",
    "find_mosquitto",
    "free_port",
    "parse_broker_url",
    "port_open",
    "provide_broker",
    "secure_mosquitto_config",
    "start_embedded_broker",
    "start_mosquitto",
]

log = logging.getLogger(__name__)


async def cancel_other_tasks() -> None:
    """Cancel every task of the running loop but the caller's and wait until they have finished
    (before a loop thread is stopped)."""
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto")
LOCALHOST = "127.0.0.1"


class BrokerHandle(Protocol):
    """A broker this process started: where it listens, and how to stop it."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free right now on `host` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def find_mosquitto() -> str | None:
    """The path of the `mosquitto` binary (PATH first, then the usual sbin places), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in MOSQUITTO_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return None


# ------------------------------------------------------------------------------------ Mosquitto


def mosquitto_config(port: int, host: str = LOCALHOST, config_extra: str = "") -> str:
    """A Mosquitto 2.x configuration for a local run: anonymous, no persistence, TCP_NODELAY,
    unbounded QoS 1 queues (a lockstep step may queue one message per agent at once)."""
    lines = [
        f"listener {port} {host}",
        "allow_anonymous true",
        "set_tcp_nodelay true",
        "persistence false",
        "max_queued_messages 0",
        "max_inflight_messages 0",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "user root",
    ]
    return "\n".join(lines) + "\n" + (config_extra.strip() + "\n" if config_extra.strip() else "")


@dataclass(frozen=True)
class BrokerSecurity:
    """What a secured Mosquitto needs: its TLS files, the password file and the ACL
    (`cosim security init` writes them); `require_certificate`: refuse clients without a
    certificate of the CA."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    password_file: Path
    acl_file: Path
    require_certificate: bool = False


def secure_mosquitto_config(security: BrokerSecurity) -> Callable[[int, str, Path], str]:
    """The platform's configuration with TLS on the listener, no anonymous clients, the password
    file and the ACL (both reloaded on SIGHUP: `MosquittoBroker.reload`)."""

    def config(port: int, host: str, folder: Path) -> str:
        lines = [
            f"listener {port} {host}",
            f"cafile {security.ca_file}",
            f"certfile {security.cert_file}",
            f"keyfile {security.key_file}",
            f"require_certificate {'true' if security.require_certificate else 'false'}",
            "tls_version tlsv1.2",
            "allow_anonymous false",
            f"password_file {security.password_file}",
            f"acl_file {security.acl_file}",
            "set_tcp_nodelay true",
            "persistence false",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type information",  # "Reloading config" (reload waits for it)
            "user root",
        ]
        return "\n".join(lines) + "\n"

    return config


class MosquittoBroker:
    """A Mosquitto process on a fixed port with a generated config in its own temp dir.

    `stop()` ends it; `start()` starts it again on the same port (to test reconnects); `reload()`
    makes it read its password file and ACL again. `tls`: the listener speaks TLS (`mqtts://`).
    """

    def __init__(
        self, binary: str, port: int, host: str = LOCALHOST, config_extra: str = "",
        ready_timeout_s: float = 10.0, config: Callable[[int, str, Path], str] | None = None,
        tls: bool = False,
    ) -> None:
        self.binary = binary
        self.host = host
        self.port = port
        self.tls = tls
        self.ready_timeout_s = ready_timeout_s
        self._dir = tempfile.TemporaryDirectory(prefix="mosquitto-")
        self.config_path = Path(self._dir.name) / "mosquitto.conf"
        folder = Path(self._dir.name)
        text = mosquitto_config(port, host, config_extra) if config is None else config(port, host, folder)
        self.config_path.write_text(text)
        self.log_path = Path(self._dir.name) / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The Mosquitto process's id while it runs (to send it signals, or read its CPU time)."""
        return self._process.pid if self.running and self._process is not None else None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        """Start the process and wait until it accepts connections; `RuntimeError` with its log if not."""
        if self.running:
            return
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(  # own session: Ctrl-C reaches the run, which stops it last
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        while not port_open(self.host, self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"mosquitto did not start on {self.host}:{self.port}:\n{self.log_text()[-2000:]}")
            time.sleep(0.01)

    def reload(self, timeout_s: float = 5.0) -> None:
        """SIGHUP: Mosquitto reads its password file and ACL again (revocation). Returns once its
        log says so (a secured configuration logs at information level), or after
        `timeout_s`."""
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("mosquitto is not running")
        before = self.log_text().count("Reloading config")
        self._process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout_s
        while self.log_text().count("Reloading config") <= before and time.monotonic() < deadline:
            time.sleep(0.005)

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 5 s) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self) -> None:
        """Stop and remove the temp dir."""
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> MosquittoBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def debian_default_config(port: int, host: str, folder: Path) -> str:
    """Debian's default `/etc/mosquitto/mosquitto.conf` (persistence on, Mosquitto's defaults for
    everything else: no TCP_NODELAY, 20 messages in flight and 1000 queued per client) with its
    files moved into `folder`, plus the listener line and anonymous access a local run needs: how
    most users and labs run their own broker."""
    return "\n".join([
        "persistence true",
        f"persistence_location {folder}/",
        f"log_dest file {folder}/mosquitto.log",
        f"listener {port} {host}",
        "allow_anonymous true",
    ]) + "\n"


def start_mosquitto(port: int | None = None, config_extra: str = "", *, host: str = LOCALHOST,
                    binary: str | None = None, ready_timeout_s: float = 10.0,
                    config: Callable[[int, str, Path], str] | None = None,
                    security: BrokerSecurity | None = None) -> MosquittoBroker:
    """Start Mosquitto on `port` (default: a free one) with the platform's config plus `config_extra`,
    or with `config(port, host, folder)` (e.g. `debian_default_config`), or secured (`security`:
    TLS, passwords, ACL; its URL is `mqtts://`).

    Raises `FileNotFoundError` if no binary is found, `RuntimeError` if it does not start.
    """
    path = binary or find_mosquitto()
    if path is None:
        raise FileNotFoundError("mosquitto binary not found (install the 'mosquitto' package)")
    if security is not None:
        config = secure_mosquitto_config(security)
    broker = MosquittoBroker(path, port if port is not None else free_port(host), host, config_extra,
                             ready_timeout_s, config, tls=security is not None)
    try:
        broker.start()
    except BaseException:
        broker.close()
        raise
    return broker


# ------------------------------------------------------------------------------------ embedded


def embedded_config(port: int, host: str = LOCALHOST) -> dict[str, Any]:
    """amqtt configuration: one TCP listener, anonymous clients, no $SYS or logging plugins."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class EmbeddedBroker:
    """An amqtt broker on its own event loop in a daemon thread. `stop()` shuts it down."""

    def __init__(self, port: int, host: str = LOCALHOST) -> None:
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"amqtt-{port}", daemon=True)
        self._broker: Any = None
        self._writers: weakref.WeakSet[asyncio.StreamWriter] = weakref.WeakSet()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        future: Future[Any] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            self._broker = future.result(timeout_s)
        except BaseException:
            self._shutdown_loop()
            raise

    async def _start(self) -> Any:
        from amqtt.broker import Broker

        class TrackingBroker(Broker):  # type: ignore[misc]
            """amqtt can leave a connection's transport open at shutdown (a ResourceWarning when it is
            collected); remember every connection so that `stop()` can close what is left."""

            async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                       listener_name: str) -> None:
                writers.add(writer)
                await super().stream_connected(reader, writer, listener_name)

        writers = self._writers
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        # amqtt warns "Received PUBACK for unknown pending message Id" under QoS 1 load although
        # every message is delivered (known: Yakifo/amqtt#100); keep the output readable
        logging.getLogger("amqtt.mqtt.protocol.handler").setLevel(logging.ERROR)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        broker = TrackingBroker(embedded_config(self.port, self.host))
        await broker.start()
        return broker

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the broker down and end its thread. Safe to call twice."""
        if not self._thread.is_alive():
            return
        broker, self._broker = self._broker, None
        if broker is not None:
            future = asyncio.run_coroutine_threadsafe(broker.shutdown(), self._loop)
            try:
                future.result(timeout_s)
            except Exception as exc:  # a failing shutdown must not hide the caller's own error
                log.warning("embedded broker shutdown failed: %s", exc)
        self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        async def cancel_all() -> None:
            await cancel_other_tasks()
            for writer in list(self._writers):
                if not writer.is_closing():
                    writer.close()
            await asyncio.sleep(0)  # let the transports finish closing

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded_broker(port: int | None = None, *, host: str = LOCALHOST) -> EmbeddedBroker:
    """Start an amqtt broker on `port` (default: a free one) in a background thread."""
    broker = EmbeddedBroker(port if port is not None else free_port(host), host)
    broker.start()
    return broker


# ------------------------------------------------------------------------------------ choice


@dataclass(frozen=True)
class ProvidedBroker:
    """The broker a run uses: its URL, what it is, and how to release it (no-op if external)."""

    url: str
    kind: Literal["external", "mosquitto", "embedded"]
    handle: MosquittoBroker | EmbeddedBroker | None = None

    def close(self) -> None:
        if isinstance(self.handle, MosquittoBroker):
            self.handle.close()
        elif isinstance(self.handle, EmbeddedBroker):
            self.handle.stop()

    def __enter__(self) -> ProvidedBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SecureBrokerError(RuntimeError):
    """A secured run that cannot get a broker able to enforce its security."""


def provide_broker(url: str | None = None, *, echo: Callable[[str], None] = print,
                   prefer: Literal["mosquitto", "embedded"] = "mosquitto",
                   security: BrokerSecurity | None = None) -> ProvidedBroker:
    """The broker to use: the external one at `url`, else a spawned Mosquitto (if its binary is
    found and `prefer` is "mosquitto"), else an embedded amqtt broker. Says which through `echo`.

    With `security` a spawned Mosquitto runs with TLS, passwords and the ACL; an external broker
    must be `mqtts://` (its own configuration enforces the rest); the embedded broker is refused
    (it cannot enforce an ACL)."""
    if url is not None:
        parsed = parse_broker_url(url)
        if security is not None and not parsed.tls:
            raise SecureBrokerError(f"a secured run needs a TLS broker: {parsed} is plain mqtt://; use mqtts://")
        echo(f"MQTT broker: external at {parsed}")
        return ProvidedBroker(str(parsed), "external")
    if security is not None:
        binary = find_mosquitto()
        if binary is None:
            raise SecureBrokerError(
                "a secured run needs Mosquitto (the embedded broker cannot enforce passwords and an ACL): "
                "install the 'mosquitto' package or give an mqtts:// broker")
        mosquitto = start_mosquitto(binary=binary, security=security)
        echo(f"MQTT broker: Mosquitto ({binary}) spawned at {mosquitto.url} with TLS, passwords and ACL")
        return ProvidedBroker(mosquitto.url, "mosquitto", mosquitto)
    binary = find_mosquitto() if prefer == "mosquitto" else None
    if binary is not None:
        try:
            mosquitto = start_mosquitto(binary=binary)
        except RuntimeError as exc:
            echo(f"MQTT broker: Mosquitto ({binary}) failed to start, using the embedded one: {exc}")
        else:
            echo(f"MQTT broker: Mosquitto ({binary}) spawned at {mosquitto.url}")
            return ProvidedBroker(mosquitto.url, "mosquitto", mosquitto)
    embedded = start_embedded_broker()
    echo(f"MQTT broker: embedded amqtt at {embedded.url}")
    return ProvidedBroker(embedded.url, "embedded", embedded)
