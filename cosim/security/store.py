"""The security folder of a run: written by `cosim security init`, read by `cosim run --security`.

    DIR/security.json                 principals and their roles, prefix, revoked names (no secrets)
    DIR/ca.crt  DIR/ca.key            the run's certificate authority (key: owner only)
    DIR/server.crt  DIR/server.key    the broker's certificate
    DIR/mosquitto/passwd              Mosquitto's password file (hashed by mosquitto_passwd)
    DIR/mosquitto/acl                 Mosquitto's ACL
    DIR/principals/NAME/password      NAME's broker password (owner only)
    DIR/principals/NAME/hmac.key      NAME's HMAC-SHA256 key, 64 hex digits (owner only)
    DIR/principals/NAME/ed25519.key   a broadcaster's signing key, PEM (owner only)
    DIR/principals/NAME/client.crt, client.key   NAME's TLS client certificate
    DIR/public/NAME.ed25519.pub       a broadcaster's public key, PEM

Secret files are created readable by their owner only; nothing secret goes into `security.json`,
a run's results, a command line or a log.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controllers.runtime.identity import ClientSecurity
from controllers.signing import Keyring
from controllers.topics import BRIDGE_ID, DEFAULT_PREFIX, validate_name, validate_prefix
from cosim.security.acl import DEVICE_BRIDGE, Principal, Role, acl_text
from cosim.security.pki import cert_pem, issue, make_ca, write_key, write_private

__all__ = ["MANIFEST", "SecurityDir", "SecurityError", "init_security"]

MANIFEST = "security.json"
HOST = "agent-host"  # the agent host of a run (agents as tasks or worker) logs in as this
PLANNER = "planner"
COORDINATOR = "coordinator"
DEFAULT_SERVER_HOSTS = ("127.0.0.1", "localhost", "::1")


class SecurityError(ValueError):
    """A security folder that cannot be used; the message names the file and what to do."""


def _principals(agents: Sequence[str], coordinator: str, devices: Sequence[str] = (),
                hosts: Mapping[str, Sequence[str]] | None = None) -> list[Principal]:
    carried = {HOST: (*agents, coordinator)} if hosts is None else {h: tuple(a) for h, a in hosts.items()}
    named = [BRIDGE_ID, PLANNER, *carried, coordinator, DEVICE_BRIDGE]
    clash = sorted((set(agents) | set(devices)) & set(named))
    if clash:
        raise SecurityError(f"agent or device name(s) {clash} clash with the platform's principals {named}; "
                            "rename them")
    strangers = sorted({a for on_host in carried.values() for a in on_host} - {*agents, coordinator})
    if strangers:
        raise SecurityError(f"agent host(s) carry agents that are not principals: {strangers[:10]}")
    return [
        Principal(BRIDGE_ID, "bridge"),
        Principal(coordinator, "coordinator"),
        Principal(PLANNER, "planner"),
        *(Principal(host, "host", on_host) for host, on_host in carried.items()),
        *(Principal(agent, "agent") for agent in agents),
        *([Principal(DEVICE_BRIDGE, "device-bridge")] if devices else []),
        *(Principal(device, "device") for device in devices),
    ]


def _hash_passwords(passwd: Path, passwords: dict[str, str]) -> None:
    """Mosquitto's password file via `mosquitto_passwd -U` (hashes a plain file in place; the
    passwords never appear on a command line)."""
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not Path(tool).is_file():
        raise SecurityError("mosquitto_passwd not found: install the 'mosquitto' package")
    write_private(passwd, "".join(f"{user}:{password}\n" for user, password in passwords.items()).encode())
    result = subprocess.run([tool, "-U", str(passwd)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SecurityError(f"mosquitto_passwd -U {passwd} failed: {result.stderr.strip()}")


def init_security(agents: Sequence[str], out: Path, *, prefix: str = DEFAULT_PREFIX,
                  coordinator: str = COORDINATOR, server_hosts: Sequence[str] = DEFAULT_SERVER_HOSTS,
                  name: str = "run", devices: Sequence[str] = (),
                  hosts: Mapping[str, Sequence[str]] | None = None) -> SecurityDir:
    """Write a security folder for `agents` (and the external `devices` of hardware in the loop,
    `<building>.device`, with the device plane's bridge) into `out` (which must not hold one yet).
    `hosts`: the agent hosts (host name → the agents it carries, the coordinator too if it runs
    there), each a principal of its own; default one host, `agent-host`, carrying every agent and
    the coordinator (`cosim run`'s agents as `tasks` or `worker`). Hosts that run at the same time
    need a principal each: a signer's sequence numbers are per process, so two processes signing
    as one principal would see each other's messages as replays."""
    validate_prefix(prefix)
    for agent in agents:
        validate_name(agent, "agent id")
    for device in devices:
        validate_name(device, "device id")
    for host in hosts or {}:
        validate_name(host, "agent host id")
    if (out / MANIFEST).exists():
        raise SecurityError(f"{out} already holds a security folder ({MANIFEST}); choose another --out")
    principals = _principals(agents, coordinator, devices, hosts)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    ca = make_ca(f"urban-cosim {name} CA")
    (out / "ca.crt").write_bytes(cert_pem(ca.cert))
    write_key(out / "ca.key", ca.key)
    server = issue(ca, "mqtt-broker", server_hosts=list(server_hosts))
    (out / "server.crt").write_bytes(cert_pem(server.cert))
    write_key(out / "server.key", server.key)
    passwords: dict[str, str] = {}
    for principal in principals:
        folder = out / "principals" / principal.name
        passwords[principal.name] = secrets.token_urlsafe(24)
        write_private(folder / "password", passwords[principal.name].encode())
        write_private(folder / "hmac.key", secrets.token_bytes(32).hex().encode())
        client = issue(ca, principal.name)
        (folder / "client.crt").write_bytes(cert_pem(client.cert))
        write_key(folder / "client.key", client.key)
        if principal.broadcaster:
            key = Ed25519PrivateKey.generate()
            write_private(folder / "ed25519.key", key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            (out / "public").mkdir(exist_ok=True)
            (out / "public" / f"{principal.name}.ed25519.pub").write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (out / "mosquitto").mkdir(exist_ok=True)
    _hash_passwords(out / "mosquitto" / "passwd", passwords)
    manifest = {
        "version": 1,
        "name": name,
        "prefix": prefix,
        "coordinator": coordinator,
        "server_hosts": list(server_hosts),
        "principals": [{"name": p.name, "role": p.role, "agents": list(p.agents)} for p in principals],
        "revoked": [],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    security = SecurityDir(out)
    security.write_acl()
    return security


@dataclass
class SecurityDir:
    """A security folder (see the module docstring)."""

    path: Path

    def __post_init__(self) -> None:
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            raise SecurityError(f"{self.path}: no {MANIFEST}; create the folder with `cosim security init`")
        try:
            data: dict[str, Any] = json.loads(manifest.read_text())
            self.prefix: str = data["prefix"]
            self.coordinator: str = data["coordinator"]
            self.principals = [Principal(p["name"], p["role"], tuple(p.get("agents", ())))
                               for p in data["principals"]]
            self.revoked: set[str] = set(data.get("revoked", []))
        except (ValueError, KeyError, TypeError) as exc:
            raise SecurityError(f"{manifest}: not a security manifest ({exc})") from None
        self._data = data

    # ---------------------------------------------------------------- files

    @property
    def ca_file(self) -> Path:
        return self.path / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.path / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.path / "server.key"

    @property
    def password_file(self) -> Path:
        return self.path / "mosquitto" / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.path / "mosquitto" / "acl"

    def names(self, role: Role | None = None) -> list[str]:
        return [p.name for p in self.principals if role is None or p.role == role]

    def _secret(self, name: str, file: str) -> bytes:
        path = self.path / "principals" / name / file
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SecurityError(
                f"{path}: cannot read ({exc.strerror}); is {name!r} a principal of {self.path}?") from None

    # ---------------------------------------------------------------- keys and logins

    def keyring(self, holder: str) -> Keyring:
        """The keys `holder` needs: its own (a host's: its agents' too), every broadcaster's public
        key, and for the bridge and the coordinator (and a host that runs the coordinator) every
        principal's HMAC key (the planner signs its plans with its Ed25519 key and needs no other
        principal's)."""
        principal = next((p for p in self.principals if p.name == holder), None)
        if principal is None:
            raise SecurityError(
                f"{holder!r} is not a principal of {self.path}; known: {', '.join(self.names())}")
        trusted = principal.role in ("bridge", "coordinator", "device-bridge") or (
            principal.role == "host" and self.coordinator in principal.agents)
        owners = self.names() if trusted else [holder, *principal.agents]
        hmac_keys = {n: bytes.fromhex(self._secret(n, "hmac.key").decode()) for n in owners}
        signing = {}
        for name in [holder, *principal.agents]:
            path = self.path / "principals" / name / "ed25519.key"
            if path.is_file():
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(key, Ed25519PrivateKey):
                    raise SecurityError(f"{path}: not an Ed25519 key")
                signing[name] = key
        public: dict[str, Ed25519PublicKey] = {}
        for path in sorted((self.path / "public").glob("*.ed25519.pub")):
            public_key = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(public_key, Ed25519PublicKey):
                public[path.name.removesuffix(".ed25519.pub")] = public_key
        return Keyring(hmac_keys, signing, public)

    def client(self, name: str, *, certificate: bool = True) -> ClientSecurity:
        """`name`'s broker login (password, CA, client certificate) and keys."""
        folder = self.path / "principals" / name
        return ClientSecurity(
            username=name,
            password=self._secret(name, "password").decode(),
            keyring=self.keyring(name),
            ca_file=self.ca_file,
            cert_file=folder / "client.crt" if certificate else None,
            key_file=folder / "client.key" if certificate else None,
        )

    # ---------------------------------------------------------------- broker files and revocation

    def write_acl(self) -> None:
        self.acl_file.write_text(acl_text(self.principals, self.prefix, self.coordinator, self.revoked))

    def revoke(self, names: Iterable[str]) -> list[str]:
        """Take `names` out of the ACL and the password file (a running broker applies it on SIGHUP:
        `MosquittoBroker.reload`); the names newly revoked."""
        known = set(self.names())
        wanted = list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise SecurityError(f"cannot revoke {unknown}: not principals of {self.path}")
        new = [n for n in wanted if n not in self.revoked]
        self.revoked.update(new)
        self._data["revoked"] = sorted(self.revoked)
        manifest = self.path / MANIFEST
        with tempfile.NamedTemporaryFile("w", dir=self.path, delete=False) as tmp:
            tmp.write(json.dumps(self._data, indent=2) + "\n")
        os.replace(tmp.name, manifest)
        self.write_acl()
        lines = self.password_file.read_text().splitlines()
        kept = [line for line in lines if line.partition(":")[0] not in self.revoked]
        write_private(self.password_file, ("\n".join(kept) + "\n").encode())
        return new
