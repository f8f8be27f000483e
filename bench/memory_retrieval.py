"""Memory retrieval latency at 1k, 10k and 100k entries (target: p50 <= 20 ms at 100k).

Times what a solve pays per problem: `MemoryStore.search(scope, problem_text, k)` on a real
SQLite database and a real embedded Chroma, with a query text the store has not seen (so the
query is embedded every time). Embedding 100k entry texts with the numpy MiniLM would take
about 20 minutes, so the entries are SQL rows inserted in bulk with random unit vectors of
dimension 384 added to Chroma directly; only the queries go through the real model. One entry
in ten is archived, so the store's status filter (in SQL, on over-fetched candidates) has work.
Figures printed, in ms:
  embed      embedding one query text with the offline MiniLM
  index      the vector query with the SQL status filter, query vector already embedded
  search     MemoryStore.search end to end: embed + index + loading the entries

Usage: python bench/memory_retrieval.py [--sizes 1000,10000,100000] [--queries 100] [--k 5]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["ANONYMIZED_TELEMETRY"] = "False"

import numpy as np  # noqa: E402

QUERIES = [
    "How can I make 24 from four numbers with + - * /?", "Balance the equation Fe + O2 -> Fe2O3",
    "What is the derivative of x^2 sin x?", "Write a function that reverses a linked list",
    "Which answer choice is correct about enzyme kinetics?", "Find the number of primes below 100",
    "Use fractions to avoid float rounding", "A train leaves at 3 pm going 60 mph",
    "Sort the grid colours by frequency", "Count the words in the passage that are nouns",
]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def fill(store, scope: str, n: int, rng: np.random.Generator) -> float:
    """n entries in SQL (bulk insert) and in Chroma (random unit vectors); seconds taken."""
    from sqlalchemy import insert

    from crib.memory.records import EntryRow

    t0 = time.perf_counter()
    col = store.index.collection(scope, "entries")
    for start in range(0, n, 5000):
        rows = range(start, min(n, start + 5000))
        ids = [f"{scope}-{r:07d}" for r in rows]
        with store.engine.begin() as conn:
            conn.execute(insert(EntryRow), [
                {"id": i, "scope": scope, "kind": "strategy", "title": f"entry {i}",
                 "body": f"body of {i}", "tags": [], "provenance": {},
                 "status": "archived" if r % 10 == 0 else "active"}
                for i, r in zip(ids, rows)])
        vecs = rng.standard_normal((len(ids), 384)).astype(np.float32)
        col.add(ids=ids, embeddings=vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args()

    from crib.storage import open_database
    from crib.memory.store import MemoryStore

    rng = np.random.default_rng(0)
    print("Entries are SQL rows with random unit vectors (dim 384); only the queries are embedded "
          "with the real offline MiniLM.")
    print(f"{'entries':>8} {'fill_s':>7} {'embed_p50':>10} {'index_p50':>10} {'index_p90':>10} "
          f"{'search_p50':>11} {'search_p90':>11}  (ms)")
    with tempfile.TemporaryDirectory(prefix="crib-bench-memory-") as tmp:
        engine = open_database(f"sqlite:///{tmp}/crib.db")
        store = MemoryStore(engine, chroma_dir=f"{tmp}/chroma")
        index = store.index
        for n in [int(s) for s in args.sizes.split(",")]:
            scope = f"bench-{n}"
            fill_s = fill(store, scope, n, rng)
            for q in QUERIES[:3]:  # load the model and warm the collection outside the timings
                store.search(scope, q, k=args.k)
            embed_ms, index_ms, search_ms = [], [], []
            for j in range(args.queries):
                text = f"{QUERIES[j % len(QUERIES)]} (size {n}, query {j})"  # never seen: embedded
                t0 = time.perf_counter()
                hits = store.search(scope, text, k=args.k)
                search_ms.append((time.perf_counter() - t0) * 1000)
                assert len(hits) == args.k and all(e.status == "active" for e, _ in hits)
                t0 = time.perf_counter()
                index.embed.embed([text + " again"])
                embed_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()  # the query vector is cached now: index and SQL only
                store.search(scope, text, k=args.k)
                index_ms.append((time.perf_counter() - t0) * 1000)
            print(f"{n:>8} {fill_s:>7.1f} {pct(embed_ms, 50):>10.2f} {pct(index_ms, 50):>10.2f} "
                  f"{pct(index_ms, 90):>10.2f} {pct(search_ms, 50):>11.2f} "
                  f"{pct(search_ms, 90):>11.2f}")
        engine.dispose()
    print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
