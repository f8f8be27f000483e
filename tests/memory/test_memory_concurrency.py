"""Two processes curating one scope on one SQLite file lose no update."""
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("concurrent_curator.py")


def test_two_processes_curating_one_scope(store, db_url):
    shared = store.add("s", "shared", "log:")
    n = 15
    procs = [subprocess.Popen([sys.executable, str(WORKER), db_url, name, str(n), shared.id],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("A", "B")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    body = store.get(shared.id).body.splitlines()
    expected = {f"{name}-{i}" for name in "AB" for i in range(n)}
    assert set(body[1:]) == expected and len(body) == 1 + 2 * n  # every append kept, none twice
    titles = {e.title for e in store.entries("s")}
    assert expected <= titles and len(titles) == 1 + 2 * n
    events = store.history("s")
    assert [e.seq for e in events] == list(range(1, store.version("s") + 1))
    assert store.version("s") == 1 + 4 * n
    # each process's lines are in its own order
    for name in "AB":
        mine = [line for line in body if line.startswith(name + "-")]
        assert mine == [f"{name}-{i}" for i in range(n)]
