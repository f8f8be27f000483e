"""Memory retrieval latency at 1k, 10k and 100k entries (target: p50 <= 20 ms at 100k).

Embedding 100k texts with the numpy MiniLM (~100 texts/s here) would take about 20 minutes, so
the collections are filled with random unit vectors of dimension 384 inserted directly, and
only the queries are embedded with the real model. Figures printed:
  query      Chroma query for 3k nearest (the store filters statuses from the returned metadata)
  where      the same top-k with a Chroma `where` status filter, for comparison (much slower:
             Chroma evaluates the metadata filter before the vector search)
  embed      embedding one query text with the offline MiniLM
  end-to-end embed + query, what `MemoryStore.search` pays per problem

Usage: python bench/memory_retrieval.py [--sizes 1000,10000,100000] [--queries 100] [--k 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args()

    import chromadb
    from chromadb.config import Settings

    from memory.embedding import MiniLMEmbedding
    from memory.vectors import collection_name

    embed = MiniLMEmbedding()
    texts = [QUERIES[i % len(QUERIES)] + f" (variant {i})" for i in range(args.queries)]
    embed.embed(texts[:2])  # load the model outside the timings
    embed_ms = []
    qvecs = []
    for t in texts:
        t0 = time.perf_counter()
        qvecs.append(embed.embed([t])[0])
        embed_ms.append((time.perf_counter() - t0) * 1000)
    print("Note: entries are random unit vectors (dim 384) inserted directly; only the queries are "
          "embedded with the real offline MiniLM.")
    print(f"query embedding: p50 {pct(embed_ms, 50):.1f} ms, p90 {pct(embed_ms, 90):.1f} ms "
          f"({len(texts)} queries)")
    print(f"{'entries':>8} {'insert_s':>9} {'query_p50':>10} {'query_p90':>10} {'e2e_p50':>8} {'e2e_p90':>8} "
          f"{'where_p50':>12}  (ms)")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="crib-bench-chroma-") as tmp:
        client = chromadb.PersistentClient(path=tmp, settings=Settings(anonymized_telemetry=False))
        for n in [int(s) for s in args.sizes.split(",")]:
            col = client.get_or_create_collection(collection_name(f"bench-{n}", "entries"), embedding_function=embed,
                                                  configuration={"hnsw": {"space": "cosine"}})
            t0 = time.perf_counter()
            for start in range(0, n, 5000):
                m = min(5000, n - start)
                vecs = rng.standard_normal((m, 384)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                col.add(ids=[f"m-{start + i:07d}" for i in range(m)], embeddings=vecs,
                        metadatas=[{"status": "active" if (start + i) % 10 else "archived", "kind": "strategy",
                                    "pinned": False} for i in range(m)])
            insert_s = time.perf_counter() - t0
            for q in qvecs[:5]:  # warm up
                col.query(query_embeddings=[q], n_results=args.k, where={"status": "active"})
            query_ms, filtered_ms = [], []
            for q in qvecs:
                t0 = time.perf_counter()
                col.query(query_embeddings=[q], n_results=args.k * 3, include=["distances", "metadatas"])
                query_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                col.query(query_embeddings=[q], n_results=args.k, where={"status": "active"}, include=["distances"])
                filtered_ms.append((time.perf_counter() - t0) * 1000)
            e2e = [a + b for a, b in zip(query_ms, embed_ms)]
            print(f"{n:>8} {insert_s:>9.1f} {pct(query_ms, 50):>10.2f} {pct(query_ms, 90):>10.2f} "
                  f"{pct(e2e, 50):>8.2f} {pct(e2e, 90):>8.2f} {pct(filtered_ms, 50):>12.2f}")
    print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"median query embedding {statistics.median(embed_ms):.1f} ms)")


if __name__ == "__main__":
    main()
