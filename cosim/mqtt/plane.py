"""Everything a run needs for control over MQTT: a broker, the agents, the bridge.

`start_control_plane` provides the broker (the scenario's or `--broker`'s URL, else a spawned
Mosquitto, else the embedded broker), starts one agent per controlled building (as asyncio tasks
on one shared connection in a background thread, the same in one separate worker process, or each
as its own process with `python -m controllers.agent`), connects the lockstep bridge and waits
until every agent is online. With `batch`, the agents on one shared connection (`tasks`,
`worker`) get their measurements in one message per step and answer in one (`cosim.mqtt.bridge_batch`).
ADMM agents on one shared connection always answer a round in one `batch/admm-x` message of their
host (`with_round_batches`); each in its own process (`processes`) sends its own updates.
With `agents: external` no agent is started: a controller of the user's (any MQTT client, any
language; docs/controllers.md) connects as the agents, and the run waits for it.
`ControlPlane.close` stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controllers.runtime.host_process import AgentHostProcess, AgentSpecTuple, host_agents
from controllers.runtime.identity import ClientSecurity
from controllers.signing import SigningMiddleware
from cosim.mqtt.bridge_batch import host_id as batch_host_id
from cosim.mqtt.bridge_sync import SyncBridge
from cosim.mqtt.brokers import ProvidedBroker, provide_broker

if TYPE_CHECKING:
    from cosim.security.run import RunSecurity


@dataclass(frozen=True)
class AgentSpec:
    """One agent to start: its id (the building's name), kind and parameters."""

    agent_id: str
    kind: str
    params: dict[str, Any]


def _spec_tuples(specs: list[AgentSpec]) -> list[AgentSpecTuple]:
    return [(s.kind, s.agent_id, s.params) for s in specs]


class AgentThread:
    """Agents as asyncio tasks on one shared MQTT connection, in a background thread."""

    def __init__(
        self, specs: list[AgentSpec], url: str, run: str, qos: int, host_id: str | None = None,
        security: ClientSecurity | None = None,
    ) -> None:
        self.specs, self.url, self.run, self.qos, self.host_id = specs, url, run, qos, host_id
        self.security = security
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"agents-{run}", daemon=True)
        self._thread.start()
        if not self._started.wait(30.0):
            raise RuntimeError("agents did not start within 30 s")
        if self.error is not None:
            raise RuntimeError(f"agents failed to start: {self.error}") from self.error

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the caller via `error`
            self.error = exc
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await host_agents(
            _spec_tuples(self.specs), self.url, self.run, self._stop, qos=self.qos, host_id=self.host_id,
            on_started=self._started.set, security=self.security,
        )

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30.0)


class AgentWorker:
    """All agents on one shared connection in one separate process (`agents: worker`): the agents'
    message handling runs on the second core instead of sharing the co-simulation's interpreter."""

    def __init__(
        self, specs: list[AgentSpec], url: str, run: str, qos: int, host_id: str | None = None,
        security: ClientSecurity | None = None,
    ) -> None:
        self.host = AgentHostProcess(_spec_tuples(specs), url, run, qos=qos, host_id=host_id,
                                     security=security)

    def close(self) -> None:
        self.host.close()


class AgentProcesses:
    """Each agent in its own process (`python -m controllers.agent`), as on separate hosts."""

    def __init__(self, specs: list[AgentSpec], url: str, run: str, qos: int,
                 security: RunSecurity | None = None) -> None:
        self.specs = {s.agent_id: s for s in specs}
        self.url, self.run, self.qos, self.security = url, run, qos, security
        self.processes: dict[str, subprocess.Popen[bytes]] = {s.agent_id: self._spawn(s) for s in specs}

    def _spawn(self, s: AgentSpec) -> subprocess.Popen[bytes]:
        """`python -m controllers.agent` with the agent's parameters as JSON on standard input (typed
        values and nested mappings, never on the command line)."""
        command = [
            sys.executable,
            "-m",
            "controllers.agent",
            "--broker",
            self.url,
            "--run",
            self.run,
            "--agent",
            s.agent_id,
            "--kind",
            s.kind,
            "--qos",
            str(self.qos),
            "--params-stdin",
        ]
        stdin: Any = s.params
        if self.security is not None:  # the agent's login and keys on standard input, never in argv
            command.append("--security-stdin")
            stdin = {"params": s.params, "security": self.security.client(s.agent_id).to_json()}
        # a session of its own: Ctrl-C goes to the run, which stops its agents in order
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        if process.stdin is not None:
            process.stdin.write(json.dumps(stdin).encode())
            process.stdin.close()
        return process

    def kill(self, agent_id: str) -> None:
        """Kill one agent's process outright (SIGKILL: a crash, no goodbye on MQTT)."""
        process = self.processes[agent_id]
        process.kill()
        process.wait()

    def restart(self, agent_id: str) -> None:
        """Start a fresh process for `agent_id` (it rejoins the run)."""
        if self.processes[agent_id].poll() is None:
            raise RuntimeError(f"agent {agent_id} is still running")
        self.processes[agent_id] = self._spawn(self.specs[agent_id])

    def close(self) -> None:
        processes = list(self.processes.values())
        for p in processes:
            if p.poll() is None:
                p.terminate()
        for p in processes:
            try:
                p.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@dataclass
