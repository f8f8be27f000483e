"""The snippet tier's warm children: once a slot has run, the fork-server keeps a child for
it that is already confined (slot uid, no_new_privs, Landlock, seccomp) and waits for the
slot's next run. Checked from the host, through /proc."""
import asyncio
import os
import signal
import time

import pytest

from crib.sandbox import Limits, Sandbox, check
from crib.sandbox.forkserver import WARM_NAME


@pytest.fixture(scope="module")
def one_slot():
    report = check()
    if not report.snippet.ok or os.geteuid() != 0:
        pytest.skip(f"needs the snippet tier as root: {report.snippet.reason or 'not root'}")
    box = Sandbox(slots=1, scratch_mb=16, report=report)
    yield box
    box.close()


def _warm_child(box: Sandbox, other_than: int | None = None, timeout: float = 10.0) -> int:
    """The pid of a warm child of the fork-server (not `other_than`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [w["pid"] for w in box.warm_children() if w["pid"] != other_than]
        if pids:
            return pids[0]
        time.sleep(0.02)
    raise AssertionError("no warm child appeared")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def test_warm_child_is_confined_before_its_run(one_slot):
    assert asyncio.run(one_slot.run("x = 1")).ok  # the slot's first run: it then gets a warm child
    pid = _warm_child(one_slot)
    status = _status(pid)
    uid = str(one_slot.uids[0])
    assert status["Uid"].split() == [uid] * 4 and status["Gid"].split() == [uid] * 4
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
    assert status["CapEff"] == "0000000000000000"
    assert len(os.listdir(f"/proc/{pid}/fd")) == 2  # its socket and /dev/null: nothing inherited


def test_a_run_in_a_warm_child_gets_its_own_limits_env_and_name(one_slot):
    asyncio.run(one_slot.run("x = 1"))
    pid = _warm_child(one_slot)
    code = ("import os, resource, time\n"
            "def f():\n"
            "    time.sleep(0.5)\n"
            "    return {'pid': os.getpid(), 'uid': os.getuid(), 'home': os.environ.get('HOME'),\n"
            "            'nofile': resource.getrlimit(resource.RLIMIT_NOFILE)[0]}\n")

    async def run_and_look():
        task = asyncio.create_task(one_slot.run(code, entry="f", limits=Limits(max_open_files=99)))
        await asyncio.sleep(0.25)
        with open(f"/proc/{pid}/comm") as f:
            name = f.read().strip()
        return await task, name

    r, name = asyncio.run(run_and_look())
    assert r.ok, r.error
    assert r.value["pid"] == pid and name != WARM_NAME  # this run was the warm child, renamed
    assert r.value["uid"] == one_slot.uids[0] and r.value["nofile"] == 99
    assert r.value["home"] == one_slot._slot_dirs[0]


def test_a_killed_warm_child_is_replaced(one_slot):
    asyncio.run(one_slot.run("x = 1"))
    pid = _warm_child(one_slot)
    os.kill(pid, signal.SIGKILL)
    assert _warm_child(one_slot, other_than=pid) != pid
    r = asyncio.run(one_slot.run("print('after')"))
    assert r.ok and r.stdout == "after\n"


def test_close_leaves_no_warm_child():
    report = check()
    if not report.snippet.ok or os.geteuid() != 0:
        pytest.skip(f"needs the snippet tier as root: {report.snippet.reason or 'not root'}")
    box = Sandbox(slots=2, scratch_mb=16, report=report)

    async def two_runs():
        return await asyncio.gather(box.run("x = 1"), box.run("x = 2"))

    assert all(r.ok for r in asyncio.run(two_runs()))
    pid = _warm_child(box)
    box.close()
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}")
