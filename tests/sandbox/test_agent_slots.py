"""Which slot an agent-tier run takes (sandbox/agent_slots.py): a warm zygote's first, a new
zygote only while fewer than one per core are starting and the CPU has room or the run has
waited long enough, and none beyond one per core while the runs are held back elsewhere (the
model endpoint's queue). The policy is checked on its own with plain state records, then on a
real Sandbox: sequential runs share one zygote, runs that wait on the model grow the pool,
and `prewarm` starts zygotes ahead of the runs, which then use them."""
import asyncio
import os
import time
from dataclasses import dataclass

import pytest

from crib.sandbox.agent_slots import GROW_AFTER_S, AgentSlotChooser, CpuMeter
from tests.sandbox.conftest import agent_sandbox


@dataclass
class State:  # what the chooser reads of a zygote
    usable: bool = True
    ready: bool = True
    busy: bool = False


class FixedMeter(CpuMeter):
    def __init__(self, idle: float) -> None:
        super().__init__()
        self.idle = idle

    def idle_cores(self) -> float:
        return self.idle


def chooser(zygotes: dict, idle: float = 0.0, cores: int = 2) -> AgentSlotChooser:
    return AgentSlotChooser(zygotes, cores=cores, meter=FixedMeter(idle))


def test_a_warm_idle_zygote_comes_first_most_recently_released_first():
    z = {0: State(), 1: State(usable=False), 2: State(), 3: State(ready=False)}
    assert chooser(z)([4, 0, 1, 2, 3], 0.0) == 2
    assert chooser(z)([4, 1, 3], 0.0) is None  # no warm one, a busy CPU, zygotes >= cores


def test_new_zygotes_while_fewer_than_one_per_core():
    assert chooser({})([0, 1, 2], 0.0) == 2
    assert chooser({2: State(ready=False)})([0, 1], 0.0) == 1
    # Two starting on two cores: wait for one, whatever the CPU or the wait.
    starting = {1: State(ready=False), 2: State(ready=False)}
    assert chooser(starting, idle=2.0)([0], 10.0) is None


def test_growth_beyond_the_cores_needs_idle_cpu_or_a_long_wait():
    busy = {0: State(busy=True), 1: State(busy=True)}
    assert chooser(busy, idle=0.1)([2, 3], 0.0) is None
    assert chooser(busy, idle=0.6)([2, 3], 0.0) == 3
    assert chooser(busy, idle=0.0)([2, 3], GROW_AFTER_S) == 3


def test_no_growth_beyond_the_cores_while_the_runs_are_held_back_elsewhere():
    busy = {0: State(busy=True), 1: State(busy=True)}
    held = AgentSlotChooser(busy, cores=2, meter=FixedMeter(2.0), held_back=lambda: True)
    assert held([2, 3], GROW_AFTER_S * 10) is None  # idle CPU, a long wait: still no start
    free = AgentSlotChooser(busy, cores=2, meter=FixedMeter(2.0), held_back=lambda: False)
    assert free([2, 3], 0.0) == 3
    # Below one zygote per core the hold does not apply (and a warm idle one is always taken).
    one = AgentSlotChooser({0: State(busy=True)}, cores=2, meter=FixedMeter(0.0),
                           held_back=lambda: True)
    assert one([1, 2], 0.0) == 2
    warm = AgentSlotChooser({**busy, 2: State()}, cores=2, meter=FixedMeter(0.0),
                            held_back=lambda: True)
    assert warm([2, 3], 0.0) == 2


def test_a_slot_whose_zygote_is_gone_gets_a_new_one():
    z = {0: State(busy=True), 1: State(busy=True), 2: State(usable=False)}
    assert chooser(z, idle=1.0)([2], 0.0) == 2

def test_cpu_meter_reads_idle_cores_from_proc_stat():
    meter = CpuMeter()
    first = meter.idle_cores()
    time.sleep(0.15)
    later = meter.idle_cores()
    assert 0.0 <= later <= (os.cpu_count() or 1) + 0.01
    assert first >= 0.0


@pytest.fixture(scope="module")
def box():
    sb = agent_sandbox(slots=6, scratch_mb=16)
    yield sb
    sb.close()


AGENT = "def forward(task):\n    return llm(task)\n"


def test_sequential_runs_share_one_warm_zygote(box):
    async def reply(method, params):
        return {"text": "ok"}

    async def main():
        for i in range(5):
            r = await box.run_agent(AGENT, f"task {i}", rpc=reply)
            assert r.ok and r.value == "ok", r.error
            for _ in range(200):  # the run has reported; its slot comes back a moment later
                if box._pool.free_count() == box._pool.size:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(main())
    assert len(box.zygotes()) == 1


def test_runs_waiting_on_the_model_grow_one_zygote_each(box):
    n = 5
    arrived = 0

    async def main():
        gate = asyncio.Event()

        async def reply(method, params):
            nonlocal arrived
            arrived += 1
            if arrived == n:
                gate.set()
            await asyncio.wait_for(gate.wait(), 60)  # every run holds its slot till all came
            return {"text": params["messages"][-1]["content"]}

        return await asyncio.gather(*(box.run_agent(AGENT, f"t{i}", rpc=reply) for i in range(n)))

    results = asyncio.run(main())
    assert [r.value for r in results] == [f"t{i}" for i in range(n)]
    assert len(box.zygotes()) >= n


def test_a_release_wakes_one_waiter_and_a_declined_slot_goes_to_one_that_takes_any():
    from crib.sandbox.slots import SlotPool

    async def main():
        pool = SlotPool(1)
        held = await pool.acquire()
        asked = []

        def choose(free, waited_s):
            asked.append(free)
            return free[-1]

        takers = [asyncio.create_task(pool.acquire(choose=choose)) for _ in range(5)]
        await asyncio.sleep(0.05)
        pool.release(held)
        await asyncio.sleep(0.05)
        assert sum(t.done() for t in takers) == 1 and asked == [[0]]  # not five racing for it
        winner = next(t for t in takers if t.done()).result()
        for t in takers:
            t.cancel()

        picky = asyncio.create_task(pool.acquire(choose=lambda free, waited_s: None))
        await asyncio.sleep(0.01)
        plain = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        pool.release(winner)  # wakes the picky one first (older); it declines and passes it on
        assert await asyncio.wait_for(plain, 5) == 0
        picky.cancel()

    asyncio.run(main())


def test_prewarm_starts_zygotes_before_any_run_and_the_first_runs_use_them():
    sb = agent_sandbox(slots=4, scratch_mb=16)
    try:
        sb.prewarm(3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            live = sb._agent_slots.live()
            if len(live) == 3 and all(z.ready for z in live):
                break
            time.sleep(0.02)
        assert len(sb.zygotes()) == 3  # no run yet, and no more than asked for
        before = {z["slot"]: z["pids"] for z in sb.zygotes()}

        async def reply(method, params):
            return {"text": params["messages"][-1]["content"]}

        async def main():
            runs = [sb.run_agent(AGENT, f"t{i}", rpc=reply) for i in range(2)]
            return await asyncio.gather(*runs)

        results = asyncio.run(main())
        assert [r.value for r in results] == ["t0", "t1"]
        after = {z["slot"]: z["pids"] for z in sb.zygotes()}
        assert after == before  # the runs went to the warm zygotes: none was started for them
    finally:
        sb.close()
    assert sb.zygotes() == []


def test_prewarm_stops_at_close():
    sb = agent_sandbox(slots=8, scratch_mb=16)
    sb.prewarm(8)
    sb.close()  # at once, while zygotes may be starting
    time.sleep(0.3)
    assert sb.zygotes() == [] and sb._zygotes == {}
