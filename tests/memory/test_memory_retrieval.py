"""Offline embeddings, Chroma retrieval, reindex from SQL, and persistence of the index."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from crib.memory.embedding import MiniLMEmbedding

TEXTS = [
    ("Brute force", "Try every permutation of the four numbers and every operator to reach 24."),
    ("Exact fractions", "Use fractions.Fraction so that 8/(3-8/3) is exact; floats give 23.999."),
    ("Balance by atoms",
     "Count each element on both sides and solve the linear system for coefficients."),
    ("Capital cities", "Paris is the capital of France and Berlin the capital of Germany."),
    ("Unit tests first", "Run the examples as tests before returning a function."),
]


def test_embeddings_are_unit_length_and_sensible():
    emb = MiniLMEmbedding()
    v = emb.embed(["A cat sits on the mat.", "A kitten rests on a rug.",
                   "Stock prices fell sharply today.", "A cat sits on the mat."])
    assert v.shape == (4, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]
    assert np.allclose(v[0], v[3], atol=1e-6)  # deterministic, and batching/padding-independent
    assert np.allclose(emb.embed(["A kitten rests on a rug."])[0], v[1], atol=1e-5)
    assert MiniLMEmbedding.name() == "crib-minilm-l6-v2"
    assert MiniLMEmbedding.build_from_config(emb.get_config()).get_config() == emb.get_config()


def _fill(store):
    for title, body in TEXTS:
        store.add("s", title, body)
    store.record_problem("s", "Make 24 from 3 3 8 8", "8/(3-8/3)", True)
    store.record_problem("s", "Balance Fe + O2 -> Fe2O3", "4Fe + 3O2 -> 2Fe2O3", True)


def _results(store):
    queries = ["how do I reach 24 with four numbers", "floating point error in division",
               "which city is the capital", "balance a chemical equation"]
    return ([[(e.id, s) for e, s in store.search("s", q, k=3)] for q in queries],
            [[p.id for p, _ in store.similar_problems("s", q, k=1)] for q in queries])


def _same(got, want):
    """Same ids in the same order; scores equal up to float noise (batching changes padding)."""
    assert got[1] == want[1]
    assert [[i for i, _ in q] for q in got[0]] == [[i for i, _ in q] for q in want[0]]
    assert np.allclose([s for q in got[0] for _, s in q], [s for q in want[0] for _, s in q],
                       atol=1e-4)


def test_reindex_from_sql_gives_same_results(indexed_store, tmp_path):
    _fill(indexed_store)
    before = _results(indexed_store)
    by_title = {e.title: e.id for e in indexed_store.entries("s")}
    assert before[0][0][0][0] == by_title["Brute force"]
    from crib.memory.store import MemoryStore

    # An empty index directory: as if the Chroma data were lost. (Chroma caches a client per
    # path inside the process, so a deleted directory would not look empty here.)
    fresh = MemoryStore(indexed_store.engine, chroma_dir=str(tmp_path / "chroma-new"))
    assert fresh.search("s", "how do I reach 24", k=3) == []
    assert fresh.reindex("s") == {"entries": 5, "problems": 2}
    _same(_results(fresh), before)
    # a second client on the same directory reopens the persisted collections
    again = MemoryStore(indexed_store.engine, chroma_dir=str(tmp_path / "chroma-new"))
    _same(_results(again), before)


def test_archived_entries_are_not_retrieved(indexed_store):
    _fill(indexed_store)
    top = indexed_store.search("s", "capital of France", k=1)[0][0]
    indexed_store.archive(top.id)
    assert all(e.id != top.id for e, _ in indexed_store.search("s", "capital of France", k=5))


def test_filters_come_from_sql_and_scopes_stay_apart(indexed_store):
    _fill(indexed_store)
    indexed_store.record_problem("s", "Make 24 from 1 1 1 1", "no", False)
    indexed_store.add("other", "Make 24 quickly", "Try multiplication first.")
    indexed_store.record_problem("other", "Make 24 from 2 2 6 6", "2*6+2*6", True)
    both = [p.answer for p, _ in indexed_store.similar_problems("s", "make 24 from four ones", k=3)]
    assert "no" in both and "2*6+2*6" not in both  # the other scope's problem never shows
    similar = indexed_store.similar_problems("s", "make 24 from four ones", k=3, passed_only=True)
    passed = [p.answer for p, _ in similar]
    assert "no" not in passed and passed  # "passed" is read from SQL: Chroma holds no metadata
    assert all(e.scope == "s" for e, _ in indexed_store.search("s", "make 24", k=10))


def test_render_uses_relevance(indexed_store):
    _fill(indexed_store)
    ids = {e.title: e.id for e in indexed_store.entries("s")}
    sheet = indexed_store.render("s", "Balance this equation: C3H8 + O2 -> CO2 + H2O", 10_000)
    assert sheet.entry_ids[0] == ids["Balance by atoms"]
    sheet = indexed_store.render("s", "Use 4 4 6 6 to make 24", 10_000)
    assert sheet.entry_ids[0] == ids["Brute force"]


SCRIPT = textwrap.dedent("""
    import json, socket, sys
    from crib.storage import open_database
    from crib.memory.store import MemoryStore
    try:  # prove there is no network in here
        socket.create_connection(("1.1.1.1", 80), timeout=2)
        print("NETWORK"); sys.exit(3)
    except OSError:
        pass
    store = MemoryStore(open_database(sys.argv[1]), chroma_dir=sys.argv[2])
    a = store.add("s", "Brute force", "Try every permutation of numbers and operators to reach 24.")
    store.add("s", "Capitals", "Paris is the capital of France.")
    hits = store.search("s", "reach 24 from four numbers", k=1)
    print(json.dumps({"top": hits[0][0].id, "expected": a.id}))
""")


def test_retrieval_works_without_network(tmp_path):
    """A fresh process in a network namespace with no interfaces: embed, index, query."""
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -rn (user + network namespace) is not available here")
    proc = subprocess.run(["unshare", "-rn", sys.executable, "-c", SCRIPT,
                           f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "chroma")],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["top"] == out["expected"]


def test_chroma_server_by_url(engine, tmp_path):
    """The index works against a Chroma server (`chroma run`) given by URL, as with
    `memory.chroma_url`; embeddings are still computed locally."""
    import shutil
    import socket
    import time
    from pathlib import Path

    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(chroma).exists():
        pytest.skip("the `chroma` server command is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"PATH": "/usr/bin:/bin", "ANONYMIZED_TELEMETRY": "False",
                                 "HOME": str(tmp_path)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("chroma server did not start within 60 s")
        from crib.memory.store import MemoryStore

        store = MemoryStore(engine, chroma_url=f"http://127.0.0.1:{port}")
        _fill(store)
        ids = {e.title: e.id for e in store.entries("s")}
        assert store.search("s", "which city is the capital", k=1)[0][0].id == ids["Capital cities"]
        assert store.reindex("s") == {"entries": 5, "problems": 2}
        hit = store.search("s", "balance a chemical equation", k=1)[0][0]
        assert hit.id == ids["Balance by atoms"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
