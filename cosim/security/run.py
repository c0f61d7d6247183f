"""What a secured run (`cosim run --security DIR`) takes from its security folder: the broker's
configuration, every client's login and keys, and the check that the scenario's agents are the
folder's principals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controllers.runtime.identity import ClientSecurity
from controllers.signing import SigningMiddleware
from controllers.topics import BRIDGE_ID, DEFAULT_PREFIX
from cosim.mqtt.brokers import BrokerSecurity, MosquittoBroker, find_mosquitto
from cosim.security.acl import DEVICE_BRIDGE
from cosim.security.store import HOST, PLANNER, SecurityDir, SecurityError

if TYPE_CHECKING:
    from cosim.mqtt.plane import ControlPlane

__all__ = ["HOST", "RunSecurity", "load_run_security", "rejection_rows"]


@dataclass(frozen=True)
class RunSecurity:
    """A security folder as a run uses it."""

    folder: SecurityDir
    require_certificate: bool = False

    def broker(self) -> BrokerSecurity:
        """The spawned Mosquitto's TLS files, password file and ACL."""
        f = self.folder
        return BrokerSecurity(f.ca_file, f.server_cert, f.server_key, f.password_file, f.acl_file,
                              self.require_certificate)

    def client(self, name: str) -> ClientSecurity:
        if name in self.folder.revoked:
            raise SecurityError(f"{name!r} is revoked in {self.folder.path}; it cannot take part in a run")
        return self.folder.client(name, certificate=True)

    def bridge(self) -> ClientSecurity:
        return self.client(BRIDGE_ID)

    def planner(self) -> ClientSecurity:
        """The planner's, which hands the plans down (retained, signed with its Ed25519 key)."""
        return self.client(PLANNER)

    def device_bridge(self) -> ClientSecurity:
        """The device plane's bridge's (hardware in the loop)."""
        return self.client(DEVICE_BRIDGE)

    def host(self, name: str = HOST) -> ClientSecurity:
        """An agent host's (agents as `tasks` or `worker` on one connection; default the run's one
        host, see `init_security`'s `hosts`)."""
        return self.client(name)

    def revoke(self, plane: ControlPlane, names: Iterable[str]) -> list[str]:
        """Revoke `names` during a run (the anomaly checks' quarantine): out of the folder's ACL and
        password file, the run's own Mosquitto reloaded (an external broker must be sent SIGHUP by
        its owner), and the bridges' verifiers told (the device plane's too). The names newly revoked."""
        wanted = list(names)
        new = self.folder.revoke(wanted)
        if isinstance(plane.broker.handle, MosquittoBroker):
            plane.broker.handle.reload()
        for verifier in (plane.verifier, plane.device_verifier):  # the device plane's bridge too
            if verifier is not None:
                for name in wanted:
                    verifier.revoke(name)
        return new

    def check(self, agents: Iterable[str], prefix: str = DEFAULT_PREFIX, devices: Iterable[str] = ()) -> None:
        """`SecurityError` naming what to do if an agent or external device of the run has no
        credentials in the folder or the folder was made for another topic prefix."""
        if prefix != self.folder.prefix:
            raise SecurityError(f"{self.folder.path} was made for topic prefix {self.folder.prefix!r}, "
                                f"the run uses {prefix!r}")
        known = set(self.folder.names())
        wanted = [*devices]
        if wanted:
            wanted.append(DEVICE_BRIDGE)
        missing = sorted((set(agents) | set(wanted)) - known)
        if missing:
            raise SecurityError(
                f"{self.folder.path} has no credentials for agent(s) or device(s) {', '.join(missing[:10])}"
                f"{' …' if len(missing) > 10 else ''}: it was made for another scenario; run "
                "`cosim security init SCENARIO --out NEW_DIR` for this one")


def rejection_rows(verifier: SigningMiddleware) -> list[dict[str, Any]]:
    """The messages `verifier` rejected, as rows of the `security_rejections` table (none: no rows)."""
    return [{**asdict(r), "reason": r.reason.value} for r in verifier.rejections()]


def load_run_security(path: Path | str, agents: Iterable[str] = (), *, plans: bool = False,
                      devices: bool = False, broker: str | None = None) -> RunSecurity:
    """The security folder at `path`, checked for a run of `agents` (with `plans` to hand down: the
    folder's planner signs them; `devices` in the loop, on the external `broker`); `SecurityError`
    naming what to change if it cannot serve."""
    if broker is None and find_mosquitto() is None:
        raise SecurityError("--security: a secured run needs Mosquitto (the embedded broker cannot enforce "
                            "passwords and an ACL): install the 'mosquitto' package or give an mqtts:// "
                            "broker")
    if broker is not None and not broker.lower().startswith("mqtts://"):
        raise SecurityError(f"--security: a secured run needs a TLS broker, and {broker} is plain mqtt://; "
                            "give its mqtts:// address, or leave the broker out to let the platform start "
                            "one")
    folder = Path(path)
    if not folder.is_dir():
        raise SecurityError(f"--security {folder}: no such folder; create it with "
                            "`cosim security init SCENARIO --out DIR`")
    security = RunSecurity(SecurityDir(folder))
    security.check(agents)
    if plans and (PLANNER not in security.folder.names("planner") or PLANNER in security.folder.revoked):
        raise SecurityError(f"--security {folder}: the scenario hands plans down, and the folder has no "
                            f"(unrevoked) principal {PLANNER!r} to sign them; make a new one with "
                            "`cosim security init SCENARIO --out NEW_DIR`")
    if devices and DEVICE_BRIDGE not in security.folder.names("device-bridge"):
        raise SecurityError(f"--security {folder}: the scenario has external devices and the folder has no "
                            "device plane (it was made before they were marked external); make a new one "
                            "with `cosim security init SCENARIO --out NEW_DIR`")
    return security
