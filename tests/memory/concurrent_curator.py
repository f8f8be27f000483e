"""Worker for the two-process curation test: `python concurrent_curator.py DB_URL NAME N SHARED_ID`.

Each round adds one entry and appends a line to a shared entry by read-modify-write, as a
curator does (it proposes a new body from the body it was shown). A stale proposal is rejected
by the store; the worker then re-reads and proposes again."""
import sys

from crib.memory.ops import AddOp, UpdateOp
from crib.memory.store import MemoryStore
from sqlalchemy import create_engine


def main(url: str, name: str, n: int, shared: str) -> None:
    store = MemoryStore(create_engine(url, connect_args={"timeout": 60}))
    stale = 0
    for i in range(n):
        r = store.apply("s", [AddOp(title=f"{name}-{i}", body=f"entry {i} from {name}")],
                        gated_by=True)
        assert r.status == "applied", r
        while True:
            seen = store.get(shared)
            r = store.apply("s", [UpdateOp(id=shared, body=seen.body + f"\n{name}-{i}")],
                            gated_by=True, seen_versions={shared: seen.version})
            if r.status == "applied":
                break
            assert "changed since the curator saw it" in r.rejected[0]["reason"], r
            stale += 1
    print(f"{name} done, stale proposals re-done: {stale}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
