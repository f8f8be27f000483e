"""The memory store on a real PostgreSQL: curation by operations, history and rollback."""
import pytest

from crib.storage import open_database
from crib.memory.ops import AddOp, UpdateOp
from crib.memory.store import MemoryStore

pytestmark = pytest.mark.postgres


def test_operations_history_and_rollback_on_postgresql(postgres_url):
    engine = open_database(postgres_url)
    store = MemoryStore(engine)
    result = store.apply("pg", [AddOp(kind="strategy", title="Pairs", body="Try pairs first.")],
                         gated_by=True)
    assert result.status == "applied"
    entry = store.entries("pg", status="active")[0]
    v1 = store.version("pg")
    store.apply("pg", [UpdateOp(id=entry.id, body="Try pairs, then fractions.")], gated_by=True)
    assert store.get(entry.id).body == "Try pairs, then fractions."
    diff = store.diff("pg", v1, store.version("pg"))
    assert [c["id"] for c in diff.changed] == [entry.id]
    store.rollback("pg", v1)
    assert store.get(entry.id).body == "Try pairs first."
    assert len(store.history("pg", entry.id)) >= 3
    engine.dispose()
