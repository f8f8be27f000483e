"""The agent tier's warm zygotes: runs of one slot share a long-lived bubblewrap sandbox, so
each test here checks that nothing a run does reaches the next run in the same slot, that the
zygote cannot be tampered with, and that a dead or retired zygote is replaced.

A Sandbox with one slot makes every top-level run use slot 0 (the same zygote)."""
import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from crib.sandbox import Limits, Sandbox, check
from tests.sandbox.conftest import agent_sandbox, slot_uid_pids


@pytest.fixture(scope="module")
def one():
    box = agent_sandbox(slots=1, scratch_mb=16)
    yield box
    box.close()


def agent(box: Sandbox, code: str, **kw):
    r = asyncio.run(box.run(code, tier="agent", **kw))
    _wait_slot_free(box)  # the next run then surely takes the same slot
    return r


def _wait_slot_free(box: Sandbox) -> None:
    for _ in range(400):
        if box._pool.free_count() == box._pool.size:
            return
        time.sleep(0.01)
    raise AssertionError("the slot did not come back")


def _zygote_pid(box: Sandbox) -> int:
    (z,) = box.zygotes()
    return z["pids"][1]


def _uid_processes(box: Sandbox) -> list[int]:
    return slot_uid_pids(box, {pid for z in box.zygotes() for pid in z["pids"]})


LOOK = """
import os, json, random, sys
import crib_runtime
def listing(d):
    try:
        return sorted(os.listdir(d))
    except OSError as e:
        return type(e).__name__
procs = sorted(p for p in os.listdir('/proc') if p.isdigit())
print(json.dumps({"scratch": listing('.'), "tmp": listing('/tmp'), "shm": listing('/dev/shm'),
                  "procs": procs, "me": os.getpid(), "ppid": os.getppid(),
                  "env": sorted(os.environ), "task": crib_runtime.task,
                  "dumps_ok": json.dumps([1]) == "[1]", "path": sys.path,
                  "tmp_mode": oct(os.stat('/tmp').st_mode & 0o7777),
                  "tmp_xattrs": os.listxattr('/tmp'), "rand": random.random()}))
"""

MESS = r"""
import os, json, sys, time, ctypes, errno
import crib_runtime
crib_runtime.task = "left over"       # module state of the guest runtime
json.dumps = None                     # and of the stdlib
os.environ["LEFT_OVER"] = "1"
sys.path.insert(0, "/scratch")
for d in (".", "/tmp", "/dev/shm"):
    os.makedirs(f"{d}/deep/er", exist_ok=True)
    open(f"{d}/deep/er/file", "w").write("secret of run 1")
    os.symlink("/usr", f"{d}/link")
    os.mkfifo(f"{d}/fifo")
    os.chmod(f"{d}/deep", 0)          # unreadable: the cleaner must still get in
try:
    os.setxattr("/tmp", "user.left", b"over")
    xattr = "set"
except OSError as e:
    xattr = errno.errorcode[e.errno]
os.chmod("/tmp", 0o777)
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.syscall(29, ctypes.c_long(0x1234), ctypes.c_long(4096), ctypes.c_long(0o1666))
shm_errno = ctypes.get_errno()
mq = libc.syscall(240, b"/left", ctypes.c_long(0o102), ctypes.c_long(0o666), None)
mq_errno = ctypes.get_errno()
if os.fork() == 0:                    # a background process that leaves the session
    os.setsid()
    if os.fork() == 0:
        time.sleep(120)
    os._exit(0)
print(xattr, shm, shm_errno, mq, mq_errno, os.getpid())
"""


def test_runs_are_forked_by_a_warm_zygote_that_is_pid_1(one):
    first = agent(one, "print(1)")
    assert first.ok, first.error
    pid = _zygote_pid(one)
    code = ("import os\nres = [os.getppid()]\n"
            "for p in ['/proc/1/mem', '/proc/1/environ', '/proc/1/maps']:\n"
            "    try:\n        open(p, 'rb').read(16); res.append('read ' + p)\n"
            "    except OSError as e:\n        res.append(type(e).__name__)\n"
            "try:\n    res.append(os.listdir('/proc/1/fd'))\n"
            "except OSError as e:\n    res.append(type(e).__name__)\n"
            "print(res)\n")
    r = agent(one, code)
    assert r.ok, r.error
    # The zygote is PID 1 of the sandbox and not dumpable: a same-uid run cannot read it.
    assert r.stdout.strip() == ("[1, 'PermissionError', 'PermissionError', 'PermissionError', "
                                "'PermissionError']")
    assert _zygote_pid(one) == pid  # the same warm process served both runs
    (z,) = one.zygotes()
    assert z["rss_kb"] > 0 and z["pss_kb"] > 0


