"""`BridgeCore` on an event loop in a background thread, for synchronous callers (a mosaik simulator).

`with SyncBridge(url, run, agents) as bridge: result = bridge.exchange(tick, measurements)`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from controllers.messages import Message
from controllers.runtime.broker_url import BrokerUrl
from controllers.topics import Kind
from cosim.mqtt.bridge_core import BridgeCore, ExchangeResult, Values
from cosim.mqtt.bridge_recording import AgentTraffic, LatencyStats, MessageRecord
from cosim.mqtt.brokers import cancel_other_tasks

T = TypeVar("T")


class SyncBridge:
    """`BridgeCore` on an event loop in a background thread, for synchronous callers.

    `with SyncBridge(url, run, agents) as bridge: result = bridge.exchange(tick, measurements)`.
    Every keyword argument of `BridgeCore` is accepted.
    """

    def __init__(self, url: BrokerUrl | str, run: str, agents: Iterable[str], **core_kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"bridge-{run}", daemon=True)
        self._thread.start()
        agent_ids = tuple(agents)
        self.core: BridgeCore = self._call(self._make(url, run, agent_ids, core_kwargs))
        self._closed = False

    @staticmethod
    async def _make(
        url: BrokerUrl | str, run: str, agents: tuple[str, ...], kwargs: Mapping[str, Any]
    ) -> BridgeCore:
        return BridgeCore(url, run, agents, **kwargs)  # created on the loop: its events belong there

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def __enter__(self) -> SyncBridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, connect_timeout_s: float = 10.0) -> None:
        self._call(self.core.start(connect_timeout_s))

    def wait_ready(self, timeout_s: float = 10.0) -> frozenset[str]:
        """The agents still missing after waiting up to `timeout_s` for all to be online."""
        return self._call(self.core.wait_ready(timeout_s))

    def exchange(self, tick: int, measurements: Mapping[str, Values], **kwargs: Any) -> ExchangeResult:
        """See `BridgeCore.exchange`."""
        return self._call(self.core.exchange(tick, measurements, **kwargs))

    def watch(self, kind: Kind, sender: str, callback: Callable[[Message], None]) -> None:
        """See `BridgeCore.watch` (`callback` runs on the bridge's thread)."""
        self._call(self.core.watch(kind, sender, callback))

    def drain_records(self) -> list[MessageRecord]:
        return self.core.recorder.drain()

    def drain_rows(self) -> list[dict[str, object]]:
        """`drain_records` as dicts of the record's fields (`dataclasses.asdict` of each, faster)."""
        return self.core.recorder.drain_rows()

    def traffic(self) -> dict[str, AgentTraffic]:
        return self.core.recorder.traffic()

    def rtt(self) -> LatencyStats:
        return self.core.recorder.rtt()

    def dropped(self) -> dict[str, int]:
        return self.core.dropped.by_reason()

    def close(self) -> None:
        """Disconnect, stop the loop and join its thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self.core.stop(), timeout_s=self.core.connection.timeout_s + 5.0)
            self._call(cancel_other_tasks(), timeout_s=5.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)
            if not self._thread.is_alive():
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                self._loop.run_until_complete(self._loop.shutdown_default_executor())
                self._loop.close()
