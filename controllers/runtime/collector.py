"""The cyclic garbage collector in a process of many agents.

A full collection of CPython's cyclic garbage collector (generation 2) scans every object it tracks:
in a host of 500 ADMM agents ~0.1–0.25 s, several times a control step, each a pause in whichever
ADMM round is running when it strikes. Most of those objects live for the whole run (modules,
agents, their solvers) or for one control step (an agent's problem data).

`StepCollector` keeps full collections to what is new: `gc.freeze()` moves every object alive at
start-up and at each control step's clock into the permanent generation, which collections skip.
Frozen objects are still freed by reference counting as soon as nothing refers to them; only a
cycle of garbage among them waits, until every `unfreeze_every` steps they are handed back to the
collector (one full collection then looks at everything), so memory stays bounded.
"""

from __future__ import annotations

import gc

UNFREEZE_EVERY_STEPS = 100


class StepCollector:
    """Freezes what is alive now (start-up), and at each `step()`; every `unfreeze_every` steps
    the frozen objects go back to the collector instead."""

    def __init__(self, unfreeze_every: int = UNFREEZE_EVERY_STEPS) -> None:
        if unfreeze_every < 1:
            raise ValueError("unfreeze_every must be ≥ 1")
        self.unfreeze_every = unfreeze_every
        self.steps = 0
        gc.freeze()

    def step(self) -> None:
        """A control step began: freeze what the last one left alive (or, every `unfreeze_every`
        steps, unfreeze everything)."""
        self.steps += 1
        if self.steps % self.unfreeze_every == 0:
            gc.unfreeze()
        else:
            gc.freeze()
