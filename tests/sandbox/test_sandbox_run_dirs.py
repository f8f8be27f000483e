"""Run directories left by Sandboxes that died without close() are removed by the next one;
those of live Sandboxes, and very young ones, are not."""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crib.sandbox.run_dirs import LEGACY_S, PREFIX, YOUNG_S, claim_run_dir, sweep_stale_run_dirs

ROOT = Path(__file__).resolve().parents[2]


def _dead_owner_dir() -> Path:
    """A run directory claimed by a process that then died without cleaning up."""
    out = subprocess.run([sys.executable, "-c", "from sandbox.run_dirs import claim_run_dir\n"
                          "print(claim_run_dir()[0])"], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return Path(out.stdout.strip())


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_dead_owners_directory_is_removed_and_a_live_ones_is_kept():
    dead = _dead_owner_dir()
    live, fd = claim_run_dir()
    try:
        (dead / "zygote-3.log").write_text("left behind")
        _age(dead, YOUNG_S + 60)
        _age(live, YOUNG_S + 60)
        removed = sweep_stale_run_dirs()
        assert dead in removed and not dead.exists()
        assert live not in removed and live.exists()
    finally:
        os.close(fd)
        sweep_stale_run_dirs()
    assert not live.exists()  # its owner let go: now it is stale too


def test_young_and_legacy_directories():
    young = _dead_owner_dir()  # just made: its owner may not hold the lock yet
    legacy_old = Path(tempfile.mkdtemp(prefix=PREFIX))  # no lock file: an older version's
    legacy_new = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        _age(legacy_old, LEGACY_S + 60)
        _age(legacy_new, YOUNG_S + 60)
        removed = sweep_stale_run_dirs()
        assert young.exists() and young not in removed
        assert legacy_old in removed and not legacy_old.exists()
        assert legacy_new.exists()
    finally:
        for d in (young, legacy_new):
            _age(d, LEGACY_S + 60)
        sweep_stale_run_dirs()
    assert not young.exists() and not legacy_new.exists()