def test_a_zygote_imports_only_what_runs_use(one):
    """Every zygote start pays for its imports (most of its ≈75 ms of CPU): the control loop
    does without socket.py and selectors, and only a failing run imports traceback."""
    heavy = ("socket", "selectors", "traceback", "typing", "inspect")
    r = agent(one, f"import sys\nprint([m for m in {heavy!r} if m in sys.modules])")
    assert r.ok, r.error
    assert r.stdout.strip() == "[]"
    failing = agent(one, "raise ValueError('on purpose')")
    assert not failing.ok and "ValueError: on purpose" in failing.stderr  # traceback works


def test_nothing_a_run_leaves_reaches_the_next_run(one):
    before = agent(one, LOOK)
    assert before.ok, before.error
    pid = _zygote_pid(one)
    mess = agent(one, MESS)
    assert mess.ok, (mess.error, mess.stderr)
    xattr, shm, shm_errno, mq, mq_errno, mess_pid = mess.stdout.split()
    # SysV IPC and POSIX message queues would outlive the run in the sandbox's IPC namespace.
    assert (int(shm), int(shm_errno), int(mq), int(mq_errno)) == (-1, 1, -1, 1)
    assert _uid_processes(one) == []  # the background process is gone
    after = agent(one, LOOK)
    assert after.ok, after.error
    import json

    a, b = json.loads(before.stdout), json.loads(after.stdout)
    assert _zygote_pid(one) == pid  # cleaned, not replaced
    assert b["scratch"] == b["shm"] == []
    # /tmp keeps only the skeleton bubblewrap made for read-only paths that live under it
    # (a checkout under /tmp, say), exactly as before the messy run.
    assert b["tmp"] == a["tmp"] and "deep" not in b["tmp"]
    assert b["procs"] == ["1", str(b["me"])] and b["ppid"] == 1
    for key in ("env", "task", "dumps_ok", "path", "tmp_mode", "tmp_xattrs"):
        assert b[key] == a[key], key
    assert b["rand"] != a["rand"]  # each run reseeds its random generator
    assert "secret of run 1" not in after.stdout


def test_signals_to_the_zygote_do_nothing(one):
    pid = (agent(one, "print(1)"), _zygote_pid(one))[1]
    code = ("import os, signal\nres = []\n"
            "for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP, signal.SIGSEGV):\n"
            "    try:\n        os.kill(1, sig); res.append('sent')\n"
            "    except OSError as e:\n        res.append(type(e).__name__)\n"
            "try:\n    os.kill(-1, signal.SIGKILL)  # everything but init and itself: nothing\n"
            "except ProcessLookupError:\n    res.append('none')\n"
            "print(res)\n")
    r = agent(one, code)
    assert r.ok, r.error
    assert r.stdout.strip() == "['sent', 'sent', 'sent', 'sent', 'none']"
    # The kernel drops signals a pid namespace's own processes send to its init.
    assert _zygote_pid(one) == pid
    nxt = agent(one, "print('next')")
    assert nxt.ok and nxt.stdout == "next\n"


def test_zygote_killed_during_a_run(one):
    agent(one, "print(1)")
    pid = _zygote_pid(one)

    async def go():
        task = asyncio.create_task(one.run("import time\ntime.sleep(30)", tier="agent",
                                           limits=Limits(timeout_s=60)))
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        return await task
    r = asyncio.run(go())
    assert not r.ok and r.exit_code is None
    assert "sandbox died during the run" in r.error and "slot 0" in r.error
    _wait_slot_free(one)
    assert _uid_processes(one) == []
    nxt = agent(one, "print('fresh')")
    assert nxt.ok and nxt.stdout == "fresh\n"
    assert _zygote_pid(one) != pid


def test_a_sandbox_that_cannot_be_cleaned_is_replaced(one):
    agent(one, "print(1)")
    pid = _zygote_pid(one)
    r = agent(one, "import os\nos.makedirs('/'.join(['d'] * 300))\nprint('deep')")
    assert r.ok and r.stdout == "deep\n"
    # The zygote retires rather than hand a dirty sandbox on; the next run gets a new one.
    nxt = agent(one, "import os\nprint(os.listdir('.'))")
    assert nxt.ok and nxt.stdout == "[]\n"
    assert _zygote_pid(one) != pid


