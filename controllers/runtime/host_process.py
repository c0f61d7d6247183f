"""Many agents on one shared connection in a process of their own.

`AgentHostProcess` starts a child process (`python -m controllers.runtime.host_process`) that
builds the agents from their `(kind, agent_id, params)` specs and runs them in one `AgentHost`
(`host_agents`, also what `cosim`'s agent thread runs) until it is stopped. The
agents then use their own core and interpreter lock: a co-simulation or a benchmark keeps its
process for the simulators and the bridge, the agents' message handling runs next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from controllers.runtime.broker_url import BrokerUrl
from controllers.runtime.collector import StepCollector
from controllers.runtime.host import AgentHost
from controllers.runtime.identity import ClientSecurity
from controllers.runtime.registry import create_agent
from controllers.topics import DEFAULT_PREFIX

AgentSpecTuple = tuple[str, str, dict[str, Any]]  # (kind, agent_id, params)


async def host_agents(specs: Sequence[AgentSpecTuple], url: str, run: str, stop: asyncio.Event, *,
                      prefix: str = DEFAULT_PREFIX, qos: int = 1, host_id: str | None = None,
                      on_started: Callable[[], None] | None = None,
                      security: ClientSecurity | None = None, freeze_gc: bool = False) -> None:
    """Run the agents of `specs` on one `AgentHost` (named `host_id`, default a random one) until
    `stop` is set, then shut them down. `security`: the host's login and keys (a secured run: its
    messages are signed and verified). `freeze_gc`: the process is the agents' own: the garbage
    collector skips what start-up and each step leave alive (`controllers.runtime.collector`)."""
    agents = [create_agent(kind, agent_id, **params) for kind, agent_id, params in specs]
    if security is not None and host_id is None:  # the host signs as its principal
        host_id = security.username
    broker: BrokerUrl | str = url if security is None else security.broker_url(url)
    middleware = () if security is None else (security.middleware(),)
    collector = StepCollector() if freeze_gc else None
    host = AgentHost(agents, broker, run, prefix=prefix, qos=qos, host_id=host_id, middleware=middleware,
                     collector=collector)
    host.start()
    if on_started is not None:
        on_started()
    try:
        await stop.wait()
    finally:
        await host.shutdown()


def serve_agents(specs: Sequence[AgentSpecTuple], url: str, run: str, prefix: str = DEFAULT_PREFIX,
                 qos: int = 1, host_id: str | None = None, security: ClientSecurity | None = None) -> None:
    """Run the agents of `specs` on one connection until SIGTERM/SIGINT (the child's main)."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await host_agents(specs, url, run, stop, prefix=prefix, qos=qos, host_id=host_id, security=security,
                          freeze_gc=True)

    asyncio.run(serve())


class AgentHostProcess:
    """The agents of `specs` on one shared connection in a child process
    (`python -m controllers.runtime.host_process`, specs as JSON on its standard input)."""

    def __init__(self, specs: Sequence[AgentSpecTuple], url: str, run: str, *, prefix: str = DEFAULT_PREFIX,
                 qos: int = 1, host_id: str | None = None, security: ClientSecurity | None = None) -> None:
        """`security`: the host's login and keys, handed over on standard input with the specs."""
        for kind, agent_id, params in specs:  # fail here, with the agent's name, not silently in the child
            create_agent(kind, agent_id, **params)
        listed = [list(s) for s in specs]
        data = listed if security is None else {"specs": listed, "security": security.to_json()}
        payload_bytes = json.dumps(data).encode()
        command = [sys.executable, "-m", "controllers.runtime.host_process", "--broker", url, "--run", run,
                   "--prefix", prefix, "--qos", str(qos), *(("--host-id", host_id) if host_id else ())]
        # a session of its own: Ctrl-C goes to the run, which stops its agents in order
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        start_new_session=True)
        assert self.process.stdin is not None
        self.process.stdin.write(payload_bytes)
        self.process.stdin.close()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the agents (they say goodbye on MQTT) and wait for the process; kill it if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the child shuts its host down cleanly
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controllers.runtime.host_process",
                                     description="Run agents on one shared connection; specs as JSON "
                                     "[[kind, agent_id, {params}], ...] on standard input, or "
                                     "{\"specs\": [...], \"security\": {...}} in a secured run.")
    parser.add_argument("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
    parser.add_argument("--run", required=True, help="run id")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--host-id", default=None, help="the host's name (its last will, its batches)")
    args = parser.parse_args(argv)
    try:
        data = json.load(sys.stdin)
        security = ClientSecurity.from_json(data["security"]) if isinstance(data, dict) else None
        listed = data["specs"] if isinstance(data, dict) else data
        specs = [(str(k), str(a), dict(p)) for k, a, p in listed]
    except (ValueError, TypeError, KeyError) as exc:
        print(f"error: agent specs on standard input: {exc}", file=sys.stderr)
        return 2
    serve_agents(specs, args.broker, args.run, args.prefix, args.qos, args.host_id, security)
    return 0


if __name__ == "__main__":
    sys.exit(main())
