"""Shared fixtures for the domain tests."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


@pytest.fixture
def shared_data():
    """The public data in <repo>/../shared/data; the test skips where it is absent."""
    def path(name: str) -> Path:
        p = SHARED_DATA / name
        if not p.is_file():
            pytest.skip(f"{p} not present")
        return p
    return path


async def subprocess_run_snippet(code: str, timeout_s: float) -> dict:
    """TEST-ONLY STAND-IN for the sandbox's snippet tier (`sandbox/` is built in parallel).

    It runs the snippet in a plain `python3 -I` child process with a wall-clock timeout, which
    is NOT isolation: it is only acceptable here because the snippets in these tests are the
    tests' own fixed strings. Production wiring passes the real sandbox runner.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-c", code, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return {"ok": False, "stdout": out.decode(), "stderr": err.decode(), "value": None,
                "error": f"timed out after {timeout_s} s"}
    return {"ok": proc.returncode == 0, "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"), "value": None,
            "error": None if proc.returncode == 0 else f"exit code {proc.returncode}"}


@pytest.fixture
def run_snippet():
    return subprocess_run_snippet


@pytest.fixture
def arun():
    """Run a coroutine to completion (score/check are async on every domain)."""
    return asyncio.run
