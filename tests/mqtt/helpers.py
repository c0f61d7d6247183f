"""Small agents and helpers shared by the MQTT tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from controllers.messages import ClockMessage, MeasMessage, Message
from controllers.runtime import Agent, AgentGroup, AgentRunner, Setpoints, create_agent
from cosim.mqtt.bridge_core import BridgeCore

RUN = "run1"
TIMEOUT_S = 15.0  # generous: the test machine may be loaded; waits end on events, not on time


class RecordingAgent(Agent):
    """Echoes measurements and records every hook call."""

    kind = "recording"

    def __init__(self, agent_id: str, **params: Any) -> None:
        super().__init__(agent_id, **params)
        self.calls: list[tuple[str, int | None]] = []

    async def on_start(self) -> None:
        self.calls.append(("on_start", None))

    async def on_measurement(self, message: MeasMessage) -> None:
        self.calls.append(("on_measurement", message.tick))

    async def on_tick(self, message: ClockMessage) -> None:
        self.calls.append(("on_tick", message.tick))

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        self.calls.append(("step", tick))
        return dict(measurement.body.values) if measurement else None

    async def on_message(self, message: Message) -> None:
        self.calls.append((f"on_message:{message.kind}", message.tick))

    async def on_stop(self) -> None:
        self.calls.append(("on_stop", None))


class FailingAgent(Agent):
    """Raises in `step` at the ticks given as `fail_at`, answers {"ok": 1} otherwise."""

    def __init__(self, agent_id: str, fail_at: Sequence[int] = (), **params: Any) -> None:
        super().__init__(agent_id, **params)
        self.fail_at = set(fail_at)

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        if tick in self.fail_at:
            raise RuntimeError(f"boom at {tick}")
        return {"ok": 1.0}


class GatedAgent(Agent):
    """Answers tick 0 only once `gate` is set (to produce a late, then stale, setpoint)."""

    def __init__(self, agent_id: str, **params: Any) -> None:
        super().__init__(agent_id, **params)
        self.gate = asyncio.Event()

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        if tick == 0:
            await self.gate.wait()
        return {"tick": float(tick)}


class OnceAgent(Agent):
    """Answers tick 0 only, then stays silent."""

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        return {"p_kw": 7.0} if tick == 0 else None


def echo_runners(url: str, prefix: str, ids: Sequence[str], **kwargs: Any) -> list[AgentRunner]:
    return [AgentRunner(create_agent("echo", a), url, RUN, prefix=prefix, **kwargs) for a in ids]


@asynccontextmanager
async def running(runners: Sequence[AgentRunner], url: str, prefix: str, ids: Sequence[str],
                  **bridge_kwargs: Any) -> AsyncIterator[BridgeCore]:
    """Agents as tasks plus a connected bridge that has seen every agent online."""
    bridge_kwargs.setdefault("step_timeout_s", TIMEOUT_S)
    async with AgentGroup(runners) as group:
        assert await group.wait_ready(TIMEOUT_S), "agents did not connect"
        bridge = BridgeCore(url, RUN, ids, prefix=prefix, **bridge_kwargs)
        await bridge.start(TIMEOUT_S)
        try:
            missing = await bridge.wait_ready(TIMEOUT_S)
            assert missing == frozenset(), f"agents not online: {sorted(missing)}"
            yield bridge
        finally:
            await bridge.stop()


def meas(ids: Sequence[str], tick: int) -> dict[str, dict[str, float | None]]:
    return {a: {"p_kw": float(tick) + i / 10, "soc": None} for i, a in enumerate(ids)}