class ControlPlane:
    """A run's broker and its two planes: controllers (agents + bridge) and external devices."""

    broker: ProvidedBroker
    run_id: str
    bridge: SyncBridge | None
    agents: AgentThread | AgentWorker | AgentProcesses | None
    device_bridge: SyncBridge | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    verifier: SigningMiddleware | None = None  # the bridge's, in a secured run (cosim.security)
    round_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host → ADMM agents it batches
    device_verifier: SigningMiddleware | None = None  # the device plane's bridge's, in a secured run

    def close(self) -> None:
        for close in self.closers:
            try:
                close()
            except Exception as exc:  # keep closing the rest; the run's results are already safe
                print(f"warning: closing the control plane: {exc}", file=sys.stderr)


def _connect(bridge: SyncBridge, url: str) -> None:
    try:
        bridge.start()
    except ConnectionError as exc:
        raise ConnectionError(
            f"cannot reach the MQTT broker at {url}: start it, correct `controller.broker` in the "
            "scenario or --broker, or set neither to let the platform start a broker"
        ) from exc


ROUND_BATCH_KINDS = ("admm", "admm-compromised")  # agents whose round updates their host batches
COORDINATOR_KIND = "admm-coordinator"


def with_round_batches(specs: list[AgentSpec], host_id: str) -> tuple[list[AgentSpec], tuple[str, ...]]:
    """`specs` of agents on the one host `host_id`, with the ADMM agents answering each round in the
    host's batch and the coordinator told that the host carries them; and those agents."""
    batched = tuple(s.agent_id for s in specs if s.kind in ROUND_BATCH_KINDS)
    if not batched or not any(s.kind == COORDINATOR_KIND for s in specs):
        return specs, ()
    out = []
    for s in specs:
        if s.kind in ROUND_BATCH_KINDS:
            s = AgentSpec(s.agent_id, s.kind, {**s.params, "batch_updates": True})
        elif s.kind == COORDINATOR_KIND:
            s = AgentSpec(s.agent_id, s.kind, {**s.params, "hosts": {host_id: list(batched)}})
        out.append(s)
    return out, batched


Runner = AgentThread | AgentWorker | AgentProcesses


def _start_agents(
    specs: list[AgentSpec], url: str, run: str, agents: str, qos: int, batch: bool,
    security: RunSecurity | None = None,
) -> tuple[Runner, dict[str, list[str]] | None, dict[str, tuple[str, ...]]]:
    """The agents' runner, with `batch` the agent host the bridge batches for (host → agents), and
    the host whose ADMM agents answer each round in one batch (host → those agents).
    `security`: each agent (process) or the agent host logs in and signs as its principal."""
    if agents == "processes":
        if batch:
            raise ValueError("batches need agents on one shared connection (agents: tasks or worker)")
        return AgentProcesses(specs, url, run, qos, security), None, {}
    if agents not in ("tasks", "worker"):
        raise ValueError(f"unknown agents deployment {agents!r}; allowed: tasks, worker, processes")
    host_id = batch_host_id(0, (s.agent_id for s in specs))  # predictable batch topics: host-0
    host = None
    if security is not None:
        host = security.host()
        host_id = host.username
    hosts = {host_id: [s.agent_id for s in specs]} if batch else None
    specs, batched = with_round_batches(specs, host_id)
    runner = (AgentThread if agents == "tasks" else AgentWorker)(specs, url, run, qos, host_id, host)
    return runner, hosts, ({host_id: batched} if batched else {})


def _emulate_command(scenario_path: str, device: str, url: str, run: str, security: Any = None) -> str:
    """The command that emulates `device` (a building's device id, `<building>.device`) for run `run`
    (`security`: the run's `RunSecurity`, whose folder holds the device's login and keys)."""
    building = device.removesuffix(".device")
    secured = "" if security is None else f" --security {security.folder.path}"
    return f"cosim emulate-device {scenario_path} --device {building} --broker {url} --run-id {run}{secured}"


