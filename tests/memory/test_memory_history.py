"""The append-only event log: history, the sheet at a version, diff and rollback."""
from crib.memory.ops import AddOp, ArchiveOp, UpdateOp


def test_history_diff_rollback_round_trip(store):
    a = store.add("s", "alpha", "first body")
    b = store.add("s", "beta", "second body")
    v2 = store.version("s")
    assert v2 == 2
    store.apply("s", [UpdateOp(id=a.id, body="first body, revised"),
                      ArchiveOp(id=b.id, reason="dup"), AddOp(title="gamma", body="third body")],
                gated_by=True)
    store.pin(a.id)
    v_now = store.version("s")
    assert v_now == 6

    events = store.history("s")
    assert [e.seq for e in events] == list(range(1, 7))
    assert [e.action for e in events] == ["add", "add", "update", "archive", "add", "pin"]
    assert [e.action for e in store.history("s", a.id)] == ["add", "update", "pin"]

    then = store.state_at("s", v2)
    assert then[a.id]["body"] == "first body" and then[b.id]["status"] == "active"
    assert len(then) == 2

    d = store.diff("s", v2, v_now)
    assert [e["title"] for e in d.added] == ["gamma"]
    assert [e["id"] for e in d.removed] == [b.id]
    assert d.changed[0]["id"] == a.id
    assert d.changed[0]["fields"]["body"] == ["first body", "first body, revised"]
    assert d.changed[0]["fields"]["pinned"] == [False, True]

    store.record_outcome([a.id], True)  # counters are outcomes, kept through a rollback
    after = store.rollback("s", v2)
    assert after == store.version("s") > v_now  # a rollback is new events, history kept
    live = {e.title: e for e in store.entries("s", "active")}
    assert set(live) == {"alpha", "beta"}
    assert live["alpha"].body == "first body" and not live["alpha"].pinned
    assert live["alpha"].helped == 1
    assert len(store.history("s")) == after
    assert store.history("s")[-1].action == "rollback"
    # the sheet now has the content of v2 again, and diff says so
    d2 = store.diff("s", v2, after)
    assert not d2.added and not d2.removed and not d2.changed
    # and the rollback itself can be undone
    store.rollback("s", v_now)
    assert {e.title for e in store.entries("s", "active")} == {"alpha", "gamma"}


def test_rollback_to_unknown_version_fails(store):
    store.add("s", "alpha", "body")
    import pytest

    with pytest.raises(ValueError, match="versions 0..1"):
        store.rollback("s", 5)


def test_copy_scope_keeps_source_untouched(store):
    a = store.add("val", "alpha", "body a")
    store.add("val", "beta", "body b", status="quarantined")
    store.archive(store.add("val", "gone", "body c").id)
    store.record_problem("val", "2 3 4 5", "(5+3-4)*...", True, problem_id="p1")
    n = store.copy_scope("val", "test")
    assert n == 2
    copied = store.entries("test")
    assert {e.title for e in copied} == {"alpha", "beta"} and all(e.id != a.id for e in copied)
    assert len(store.problems("test")) == 1
    store.add("test", "new", "only in test")
    assert {e.title for e in store.entries("val", "active")} == {"alpha"}
    assert [s["copied_from"] for s in store.scopes() if s["scope"] == "test"] == ["val"]
