"""The garbage-collector policy of the agents' own processes (`controllers.runtime.collector`):
what is alive is frozen at start-up and at each step, everything is handed back every
`unfreeze_every` steps, and an agent host steps it once per new tick."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from controllers.runtime import AgentHost
from controllers.runtime.builtin import EchoAgent
from controllers.runtime.collector import StepCollector
from tests.mqtt.helpers import RUN, TIMEOUT_S, meas, running


@pytest.fixture
def thawed() -> Iterator[None]:
    """Leave the process's collector as it was (nothing frozen) for the other tests."""
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_frozen_objects_are_skipped_until_the_collector_unfreezes(thawed: None) -> None:
    collector = StepCollector(unfreeze_every=3)
    assert gc.get_freeze_count() > 0  # start-up's objects
    cycle = _Cycle()
    gone = weakref.ref(cycle)
    collector.step()  # step 1: the cycle is alive, frozen with the rest
    del cycle
    gc.collect()
    assert gone() is not None  # garbage now, but frozen: a full collection skips it
    collector.step()  # step 2: frozen again
    gc.collect()
    assert gone() is not None
    collector.step()  # step 3: everything handed back
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None
    with pytest.raises(ValueError, match="unfreeze_every"):
        StepCollector(unfreeze_every=0)


class _Counting(StepCollector):
    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0

    def step(self) -> None:
        self.ticks += 1
        super().step()


async def test_an_agent_host_steps_its_collector_once_a_tick(
    broker_url: str, topic_prefix: str, thawed: None
) -> None:
    """Three ticks to two agents on one host: three steps, not one per agent or per message."""
    ids = ["c0", "c1"]
    collector = _Counting()
    async with AgentHost([EchoAgent(a) for a in ids], broker_url, RUN, prefix=topic_prefix,
                         collector=collector) as host:
        assert await host.wait_ready(TIMEOUT_S)
        async with running([], broker_url, topic_prefix, ids) as bridge:
            for tick in range(3):
                result = await bridge.exchange(tick, meas(ids, tick))
                assert result.all_on_time
            await asyncio.sleep(0)
    assert collector.ticks == 3
