"""Which slot an agent-tier run takes (sandbox/agent_slots.py): a warm zygote's first, a new
zygote only while fewer than one per core are starting. The policy is checked on its own with
plain state records, then on a real Sandbox: sequential runs share one zygote, runs that wait
on the model grow the pool, and `prewarm` starts zygotes ahead of the runs, which then use
them."""
import asyncio
import time
from dataclasses import dataclass

import pytest

from crib.sandbox.agent_slots import AgentSlotChooser
from tests.sandbox.conftest import agent_sandbox


@dataclass
class State:  # what the chooser reads of a zygote
    usable: bool = True
    ready: bool = True
    busy: bool = False


def chooser(zygotes: dict, cores: int = 2) -> AgentSlotChooser:
    return AgentSlotChooser(zygotes, cores=cores)


def test_a_warm_idle_zygote_comes_first_most_recently_released_first():
    z = {0: State(), 1: State(usable=False), 2: State(), 3: State(ready=False)}
    assert chooser(z)([4, 0, 1, 2, 3]) == 2


def test_a_new_zygote_only_while_fewer_than_one_per_core_are_starting():
    assert chooser({})([0, 1, 2]) == 2
    assert chooser({2: State(ready=False)})([0, 1]) == 1
    starting = {1: State(ready=False), 2: State(ready=False)}
    assert chooser(starting)([0]) is None  # two starting on two cores: wait for one
    busy = {0: State(busy=True), 1: State(busy=True)}
    assert chooser(busy)([2, 3]) == 3  # runs in flight: the zygotes grow to them


def test_a_slot_whose_zygote_is_gone_gets_a_new_one():
    z = {0: State(busy=True), 1: State(busy=True), 2: State(usable=False)}
    assert chooser(z)([2]) == 2


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

        def choose(free):
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

        picky = asyncio.create_task(pool.acquire(choose=lambda free: None))
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
