"""Skills in the memory layer: parsing (never running) a skill's code, its record across
versions, how the sheet lists it, and the curator kept away from it. Real SQLite store."""
import pytest

from crib.memory.ops import AddOp, ArchiveOp, UpdateOp
from crib.memory.skills import (
    SkillError, SkillRecord, parse_skill, record_trials, should_demote, skill_records,
    skill_sources,
)

CODE = '''def solve_demo(numbers):
    """Add the numbers up."""
    return str(sum(numbers))
'''


def test_parse_skill_reads_name_parameters_and_docstring_and_refuses_what_is_not_a_skill():
    sig = parse_skill(CODE)
    assert (sig.name, sig.params, sig.doc, sig.title) == (
        "solve_demo", ["numbers"], "Add the numbers up.", "solve_demo(numbers)")
    with pytest.raises(SkillError, match="does not parse"):
        parse_skill("def f(:\n")
    with pytest.raises(SkillError, match="no docstring"):
        parse_skill("def f(x):\n    return x\n")
    with pytest.raises(SkillError, match="defines no function named 'g'"):
        parse_skill(CODE, "g")
    with pytest.raises(SkillError, match="limit"):
        parse_skill(CODE + "#" * 5000)


def test_the_record_counts_tests_of_the_latest_tested_code_and_uses_since(store):
    entry = store.add("s", "solve_demo(numbers)", CODE, kind="skill", status="quarantined")
    record_trials(store.engine, entry, "test", [("a", False, "wrong"), ("b", True, None)])
    entry = store.edit(entry.id, action="repair", body=CODE.replace("sum", "max"))
    record_trials(store.engine, entry, "test", [("a", True, None), ("b", True, None)])
    entry = store.edit(entry.id, action="promote", status="active")
    record_trials(store.engine, entry, "use", [("c", True, None), ("d", False, "x")] * 2)
    record = skill_records(store.engine, [entry])[entry.id]
    assert (record.tests_passed, record.tests, record.uses, record.uses_passed) == (2, 2, 4, 2)
    assert record.text() == "passed 2 of 2 tests; used on 4 problems, 2 passed"
    assert not should_demote(record)  # half passed: not below the threshold
    record_trials(store.engine, entry, "use", [("e", False, "x")] * 3)
    assert not should_demote(skill_records(store.engine, [entry])[entry.id])  # 2 of 7
    record_trials(store.engine, entry, "use", [("f", False, "x")])
    assert should_demote(skill_records(store.engine, [entry])[entry.id])  # 2 of 8
    assert skill_sources(store.entries("s")) == {"solve_demo": CODE.replace("sum", "max")}



@pytest.mark.parametrize("passed, uses, demoted", [
    (0, 3, False), (0, 4, True), (1, 4, False), (1, 5, True), (2, 5, False), (3, 8, False),
    (2, 8, True), (10, 30, True), (14, 30, False)])
def test_a_skill_is_demoted_when_its_uses_show_it_passes_under_half(passed, uses, demoted):
    """Too few uses say nothing; one pass in four is no proof of a bad skill; a share well
    under half over many uses is."""
    record = SkillRecord(tests_passed=5, tests=5, uses_passed=passed, uses=uses)
    assert should_demote(record) is demoted


def test_the_sheet_lists_a_skill_by_import_signature_docstring_and_record_not_its_code(store):
    entry = store.add("s", "solve_demo(numbers)", CODE, kind="skill")
    record_trials(store.engine, entry, "test", [("a", True, None)] * 3)
    sheet = store.render("s", "1 2 3")
    assert entry.id in sheet.entry_ids
    assert "`from skills import solve_demo`" in sheet.text and "solve_demo(numbers)" in sheet.text
    assert "Add the numbers up." in sheet.text and "passed 3 of 3 tests" in sheet.text
    assert "return str(sum(numbers))" not in sheet.text


def test_a_called_skill_is_ranked_by_its_uses_not_by_the_prompts_it_sat_in(store):
    ignored = store.add("s", "solve_demo(numbers)", CODE, kind="skill")
    failing = store.add("s", "solve_other(numbers)", CODE.replace("solve_demo", "solve_other"),
                        kind="skill")
    # shown in 6 failed attempts whose model never called it, then called 3 times and right;
    # the other one was called 3 times and wrong, but sat in one failed prompt only
    for i in range(6):
        store.record_outcome([ignored.id], False, "r", f"a{i}")
    store.record_outcome([failing.id], False, "r", "b0")
    record_trials(store.engine, store.get(ignored.id), "use", [("p", True, None)] * 3)
    record_trials(store.engine, store.get(failing.id), "use", [("q", False, "x")] * 3)
    # by their counters alone the failing one would come first
    assert store.get(ignored.id).usefulness < store.get(failing.id).usefulness
    assert store.render("s", "1 2 3").entry_ids == [ignored.id, failing.id]


def test_the_curator_can_neither_add_nor_change_nor_archive_a_skill(store):
    skill = store.add("s", "solve_demo(numbers)", CODE, kind="skill")
    note = store.add("s", "A note", "Check the arithmetic.")
    result = store.apply("s", [AddOp(kind="skill", title="f(x)", body="def f(x): ..."),
                               UpdateOp(id=skill.id, body="def solve_demo(n): pass"),
                               ArchiveOp(id=skill.id), UpdateOp(id=note.id, body="Check twice.")],
                         gated_by=True)
    reasons = [r["reason"] for r in result.rejected]
    assert len(reasons) == 3 and all("skill" in r for r in reasons)
    assert store.get(skill.id).body == CODE and store.get(skill.id).status == "active"
    assert store.get(note.id).body == "Check twice."
