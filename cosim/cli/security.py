"""`cosim security init SCENARIO --out DIR` and `cosim security revoke DIR NAME...` (docs/security.md).

Registered in `cosim.cli.app` by `register(app, guard, command_class)`: the commands run inside the
app's guard, so a mistake ends with one message and its exit code (docs/cli.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cosim.cli.errors import InputError

console = Console()
security_app = typer.Typer(help="Secure a run's control plane: TLS, a login and keys per agent, an ACL "
                           "(docs/security.md).", no_args_is_help=True)


def init(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="the security folder to write "
                                      "(secrets inside: keep it private)")],
    prefix: Annotated[str, typer.Option("--prefix", metavar="PREFIX",
                                        help="topic prefix of the runs")] = "ucosim",
    hosts: Annotated[list[str] | None, typer.Option(
        "--host", metavar="NAME", help="a name or address the broker is reached at, for its certificate "
        "(repeatable; default 127.0.0.1, localhost, ::1)")] = None,
) -> None:
    """Write a CA, the broker's certificate, a login, keys and a client certificate per principal (each
    agent, the agent host, the bridge, the coordinator, the planner; each external device and the
    device plane's bridge), Mosquitto's password file and ACL."""
    from controllers.admm.params import COORDINATOR_ID
    from cosim.control.agents import agent_specs
    from cosim.run import external_devices
    from cosim.scenario.model import load_scenario
    from cosim.security.store import DEFAULT_SERVER_HOSTS, SecurityError, init_security

    loaded = load_scenario(scenario)
    agents = [s.agent_id for s in agent_specs(loaded) if s.agent_id != COORDINATOR_ID]
    devices = list(external_devices(loaded))
    try:
        folder = init_security(agents, out, prefix=prefix, coordinator=COORDINATOR_ID,
                               server_hosts=tuple(hosts or DEFAULT_SERVER_HOSTS), name=loaded.name,
                               devices=devices)
    except SecurityError as exc:
        raise InputError(f"cosim security init: {exc}") from None
    plane = f", {len(devices)} external devices and their bridge `devices`" if devices else ""
    console.print(
        f"wrote {out}: {len(folder.principals)} principals ({len(agents)} agents, agent-host, bridge, "
        f"coordinator, planner{plane}), CA, broker certificate, Mosquitto password file and ACL. Secrets are "
        f"readable by you only; keep the folder private.\nrun with: cosim run {scenario} --security {out}",
        highlight=False, soft_wrap=True)


def revoke(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="the security folder")],
    names: Annotated[list[str], typer.Argument(metavar="NAME...", help="principals to revoke")],
) -> None:
    """Take principals out of the ACL and the password file; a running Mosquitto applies it on SIGHUP
    (`kill -HUP <pid>`; a run's own broker is reloaded by the run itself: docs/security.md)."""
    from cosim.security.store import SecurityDir, SecurityError

    try:
        revoked = SecurityDir(folder).revoke(names)
    except SecurityError as exc:
        raise InputError(f"cosim security revoke: {exc}") from None
    console.print(f"revoked {', '.join(revoked) or 'nothing new'} in {folder}; reload the broker (SIGHUP)",
                  highlight=False)


def register(app: typer.Typer, guard: Callable[[Any], Any], command_class: type[Any]) -> None:
    """Add `cosim security init` and `cosim security revoke` to `app`, each inside `guard`."""
    security_app.command("init", cls=command_class)(guard(init))
    security_app.command("revoke", cls=command_class)(guard(revoke))
    app.add_typer(security_app, name="security")
