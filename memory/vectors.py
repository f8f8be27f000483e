"""Chroma index of entries and past problems, one pair of collections per scope.

Embedded `PersistentClient` in a directory by default, a Chroma server by URL as an option.
Embeddings come from the offline MiniLM (memory/embedding.py); Chroma never embeds on its own
and telemetry is off. The index holds nothing SQL does not: `rebuild` recreates it from SQL.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import numpy as np

from crib.memory.models import MemoryEntry, PastProblem

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["ANONYMIZED_TELEMETRY"] = "False"

# After the environment above: chromadb builds a Settings() from it when imported. (Chroma is
# heavy: memory/store.py imports this module only where it makes an index.)
import chromadb  # noqa: E402
from chromadb.config import Settings  # noqa: E402

from crib.memory.embedding import MiniLMEmbedding  # noqa: E402

BATCH = 2000  # below Chroma's maximum batch size


def collection_name(scope: str, what: str) -> str:
    """A valid Chroma collection name (3-512 chars of [a-zA-Z0-9._-]) unique to the scope."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", scope).strip("-._")[:40] or "scope"
    digest = hashlib.sha1(scope.encode()).hexdigest()[:8]
    return f"crib-{what}-{slug}-{digest}"


def entry_document(e: MemoryEntry) -> str:
    return f"{e.title}\n{e.body}"


class VectorIndex:
    def __init__(self, path: str | Path | None = None, url: str | None = None, embed: Any = None):
        settings = Settings(anonymized_telemetry=False)
        if url:
            u = urlparse(url if "://" in url else f"http://{url}")
            self.client = chromadb.HttpClient(host=u.hostname or "localhost", port=u.port or 8000,
                                              ssl=u.scheme == "https", settings=settings)
            self.where = url
        elif path:
            Path(path).mkdir(parents=True, exist_ok=True)
            self.client = chromadb.PersistentClient(path=str(path), settings=settings)
            self.where = str(path)
        else:
            raise ValueError("VectorIndex needs a directory (path) or a Chroma server URL (url)")
        if embed is None:
            embed = MiniLMEmbedding()
        self.embed = embed
        self._collections: dict[str, Any] = {}
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the store is used from worker threads

    def collection(self, scope: str, what: str):
        name = collection_name(scope, what)
        if name not in self._collections:
            self._collections[name] = self.client.get_or_create_collection(
                name, embedding_function=self.embed, configuration={"hnsw": {"space": "cosine"}},
                metadata={"scope": scope, "what": what})
        return self._collections[name]

    def embed_query(self, text: str) -> np.ndarray:
        # Rendering and problem retrieval embed the same problem text: keep a few around.
        with self._lock:
            found = self._queries.get(text)
        if found is not None:
            return found
        vec = self.embed.embed([text])[0]
        with self._lock:
            self._queries[text] = vec
            if len(self._queries) > 64:
                self._queries.popitem(last=False)
        return vec

    # ---- writing ---------------------------------------------------------------------------
    def upsert_entries(self, scope: str, entries: list[MemoryEntry]) -> None:
        """Index entries. Only those whose text changed are embedded again; a status or pin
        change touches nothing here (statuses are read from SQL when filtering)."""
        col = self.collection(scope, "entries")
        for i in range(0, len(entries), BATCH):
            chunk = entries[i : i + BATCH]
            docs = [entry_document(e) for e in chunk]
            got = col.get(ids=[e.id for e in chunk], include=["documents"])
            indexed = dict(zip(got["ids"], got["documents"] or []))
            fresh = [j for j, e in enumerate(chunk) if indexed.get(e.id) != docs[j]]
            if fresh:
                col.upsert(ids=[chunk[j].id for j in fresh], documents=[docs[j] for j in fresh],
                           embeddings=self.embed.embed([docs[j] for j in fresh]))

    def upsert_problems(self, scope: str, problems: list[PastProblem]) -> None:
        col = self.collection(scope, "problems")
        for i in range(0, len(problems), BATCH):
            chunk = problems[i : i + BATCH]
            docs = [p.problem for p in chunk]
            # A problem just solved was embedded as a query moments ago: reuse that vector.
            vecs = [self.embed_query(d) for d in docs] if len(docs) == 1 else self.embed.embed(docs)
            col.upsert(ids=[str(p.id) for p in chunk], documents=docs, embeddings=vecs)

    def rebuild(self, scope: str, entries: list[MemoryEntry],
                problems: list[PastProblem]) -> dict[str, int]:
        for what in ("entries", "problems"):
            name = collection_name(scope, what)
            self._collections.pop(name, None)
            try:
                self.client.delete_collection(name)
            except Exception:  # absent: nothing to delete
                pass
        self.collection(scope, "entries")
        self.collection(scope, "problems")
        self.upsert_entries(scope, entries)
        self.upsert_problems(scope, problems)
        return {"entries": len(entries), "problems": len(problems)}

    # ---- reading ---------------------------------------------------------------------------
    def query(self, scope: str, what: str, text: str, k: int,
              keep: Callable[[list[str]], set[str]] | None = None) -> list[tuple[str, float]]:
        """Top-k ids of `what` ("entries" or "problems") by cosine similarity to `text`, among
        those `keep` accepts: it gets a list of candidate ids and returns the accepted ones.

        The store filters in SQL, the source of truth for statuses, on an over-fetched
        candidate list: a Chroma `where` clause is evaluated before the vector search (measured
        165 ms instead of 16 ms at 10k entries), and Chroma's `count()` is a scan (13 ms at
        100k), so the loop stops when a query returns fewer ids than it asked for."""
        if k <= 0:
            return []
        col = self.collection(scope, what)
        query = [self.embed_query(text)]
        fetch = k if keep is None else 4 * k
        while True:
            res = col.query(query_embeddings=query, n_results=fetch, include=["distances"])
            ids, distances = res["ids"][0], res["distances"][0]
            kept = set(ids) if keep is None else keep(ids)
            hits = [(i, round(1.0 - float(d), 6)) for i, d in zip(ids, distances) if i in kept]
            if len(hits) >= k or len(ids) < fetch:
                break
            fetch *= 4
        # Ties broken by id so results are reproducible.
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]

    def relevance(self, scope: str, text: str, ids: list[str]) -> dict[str, float]:
        """Exact cosine similarity of each entry in `ids` to `text` (absent ones: 0)."""
        if not ids:
            return {}
        got = self.collection(scope, "entries").get(ids=ids, include=["embeddings"])
        if not len(got["ids"]):
            return {}
        mat = np.asarray(got["embeddings"], dtype=np.float32)
        sims = mat @ self.embed_query(text)
        return {i: float(s) for i, s in zip(got["ids"], sims)}
