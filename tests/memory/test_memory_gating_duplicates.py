"""Gated curation: repeating the same quarantined proposal does not pile up copies."""
from crib.storage import open_database
from crib.memory.ops import AddOp, UpdateOp
from crib.memory.store import MemoryStore


def test_repeated_gated_update_is_one_proposal_not_many(tmp_path):
    store = MemoryStore(open_database(f"sqlite:///{tmp_path}/m.db"))
    store.apply("s", [AddOp(kind="pitfall", title="Bad chars", body="Only + - * / allowed.")],
                gated_by=False)
    entry = store.entries("s")[0]
    assert entry.status == "quarantined"
    for _ in range(3):  # the curator keeps proposing the same text after failed answers
        result = store.apply(
            "s", [UpdateOp(id=entry.id, body="Only + - * / and parentheses allowed.")],
            gated_by=False)
    assert len(store.entries("s")) == 2  # the original and one proposal
    assert result.rejected and "duplicate" in result.rejected[0]["reason"]
