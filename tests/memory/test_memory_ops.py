"""Curation operations: validation rejects unknown ids, placeholders, mass archives and
oversized bodies, records why, and leaves the sheet unchanged."""
import pytest

from crib.memory.models import Provenance
from crib.memory.ops import (
    AddOp, ArchiveOp, MalformedOutput, MergeOp, NoopOp, UpdateOp, find_placeholder,
    parse_operations,
)


def _sheet(store, n=4, scope="s"):
    return [store.add(scope, f"title {i}", f"body number {i}", kind="strategy") for i in range(n)]


def _snapshot(store, scope="s"):
    return store.version(scope), [e.model_dump(exclude={"created_at", "updated_at"})
                                  for e in store.entries(scope)]


@pytest.mark.parametrize("text", [
    "[previous content preserved]", "[Previous content preserved...]", "[rest unchanged]",
    "...", "…", "Step 1: do X\n...\n", "The rest remains unchanged.", "(unchanged)",
    "[... omitted for brevity ...]", "Same as above", "code\n# ...\nmore",
    "Previous entries unchanged.", "rest of the cheatsheet unchanged", "The remainder is unchanged",
])
def test_placeholders_are_found(text):
    assert find_placeholder(text)


@pytest.mark.parametrize("text", [
    "Try all permutations: for a, b in itertools.permutations(nums, 2): ...more code here",
    "Use 1, 2, ..., n as indices", "Preserve the order of operands when dividing.",
    "Keep the other operands unchanged when reordering.", "The rest of the numbers stay as given.",
    "Previous answers that failed: check the remainder before dividing.",
    "If the remainder is 0 the division is exact.",
])
def test_real_content_is_not_a_placeholder(text):
    assert find_placeholder(text) is None


def test_unknown_ids_and_placeholders_rejected_sheet_unchanged(store):
    entries = _sheet(store)
    before = _snapshot(store)
    ops = [UpdateOp(id="m-doesnotexist", body="new body"),
           UpdateOp(id=entries[0].id, body="[previous content preserved]"),
           AddOp(title="New", body="Step 1\n...\n"),
           MergeOp(ids=[entries[1].id, "m-ghost"], title="merged", body="merged body")]
    result = store.apply("s", ops, Provenance(problem_id="p1"), gated_by=True)
    assert result.status == "rejected"
    reasons = [r["reason"] for r in result.rejected]
    assert len(reasons) == 4
    assert "unknown entry id 'm-doesnotexist'" in reasons[0]
    assert "placeholder" in reasons[1] and "placeholder" in reasons[2]
    assert "unknown entry id 'm-ghost'" in reasons[3]
    assert _snapshot(store) == before
    recorded = store.curations("s")[0]
    assert recorded["status"] == "rejected" and len(recorded["rejected"]) == 4


def test_mass_archive_rejected_as_a_whole(store):
    entries = _sheet(store, n=10)
    before = _snapshot(store)
    ops = [ArchiveOp(id=e.id, reason="stale") for e in entries[:5]] + [AddOp(title="t", body="b")]
    result = store.apply("s", ops, gated_by=True)
    assert result.status == "rejected" and result.version_after == result.version_before
    assert all("at most 3" in r["reason"] for r in result.rejected)
    assert _snapshot(store) == before
    # Within the limit the same kind of operation goes through.
    ok = store.apply("s", [ArchiveOp(id=entries[0].id, reason="stale")], gated_by=True)
    assert ok.status == "applied" and store.get(entries[0].id).status == "archived"


def test_oversized_body_rejected(store):
    _sheet(store, n=1)
    result = store.apply("s", [AddOp(title="big", body="x" * 5000)], gated_by=True)
    assert result.status == "rejected" and "limit is 4000" in result.rejected[0]["reason"]
    assert len(store.entries("s")) == 1


def test_valid_ops_applied_in_one_transaction(store):
    a, b, c = _sheet(store, n=3)
    v0 = store.version("s")
    result = store.apply("s", [
        AddOp(kind="code", title="solver", body="def solve(nums): return brute_force(nums)"),
        UpdateOp(id=a.id, body="body number 0, clarified"),
        MergeOp(ids=[b.id, c.id], title="merged", body="body 1 and body 2 together"),
        NoopOp(reason="nothing else"),
    ], Provenance(problem_id="p7", run_id="r1", model="m"), gated_by=True)
    assert result.status == "applied" and not result.rejected
    # add, update, merge (new entry + 2 archives): five events, five versions
    assert result.version_after == v0 + 5 == store.version("s")
    assert store.get(a.id).body == "body number 0, clarified" and store.get(a.id).version == 2
    assert store.get(b.id).status == store.get(c.id).status == "archived"
    merged = [e for e in store.entries("s", "active") if e.title == "merged"][0]
    assert merged.provenance.merged_from == [b.id, c.id] and merged.provenance.run_id == "r1"


def test_same_id_twice_in_one_set_rejected(store):
    a, = _sheet(store, n=1)
    result = store.apply("s", [UpdateOp(id=a.id, body="one"), UpdateOp(id=a.id, body="two")],
                         gated_by=True)
    assert result.status == "partial" and store.get(a.id).body == "one"
    assert "already changed" in result.rejected[0]["reason"]


def test_parse_operations_variants():
    ops, rej = parse_operations('Sure!\n```json\n{"operations": '
                                '[{"op": "add", "title": "t", "body": "b"}, '
                                '{"op": "explode"}]}\n```')
    assert isinstance(ops[0], AddOp) and len(rej) == 1 and "invalid" in rej[0].reason
    ops, _ = parse_operations('[{"op": "noop", "reason": "fine"}]')
    assert isinstance(ops[0], NoopOp)
    ops, _ = parse_operations(
        'I will archive one: {"op": "archive", "id": "m-1", "reason": "dup"} done')
    assert isinstance(ops[0], ArchiveOp)
    with pytest.raises(MalformedOutput):
        parse_operations("I think the sheet is fine as it is.")


def test_curate_prompt_and_apply_of_a_proposal(store):
    import asyncio
    import json

    from crib.memory.curator import curate

    a, = _sheet(store, n=1)
    seen = []

    async def complete(messages):
        seen.append(messages)
        return json.dumps({"operations": [{"op": "update", "id": a.id, "body": "better body"},
                                          {"op": "bogus"}]})

    proposal = asyncio.run(curate(complete, "Make 24 from 1 2 3 4", "1*2*3*4", True, [a],
                                  feedback="24 == 24"))
    prompt = seen[0][1]["content"]
    assert a.id in prompt and "PASSED" in prompt and "24 == 24" in prompt and "1*2*3*4" in prompt
    assert "placeholder" in seen[0][0]["content"]  # the system prompt warns about placeholders
    result = store.apply("s", proposal, Provenance(problem_id="p"), gated_by=True)
    assert result.status == "partial" and store.get(a.id).body == "better body"
    assert "operation 1 is invalid" in result.rejected[0]["reason"]
    assert store.curations("s")[0]["raw"] == proposal.raw


def test_duplicates_and_runaway_operation_sets_rejected(store):
    a, = _sheet(store, n=1)
    looping = [AddOp(title="Multiply 9 by 7", body="9 * 7")] * 10
    result = store.apply("s", [AddOp(title=a.title, body=a.body), *looping], gated_by=True)
    assert result.status == "partial" and len(result.changed_ids) == 1
    reasons = [r["reason"] for r in result.rejected]
    assert f"duplicate of entry {a.id!r}" in reasons[0]
    assert reasons.count("duplicate of an earlier add in this set") == 4
    assert reasons.count("more than 6 operations in one set") == 5
    assert len(store.entries("s")) == 2
