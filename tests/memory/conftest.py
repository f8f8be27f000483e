"""Fixtures for the memory layer: a real SQLite database (all migrations) and real Chroma."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["ANONYMIZED_TELEMETRY"] = "False"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crib.db'}"


@pytest.fixture
def engine(db_url):
    from crib.storage import open_database

    eng = open_database(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine):
    """A store without a vector index (SQL only)."""
    from crib.memory.store import MemoryStore

    return MemoryStore(engine)


@pytest.fixture
def indexed_store(engine, tmp_path):
    """A store with an embedded persistent Chroma index in tmp_path."""
    from crib.memory.store import MemoryStore

    return MemoryStore(engine, chroma_dir=str(tmp_path / "chroma"))
