"""What one client of a secured run holds: its broker login (user name, password, TLS files) and its
message keys (`controllers.signing.Keyring`).

`ClientSecurity` is handed to a client in process, or to a child process as JSON on its standard
input (`to_json` / `from_json`): never on its command line, in a file of the results or in a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controllers.messages import Codec
from controllers.runtime.broker_url import BrokerUrl, parse_broker_url
from controllers.signing import Keyring, SigningMiddleware

__all__ = ["ClientSecurity"]


@dataclass(frozen=True)
class ClientSecurity:
    """One principal's broker login and message keys."""

    username: str
    password: str = field(repr=False)
    keyring: Keyring = field(repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def broker_url(self, url: BrokerUrl | str) -> BrokerUrl:
        """`url` (an `mqtts://` broker) with this principal's credentials and TLS files."""
        parsed = url if isinstance(url, BrokerUrl) else parse_broker_url(url)
        return BrokerUrl(
            host=parsed.host, port=parsed.port, tls=parsed.tls,
            username=self.username, password=self.password,
            ca_file=parsed.ca_file or self.ca_file,  # a broker of the user's may have a CA of its own
            cert_file=self.cert_file or parsed.cert_file, key_file=self.key_file or parsed.key_file,
        )

    def middleware(self, codec: Codec | str = Codec.JSON) -> SigningMiddleware:
        """A signer and verifier with this principal's keys (one per client)."""
        return SigningMiddleware(self.keyring, codec=codec)

    def to_json(self) -> dict[str, Any]:
        """Everything, secrets included, as JSON values: for a child's standard input only."""
        files = {"ca_file": self.ca_file, "cert_file": self.cert_file, "key_file": self.key_file}
        return {
            "username": self.username,
            "password": self.password,
            "keyring": self.keyring.to_json(),
            **{name: str(path) if path is not None else None for name, path in files.items()},
        }

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickled as its JSON (a child process of `multiprocessing` gets it through a pipe)."""
        return (ClientSecurity.from_json, (self.to_json(),))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientSecurity:
        def path(name: str) -> Path | None:
            value = data.get(name)
            return Path(value) if value else None

        return cls(
            username=str(data["username"]),
            password=str(data["password"]),
            keyring=Keyring.from_json(data.get("keyring", {})),
            ca_file=path("ca_file"),
            cert_file=path("cert_file"),
            key_file=path("key_file"),
        )
