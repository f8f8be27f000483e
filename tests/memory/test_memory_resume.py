"""A resumed run replays the problems that were in flight at the kill: their memory effects
(counters, the past problem, the curation) must count once (issue #18 item 9). Real SQLite;
the curator is a scripted callable, as everywhere at this layer."""
import asyncio

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crib.memory.modes import MemorySession
from crib.memory.records import CurationRow, OutcomeRow, ProblemRow
from tests.memory.test_memory_modes import Scripted, add_reply


def count(engine, row, **where) -> int:
    with Session(engine) as s:
        q = select(func.count()).select_from(row)
        for key, value in where.items():
            q = q.where(getattr(row, key) == value)
        return s.scalar(q)


def test_an_attempt_moves_the_counters_once(store, engine):
    entry = store.add("s", "Try pairs first", "Combine two numbers, then the rest.")
    for _ in range(2):  # the run, then its resume replaying the same attempt
        store.record_outcome([entry.id], True, run_id="r1", attempt_id="r1:p1:h:single:0")
    store.record_outcome([entry.id], False, run_id="r1", attempt_id="r1:p2:h:single:0")
    got = store.get(entry.id)
    assert (got.used, got.helped, got.hurt) == (2, 1, 1)
    assert count(engine, OutcomeRow, run_id="r1") == 2
    store.record_outcome([entry.id], True)  # outside a run: every call counts
    store.record_outcome([entry.id], True)
    assert store.get(entry.id).used == 4


def test_a_replayed_problem_is_recorded_and_curated_once(store, engine):
    curator = Scripted([add_reply("Pairs", "Combine pairs first."),
                        add_reply("Pairs again", "A second lesson from the same problem.")])
    session = MemorySession(store, "dc-cu", "s", complete=curator)
    for answer in ("(8-4)*(7-1)", "(7-1)*(8-4)"):  # the killed try, then the resumed one
        asyncio.run(session.after("4 7 8 1", answer, True, problem_id="p1", run_id="r1"))
    assert len(curator.calls) == 1
    assert count(engine, ProblemRow, run_id="r1", problem_id="p1") == 1
    assert count(engine, CurationRow, run_id="r1", problem_id="p1") == 1
    assert [e.title for e in store.entries("s", status="active")] == ["Pairs"]
    # Another run's problem of the same id is its own.
    curator.curator_replies.append(add_reply("Other run", "Learned in run r2."))
    asyncio.run(session.after("4 7 8 1", "(8-4)*(7-1)", True, problem_id="p1", run_id="r2"))
    assert count(engine, ProblemRow, problem_id="p1") == 2 and len(curator.calls) == 2


def test_a_curation_and_its_sheet_changes_are_one_transaction(store, engine):
    curator = Scripted([add_reply("Pairs", "Combine pairs first.")])
    session = MemorySession(store, "dc-cu", "s", complete=curator)
    result = asyncio.run(session.after("4 7 8 1", "x", True, problem_id="p1", run_id="r1"))
    assert result.status == "applied" and result.version_after == store.version("s") == 1
    with Session(engine) as s:
        row = s.scalars(select(CurationRow)).one()
    assert (row.version_before, row.version_after, row.status) == (0, 1, "applied")
