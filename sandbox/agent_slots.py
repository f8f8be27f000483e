"""Which slot an agent-tier run takes, and so how many zygotes a Sandbox starts.

A zygote costs ≈75 ms of CPU to start (bubblewrap, an interpreter, the agent runtime's
imports); a run in a warm one costs a few ms. So a run takes, in order:
1. a free slot whose zygote is warm and idle (the most recently released);
2. a slot for a new zygote, if fewer than one per core are starting (more at once only share
   the same cores, and each run would wait for all of them);
3. otherwise it waits, and is asked again on every release and every RECHECK_S.
Zygotes thus grow to the runs in flight, one start per core at a time. Rules that also weighed
idle CPU (/proc/stat) and the model endpoint's queue were measured against this at the
restated throughput target (docs/performance.md) and removed: `cot` the same, `cot-sc`
1.011–1.016 of the floor with them and 1.023–1.025 without, both within the target."""
from __future__ import annotations

import os
from typing import Any


class AgentSlotChooser:
    """`choose(free)` for SlotPool.acquire, over a Sandbox's zygotes by slot."""

    def __init__(self, zygotes: dict[int, Any], cores: int | None = None) -> None:
        self.zygotes = zygotes
        self.cores = cores or os.cpu_count() or 1

    def __call__(self, free: list[int]) -> int | None:
        for slot in reversed(free):
            z = self.zygotes.get(slot)
            if z is not None and z.usable and z.ready and not z.busy:
                return slot
        if not self.may_start():
            return None
        cold = self.cold(free)
        return (cold or free)[-1]

    def live(self) -> list[Any]:
        return [z for z in list(self.zygotes.values()) if z.usable]

    def cold(self, free: list[int]) -> list[int]:
        """The free slots without a usable zygote."""
        return [s for s in free if s not in self.zygotes or not self.zygotes[s].usable]

    def may_start(self) -> bool:
        """Rule 2: whether a new zygote may start now."""
        return sum(not z.ready for z in self.live()) < self.cores
