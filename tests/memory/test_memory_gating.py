"""Verifier gating and outcome counters."""
from crib.memory.models import Provenance
from crib.memory.ops import AddOp, ArchiveOp, UpdateOp


class FakeVerdict:  # any object with `passed`, like agents' Verdict
    def __init__(self, passed):
        self.passed = passed


def test_failed_answer_insight_lands_in_quarantine(store):
    keep = store.add("s", "keep", "good content")
    other = store.add("s", "other", "more good content")
    for verdict in (False, None, FakeVerdict(False)):
        r = store.apply("s", [AddOp(title=f"from {verdict}", body="an insight")],
                        Provenance(problem_id="p"), gated_by=verdict)
        assert r.status == "applied"
        e = store.get(r.changed_ids[0])
        assert e.status == "quarantined" and e.provenance.verdict is not True
    # Updates become quarantined proposals; the active entry is untouched. Archives are refused.
    r = store.apply("s", [UpdateOp(id=keep.id, body="rewritten after a failure"),
                          ArchiveOp(id=other.id)], gated_by=False)
    assert store.get(keep.id).body == "good content" and store.get(keep.id).status == "active"
    proposal = store.get(r.changed_ids[0])
    assert proposal.status == "quarantined" and keep.id in proposal.provenance.note
    assert "gated" in r.rejected[0]["reason"]
    # Quarantined entries are not rendered.
    sheet = store.render("s", "anything", 2000)
    assert sorted(sheet.entry_ids) == sorted([keep.id, other.id])


def test_passed_answer_and_gating_off(store):
    r = store.apply("s", [AddOp(title="verified", body="x")], gated_by=FakeVerdict(True))
    assert store.get(r.changed_ids[0]).status == "active"
    r = store.apply("s", [AddOp(title="unverified", body="y")], gated_by=None, gating=False)
    assert store.get(r.changed_ids[0]).status == "active"


def test_counters_move_on_verdicts_only(store):
    a = store.add("s", "a", "body a")
    b = store.add("s", "b", "body b")
    v = store.version("s")
    store.record_outcome([a.id, b.id], True)
    store.record_outcome([a.id], FakeVerdict(False))
    store.record_outcome([a.id, a.id], None)  # duplicates count once
    ea, eb = store.get(a.id), store.get(b.id)
    assert (ea.used, ea.helped, ea.hurt) == (3, 1, 1)
    assert (eb.used, eb.helped, eb.hurt) == (1, 1, 0)
    assert store.version("s") == v  # counters are not sheet content


def test_render_budget_pinned_first_and_usefulness(store):
    a = store.add("s", "a", "alpha " * 5)
    b = store.add("s", "b", "beta " * 5)
    c = store.add("s", "c", "gamma " * 200)
    store.record_outcome([b.id], True)
    store.record_outcome([a.id], False)
    store.pin(c.id)
    full = store.render("s", "", 10_000)
    assert full.entry_ids == [c.id, b.id, a.id]
    small = store.render("s", "", 100)  # c does not fit; the others do
    assert small.entry_ids == [b.id, a.id] and small.omitted == 1 and small.tokens <= 100
    assert store.render("s", "", 100).text == small.text  # deterministic
    assert f"[{b.id}]" in small.text
