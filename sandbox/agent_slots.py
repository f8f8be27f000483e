"""Which slot an agent-tier run takes, and so how many zygotes a Sandbox starts.

A zygote costs ≈75 ms of CPU to start (bubblewrap, an interpreter, the agent runtime's
imports); a run in a warm one costs a few ms. Starting one for every slot at once, as a
batch at concurrency 32 asked, spent 2.6 s of CPU on 2 cores before the runs could use it,
although runs that spend most of their time waiting for the model need far fewer zygotes
than slots when the CPU is the bottleneck. So a run takes, in order:
1. a free slot whose zygote is warm and idle (the most recently released);
2. a slot for a new zygote, if fewer than one per core are starting, and either there are
   fewer zygotes than cores, or the CPU had a quarter of a core idle lately (a new zygote
   can only add throughput when there is CPU to run it), or the run has waited GROW_AFTER_S
   (so a machine busy with other work still reaches the requested concurrency); but not
   while `held_back()` says the runs are bound elsewhere (the caller wires in the model
   endpoint's queue: when calls already wait for the endpoint, another run would only add
   one more waiter, and cost a zygote start of CPU the running ones need);
3. otherwise it waits, and is asked again on every release and every RECHECK_S.
With a remote model whose calls take seconds, the CPU idles and zygotes grow to the slot
count at up to one start per core at a time; on a CPU-bound batch they stop where the CPU is
used up."""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

GROW_AFTER_S = 1.0
# Half a core grew too few for one-call agents, whose runs leave the CPU idle in waves (cot,
# 200 problems: 2.16 s against 2.03 s over 10 interleaved rounds; cot-sc the same).
IDLE_CORES_TO_GROW = 0.25
CPU_WINDOW_S = 0.1  # /proc/stat counts in 10 ms ticks: a shorter window is mostly noise


class CpuMeter:
    """Idle CPU, in cores, over about the last CPU_WINDOW_S, from /proc/stat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: list[tuple[float, int, int]] = []  # (time, idle ticks, all ticks)
        self._idle = float(os.cpu_count() or 1)

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat", "rb") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user .. steal

    def idle_cores(self) -> float:
        """When /proc/stat cannot be read, every core counts as idle (nothing is held back)."""
        now = time.monotonic()
        with self._lock:
            if self._samples and now - self._samples[-1][0] < CPU_WINDOW_S / 4:
                return self._idle
            got = self._read()
            if got is None:
                return float(os.cpu_count() or 1)
            self._samples.append((now, *got))
            while len(self._samples) > 2 and now - self._samples[1][0] >= CPU_WINDOW_S:
                self._samples.pop(0)
            _, idle0, total0 = self._samples[0]
            if got[1] > total0:
                self._idle = (got[0] - idle0) / (got[1] - total0) * (os.cpu_count() or 1)
            return self._idle


class AgentSlotChooser:
    """`choose(free, waited_s)` for SlotPool.acquire, over a Sandbox's zygotes by slot."""

    def __init__(self, zygotes: dict[int, Any], cores: int | None = None,
                 meter: CpuMeter | None = None,
                 held_back: Callable[[], bool] | None = None) -> None:
        self.zygotes = zygotes
        self.cores = cores or os.cpu_count() or 1
        self.meter = meter or CpuMeter()
        self.held_back = held_back

    def __call__(self, free: list[int], waited_s: float) -> int | None:
        for slot in reversed(free):
            z = self.zygotes.get(slot)
            if z is not None and z.usable and z.ready and not z.busy:
                return slot
        if not self.may_start(waited_s):
            return None
        cold = self.cold(free)
        return (cold or free)[-1]

    def live(self) -> list[Any]:
        return [z for z in list(self.zygotes.values()) if z.usable]

    def cold(self, free: list[int]) -> list[int]:
        """The free slots without a usable zygote."""
        return [s for s in free if s not in self.zygotes or not self.zygotes[s].usable]

    def may_start(self, waited_s: float) -> bool:
        """Rule 2: whether a new zygote may start now, for a run that has waited `waited_s`."""
        live = self.live()
        if sum(not z.ready for z in live) >= self.cores:
            return False
        if len(live) < self.cores:
            return True
        if self.held_back is not None and self.held_back():
            return False
        return waited_s >= GROW_AFTER_S or self.meter.idle_cores() >= IDLE_CORES_TO_GROW
