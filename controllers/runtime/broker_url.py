"""Broker addresses: ``mqtt://[user[:password]@]host[:port]`` and ``mqtts://...`` (TLS).

TLS files may be given in the URL's query (``mqtts://user@host:8883?ca=/path/ca.crt&cert=...&key=...``)
or as keyword arguments to :func:`parse_broker_url`; a password should not be in a URL (it would
show in a command line): give it as a keyword argument, or in the environment variable
``UCOSIM_MQTT_PASSWORD`` for a URL with a user name and no password.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

DEFAULT_PORTS: Final = {"mqtt": 1883, "mqtts": 8883}
PASSWORD_VARIABLE: Final = "UCOSIM_MQTT_PASSWORD"
QUERY_FILES: Final = {"ca": "ca_file", "cert": "cert_file", "key": "key_file"}


class BrokerUrlError(ValueError):
    """A broker URL or option that cannot be used."""


@dataclass(frozen=True)
class BrokerUrl:
    """Where and how to connect to an MQTT broker."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @property
    def url(self) -> str:
        """The URL without credentials (safe to print), with its TLS files in the query."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        files = [(name, path) for name, path in (("ca", self.ca_file), ("cert", self.cert_file),
                                                 ("key", self.key_file)) if path is not None]
        query = "?" + urlencode([(name, str(path)) for name, path in files], safe="/") if files else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}{query}"

    def __str__(self) -> str:
        return self.url

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for `mqtts` (system CAs unless `ca_file` is given); None for `mqtt`."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return context

    def with_credentials(self, username: str | None, password: str | None) -> BrokerUrl:
        """A copy with other credentials (e.g. one agent's identity)."""
        return replace(self, username=username, password=password)


def parse_broker_url(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
) -> BrokerUrl:
    """Parse ``mqtt://host:port`` or ``mqtts://host:port``; keyword credentials override the URL's.

    Raises :class:`BrokerUrlError` naming the problem (unknown scheme, missing host, bad port,
    TLS files on a plain connection, a CA file that does not exist).
    """
    if not isinstance(url, str) or "://" not in url:
        raise BrokerUrlError(f"broker URL {url!r} must look like mqtt://host:port or mqtts://host:port")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BrokerUrlError(f"broker URL {url!r}: scheme {parts.scheme!r} not supported; use mqtt or mqtts")
    if parts.path not in ("", "/") or parts.fragment:
        raise BrokerUrlError(f"broker URL {url!r}: no path or fragment allowed")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(QUERY_FILES))
    if unknown:
        raise BrokerUrlError(f"broker URL {url!r}: unknown option(s) {unknown}; allowed: ca, cert, key")
    try:
        port = parts.port
    except ValueError as exc:
        raise BrokerUrlError(f"broker URL {url!r}: {exc}") from None
    if not parts.hostname:
        raise BrokerUrlError(f"broker URL {url!r} has no host")
    tls = scheme == "mqtts"
    files = {"ca_file": ca_file, "cert_file": cert_file, "key_file": key_file}
    for option, name in QUERY_FILES.items():
        if files[name] is None and query.get(option):
            files[name] = query[option]
    paths: dict[str, Path | None] = {}
    for name, value in files.items():
        if value is not None and not tls:
            raise BrokerUrlError(f"{name} given for a plain mqtt:// broker; use mqtts://")
        path = Path(value) if value is not None else None
        if path is not None and not path.is_file():
            raise BrokerUrlError(f"{name} {str(path)!r} does not exist")
        paths[name] = path
    url_user = unquote(parts.username) if parts.username else None
    url_password = unquote(parts.password) if parts.password else None
    if url_password is None and password is None and (username or url_user):
        url_password = os.environ.get(PASSWORD_VARIABLE) or None
    return BrokerUrl(
        host=parts.hostname,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        tls=tls,
        username=username if username is not None else url_user,
        password=password if password is not None else url_password,
        ca_file=paths["ca_file"],
        cert_file=paths["cert_file"],
        key_file=paths["key_file"],
    )
