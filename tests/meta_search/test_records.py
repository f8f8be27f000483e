"""The archive tables' constraints: what makes a resumed search idempotent."""
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crib.storage import open_database
from crib.meta_search.records import ArchiveEntryRow, EvaluationRow


def _entry(**kw):
    base = dict(run_id="r1", generation=1, slot=0, origin="meta", name="a", thought="t",
                code="def forward(self, taskInfo):\n    return 1\n", code_hash="h1")
    base.update(kw)
    return ArchiveEntryRow(**base)


def test_generation_slot_and_live_code_are_unique(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    with Session(engine) as s:
        s.add(_entry())
        s.commit()
        s.add(_entry(slot=1))  # same code, not marked duplicate
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        s.add(_entry(generation=1, code_hash="h2"))  # same generation and slot
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        first = s.scalars(select(ArchiveEntryRow)).one()
        s.add(_entry(generation=2, duplicate_of=first.id, status="rejected"))
        s.commit()
        assert len(s.scalars(select(ArchiveEntryRow)).all()) == 2


def test_one_evaluation_per_entry_split_problem(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    with Session(engine) as s:
        s.add(_entry())
        s.commit()
        eid = s.scalars(select(ArchiveEntryRow.id)).one()
        s.add(EvaluationRow(entry_id=eid, run_id="r1", split="validation", problem_id="p1"))
        s.commit()
        s.add(EvaluationRow(entry_id=eid, run_id="r1", split="validation", problem_id="p1"))
        with pytest.raises(IntegrityError):
            s.commit()