def test_close_stops_the_zygotes():
    box = agent_sandbox(slots=2)
    try:
        async def two():
            return await asyncio.gather(*[box.run("import time\ntime.sleep(0.2)", tier="agent")
                                          for _ in range(2)])
        assert all(r.ok for r in asyncio.run(two()))
        pids = [pid for z in box.zygotes() for pid in z["pids"]]
        assert len(pids) == 4
    finally:
        box.close()
    def running(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    for _ in range(300):
        alive = [p for p in pids if running(p)]
        if not alive:
            break
        time.sleep(0.01)
    assert alive == []


def test_read_only_paths_under_tmp_survive_cleaning(monkeypatch):
    """A path the guest reads may live under /tmp (a checkout in /tmp, say): bubblewrap mounts
    it inside the sandbox's /tmp, and the zygote keeps that skeleton while emptying the rest.
    A run that moves it makes the zygote retire instead of cleaning around it."""
    report = check()
    if not report.agent.ok:
        pytest.skip(report.agent.reason)
    ro = Path("/tmp") / f"crib-ro-{os.getpid()}" / "pkg"
    ro.mkdir(parents=True)
    (ro / "data.txt").write_text("read-only data")
    os.chmod(ro.parent, 0o755)
    from crib.sandbox.layout import Layout

    original = Layout.read_paths
    monkeypatch.setattr(Layout, "read_paths", lambda self: [*original(self), str(ro)])
    box = Sandbox(slots=1, scratch_mb=16, report=report)
    try:
        look = ("import os\nprint(sorted(os.listdir('/tmp')), sorted(os.listdir(%r)), "
                "open(%r).read())\n" % (str(ro.parent), str(ro / "data.txt")))
        first = agent(box, look)
        assert first.ok, first.error
        pid = _zygote_pid(box)
        mess = agent(box, "open('/tmp/junk', 'w').write('x')\n"
                          f"open({str(ro.parent / 'junk')!r}, 'w').write('x')\n")
        assert mess.ok, mess.error
        again = agent(box, look)
        assert again.stdout == first.stdout and _zygote_pid(box) == pid  # cleaned in place
        moved = agent(box, f"import os\nos.rename({str(ro.parent)!r}, '/tmp/moved')\n")
        assert moved.ok, moved.error
        after = agent(box, look)
        assert after.stdout == first.stdout and _zygote_pid(box) != pid  # a fresh sandbox
    finally:
        box.close()
        import shutil
        shutil.rmtree(ro.parent)


@pytest.mark.parametrize("tamper", [
    "os.setpriority(os.PRIO_PROCESS, 1, 10)",
    "os.setpriority(os.PRIO_USER, os.getuid(), 5)",
    "import resource\nresource.prlimit(1, resource.RLIMIT_NOFILE, (32, 32))",
    "os.sched_setaffinity(1, {min(os.sched_getaffinity(1))})",
])
def test_a_run_that_tampers_with_the_zygote_gets_it_replaced(one, tamper):
    """renice, prlimit or pin the zygote (allowed between processes of one uid): its later
    children would inherit that, so the zygote retires and the next run starts afresh."""
    look = ("import os, resource\nprint(os.getpriority(os.PRIO_PROCESS, 0), "
            "resource.getrlimit(resource.RLIMIT_NOFILE), sorted(os.sched_getaffinity(0)))\n")
    base = agent(one, look)
    assert base.ok, base.error
    pid = _zygote_pid(one)
    r = agent(one, "import os\n" + tamper + "\nprint('done')")
    assert r.ok and r.stdout == "done\n", (r.error, r.stderr)
    after = agent(one, look)
    assert after.stdout == base.stdout and _zygote_pid(one) != pid


def test_zygotes_have_uids_of_their_own(sb):
    """No snippet run shares a uid with a zygote (it could renice or prlimit it from outside)."""
    async def both():
        code = "import os\nprint(os.getuid())"
        return await asyncio.gather(*[sb.run(code, tier=t) for t in ("agent", "snippet") * 4])
    rs = asyncio.run(both())
    agent_uids = {int(r.stdout) for r in rs if r.tier == "agent"}
    snippet_uids = {int(r.stdout) for r in rs if r.tier == "snippet"}
    zygote_uids = {Path(f"/proc/{z['pids'][1]}/status").read_text().split("Uid:")[1].split()[0]
                   for z in sb.zygotes()}
    assert not agent_uids & snippet_uids
    assert not {int(u) for u in zygote_uids} & snippet_uids
    assert all(u in sb.uids for u in agent_uids | snippet_uids)
