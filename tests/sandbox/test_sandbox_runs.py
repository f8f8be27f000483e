"""Positive controls: what a sandboxed run can do, and what the host reports about it."""
import asyncio

import pytest

from crib.sandbox import Limits, Sandbox
from tests.sandbox.conftest import run


def test_compute_with_entry_and_inputs(sb, tier):
    code = "def f(a, b):\n    return {'sum': a + b, 'sq': [i * i for i in range(5)]}\n"
    r = run(sb, code, tier, entry="f", inputs={"a": 2, "b": 40})
    assert r.ok, r.error
    assert r.value == {"sum": 42, "sq": [0, 1, 4, 9, 16]}
    assert r.tier == tier and r.exit_code == 0 and r.wall_ms > 0


def test_scratch_io_and_files(sb, tier):
    code = ("import os\n"
            "open('out.txt', 'w').write('hello ' + open('data/in.txt').read())\n"
            "os.makedirs('sub/dir')\n"
            "print(open('out.txt').read(), sorted(os.listdir('.')))\n")
    r = run(sb, code, tier, files={"data/in.txt": "world"})
    assert r.ok, r.error
    assert "hello world" in r.stdout and "'sub'" in r.stdout


def test_scratch_is_fresh_each_run(sb, tier):
    assert run(sb, "open('left.txt', 'w').write('x')", tier).ok
    r = run(sb, "import os\nprint(os.listdir('.'))", tier)
    assert r.stdout.strip() == "[]"


def test_numpy_and_stdlib_imports(sb, tier):
    r = run(sb, "import numpy as np, fractions, sqlite3\nprint(int(np.arange(10).sum()))", tier)
    assert r.ok, r.stderr
    assert r.stdout.strip() == "45"


def test_exceptions_exit_codes_and_stderr(sb, tier):
    r = run(sb, "raise ValueError('boom')", tier)
    assert not r.ok and r.exit_code == 1 and r.error == "ValueError: boom"
    assert "Traceback" in r.stderr
    r = run(sb, "def f(pairs):\n    for a, b, c in pairs:\n        pass\n\nf([(1, 2)])", tier)
    # what a model repairing its code needs: the failing lines themselves, no guest frames
    assert "for a, b, c in pairs:" in r.stderr and "f([(1, 2)])" in r.stderr
    assert "crib_guest" not in r.stderr and r.stderr.rstrip().endswith(
        "ValueError: not enough values to unpack (expected 3, got 2)")
    r = run(sb, "import sys\nprint('bye')\nsys.exit(3)", tier)
    assert r.exit_code == 3 and r.stdout == "bye\n" and not r.ok


def test_output_is_capped(sb, tier):
    r = run(sb, "print('x' * 100000)", tier, limits=Limits(output_bytes=1000))
    assert r.stdout_truncated and len(r.stdout) == 1000 and r.limit_hit == "output"


def test_non_json_value_is_reported(sb, tier):
    r = run(sb, "def f():\n    return object()", tier, entry="f")
    assert not r.ok and "not JSON" in r.error


def test_32_concurrent_runs(sb):
    async def many():
        code = ("import time, os\nt0 = time.time()\ntime.sleep(0.3)\n"
                "def f(i):\n    return [i, os.getuid(), t0, time.time()]\n")
        return await asyncio.gather(*[
            sb.run(code, tier=("agent" if i % 2 else "snippet"), entry="f", inputs=[i])
            for i in range(32)])
    results = asyncio.run(many())
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    values = [r.value for r in results]
    assert [v[0] for v in values] == list(range(32))
    # Runs that overlap in time never share a uid (one uid per slot, one run per slot).
    for a in values:
        for b in values:
            if a[0] < b[0] and a[1] == b[1]:
                assert a[3] <= b[2] or b[3] <= a[2], (a, b)
    overlapping = max(sum(1 for b in values if b[2] <= a[2] <= b[3]) for a in values)
    assert overlapping > 1  # they really ran at the same time


def test_unavailable_and_unsafe_mode():
    from crib.sandbox import SandboxUnavailable
    from crib.sandbox.check import CheckReport, TierStatus

    no = TierStatus(ok=False, reason="probe said no")
    report = CheckReport(platform="linux", machine="x86_64", root=True, bwrap=None,
                         landlock_abi=0, agent=no, snippet=no)
    with pytest.raises(SandboxUnavailable, match="probe said no"):
        Sandbox(report=report)
    box = Sandbox(unsafe_no_sandbox=True, report=report, slots=2)
    try:
        with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
            r = asyncio.run(box.run("print(6 * 7)", tier="agent"))
        assert r.ok and r.tier == "none" and r.stdout == "42\n"
        assert any("WITHOUT a sandbox" in w for w in r.warnings)
    finally:
        box.close()


def test_fork_server_restarts_after_dying(sb):
    import os
    import signal

    old = sb._fs.proc.pid
    os.kill(old, signal.SIGKILL)
    sb._fs.proc.wait()
    sb._fs._thread.join(5)  # the reader thread sees the socket close
    r = run(sb, "print('back')", "snippet")
    assert r.ok and r.stdout == "back\n"
    assert sb._fs.proc.pid != old and any("restarted" in w for w in r.warnings)
    # Its pre-forked child died with it and was reaped (no zombie left in our process).
    from pathlib import Path
    def read(path):  # a thread may end, and a child be reaped, while we look
        try:
            return Path(path).read_text()
        except OSError:
            return ""

    kids = " ".join(read(f"/proc/self/task/{t}/children")
                    for t in os.listdir("/proc/self/task")).split()

    def stat(p):
        return read(f"/proc/{p}/stat").rsplit(")", 1)[-1].split() or ["gone", "", ""]
    zombies = [p for p in kids if stat(p)[0] == "Z" and stat(p)[2] == str(old)]
    assert zombies == []


def test_cancelled_run_frees_its_slot(sb):
    """A caller that gives up (wait_for) kills the run; the slot comes back once it is dead."""
    async def go():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(sb.run("import time\ntime.sleep(60)", tier="snippet",
                                          limits=Limits(timeout_s=120)), 0.5)
        for _ in range(200):
            if sb._pool.free_count() == sb._pool.size:
                break
            await asyncio.sleep(0.05)
        return sb._pool.free_count(), await sb.run("print('next')", tier="snippet")
    free, r = asyncio.run(go())
    assert r.ok and free == sb._pool.size
