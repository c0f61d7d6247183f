"""Small agents that ship with the runtime: for tests, benchmarks and wiring checks."""

from __future__ import annotations

from typing import Any, ClassVar

from controllers.messages import MeasMessage
from controllers.runtime.agent import Agent, Setpoints


class EchoAgent(Agent):
    """Answers each measurement with the same values as setpoints (round-trip checks)."""

    kind: ClassVar[str] = "echo"

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        return dict(measurement.body.values) if measurement is not None else {}


class ConstantAgent(Agent):
    """Answers every tick with the setpoints given as parameters (numbers or None)."""

    kind: ClassVar[str] = "constant"

    def __init__(self, agent_id: str, **params: Any) -> None:
        super().__init__(agent_id, **params)
        self.setpoints: dict[str, float | None] = {
            name: None if value is None else float(value) for name, value in params.items()
        }

    async def step(self, tick: int, measurement: MeasMessage | None) -> Setpoints | None:
        return self.setpoints


class SilentAgent(Agent):
    """Connects and listens but never answers (the bridge falls back for it every tick)."""

    kind: ClassVar[str] = "silent"