def start_control_plane(
    specs: list[AgentSpec],
    *,
    name: str,
    broker_url: str | None,
    agents: str,
    qos: int,
    step_timeout_s: float,
    devices: tuple[str, ...] = (),
    batch: bool = False,
    scenario_path: str = "SCENARIO",
    run_id: str | None = None,
    ready_timeout_s: float = 60.0,
    echo: Callable[[str], None] = print,
    security: RunSecurity | None = None,
) -> ControlPlane:
    """Start the broker, the agents of `specs` and their bridge, and the device plane for `devices`;
    wait until every agent and device is online (an error names the missing ones). `batch`: one
    measurement and one setpoint message per step for all agents of the shared connection (agents
    `tasks` or `worker`; devices keep their own topics)."""
    from cosim.mqtt.emulator import DEVICE_BRIDGE, DEVICE_PREFIX

    if security is not None:
        security.check([s.agent_id for s in specs], devices=devices)
    broker = provide_broker(broker_url, echo=echo, security=None if security is None else security.broker())
    run = run_id or f"{name}-{uuid.uuid4().hex[:8]}"
    plane = ControlPlane(broker, run, None, None, closers=[broker.close])
    try:
        if devices:
            device_url: Any = broker.url
            if security is not None:  # the device plane's bridge logs in as `devices` and signs and verifies
                device_bridge = security.device_bridge()
                device_url = device_bridge.broker_url(broker.url)
                plane.device_verifier = device_bridge.middleware()
            plane.device_bridge = SyncBridge(
                device_url,
                run,
                devices,
                prefix=DEVICE_PREFIX,
                bridge_id=DEVICE_BRIDGE,
                qos=qos,
                step_timeout_s=step_timeout_s,
                watch_delayed_ack=broker.kind == "external",  # devices may use any MQTT client
                middleware=[plane.device_verifier] if plane.device_verifier is not None else [],
            )
            plane.closers.insert(0, plane.device_bridge.close)
            _connect(plane.device_bridge, broker.url)
            echo(
                f"waiting for {len(devices)} external device(s) on run {run!r}; start "
                + ("it" if len(devices) == 1 else "each") + " with: "
                + "; ".join(_emulate_command(scenario_path, d, broker.url, run, security) for d in devices)
            )
        if specs:
            hosts = None
            if agents == "external":  # a controller of the user's connects as these agents
                if batch:
                    raise ValueError("external agents answer on their own topics: batches do not apply")
            else:
                runner, hosts, plane.round_hosts = _start_agents(specs, broker.url, run, agents, qos, batch,
                                                                 security)
                plane.agents = runner
                plane.closers.insert(0, runner.close)
            bridge_url: Any = broker.url
            if security is not None:  # the bridge logs in as `bridge` and signs and verifies
                bridge = security.bridge()
                bridge_url, plane.verifier = bridge.broker_url(broker.url), bridge.middleware()
            plane.bridge = SyncBridge(
                bridge_url, run, [s.agent_id for s in specs], qos=qos, step_timeout_s=step_timeout_s,
                hosts=hosts, middleware=[plane.verifier] if plane.verifier is not None else [],
                watch_delayed_ack=broker.kind == "external" and agents == "external",  # not our client
            )
            plane.closers.insert(0, plane.bridge.close)
            _connect(plane.bridge, broker.url)
            if agents == "external":
                names = [s.agent_id for s in specs]
                echo(
                    f"waiting up to {ready_timeout_s:.0f} s for an external controller on {broker.url}, run "
                    f"{run!r}, agents {', '.join(names[:10])}{' …' if len(names) > 10 else ''} "
                    "(topics and messages: docs/controllers.md)"
                )
            missing = sorted(plane.bridge.wait_ready(ready_timeout_s))
            if missing:
                raise TimeoutError(
                    f"{len(missing)} agent(s) did not come online on {broker.url} within "
                    f"{ready_timeout_s:.0f} s: {', '.join(missing[:10])}"
                )
        if plane.device_bridge is not None:
            missing = sorted(plane.device_bridge.wait_ready(ready_timeout_s))
            if missing:
                raise TimeoutError(
                    f"external device(s) {', '.join(missing)} did not come online on {broker.url} within "
                    f"{ready_timeout_s:.0f} s; connect the real devices or start emulators: "
                    + "; ".join(f"`{_emulate_command(scenario_path, d, broker.url, run, security)}`"
                                for d in missing)
                )
    except BaseException:
        plane.close()
        raise
    return plane
