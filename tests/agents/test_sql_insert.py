"""Rows inserted on the DBAPI cursor (agents/sql_insert.py) are stored exactly as SQLAlchemy's
own execute stores them, read back the same through SQLAlchemy, and share the caller's
transaction."""
import sqlite3
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, select

from crib.agents.records import AttemptRow, Base, ResultRow
from crib.agents.sql_insert import insert_rows

WHEN = datetime(2026, 11, 30, 0, 30, 1, 234567, tzinfo=timezone.utc)


def attempt(i, **extra):
    row = {"id": f"run:{i}:0", "run_id": "run", "problem_id": f"p{i}", "agent_name": "cot",
           "agent_hash": "h" * 16, "policy": "single", "attempt_index": 0,
           "answer": {"expr": "(1+2+3)*4", "note": "é ✓"}, "raw_output": "Answer: (1+2+3)*4",
           "passed": True, "verdicts": [{"passed": True, "score": 1.0, "feedback": "ok",
                                         "verifier": "game24"}],
           "feedback_in": None, "calls": 1, "cached_calls": 0, "tokens_in": 300, "tokens_out": 40,
           "cost_usd": 0.00012, "wall_ms": 123.456, "error": None, "cheatsheet_version": None,
           "memory_entry_ids": [], "created_at": WHEN}
    return {**row, **extra}


def result(i, **extra):
    row = {"run_id": "run", "problem_id": f"p{i}", "position": i, "score": 1.0, "passed": False,
           "error": None, "outcome": {"problem_id": f"p{i}", "answer": None, "notes": ["ü"]},
           "created_at": WHEN}
    return {**row, **extra}


def raw_rows(engine, table):
    path = engine.url.database
    with sqlite3.connect(path) as db:
        return sorted(db.execute(f"SELECT * FROM {table}").fetchall())


def read_back(engine, table):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.problem_id)).mappings()]


@pytest.mark.parametrize("table, make", [(AttemptRow.__table__, attempt), (ResultRow.__table__, result)])
def test_the_stored_bytes_are_sqlalchemys(engine, tmp_path, table, make):
    rows = [make(1), make(2, passed=None, answer=None) if table.name == "attempts"
            else make(2, score=None, passed=None, error="boom")]
    theirs = create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    Base.metadata.create_all(theirs)
    with theirs.begin() as conn:
        conn.execute(table.insert(), rows)
    with engine.begin() as conn:
        insert_rows(conn, table, rows[:1])  # one row: execute
        insert_rows(conn, table, rows[1:] + [make(3)])  # several: executemany
    with theirs.begin() as conn:
        conn.execute(table.insert(), [make(3)])
    assert raw_rows(engine, table.name) == raw_rows(theirs, table.name)
    ours_back, theirs_back = read_back(engine, table), read_back(theirs, table)
    assert ours_back == theirs_back and len(ours_back) == 3
    assert ours_back[0]["verdicts" if table.name == "attempts" else "outcome"] == rows[0][
        "verdicts" if table.name == "attempts" else "outcome"]  # JSON round trip
    theirs.dispose()


def test_rows_share_the_callers_transaction(engine):
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            insert_rows(conn, ResultRow.__table__, [result(1)])
            raise RuntimeError("the caller fails after the insert")
    assert raw_rows(engine, "results") == []  # rolled back with it
    with engine.begin() as conn:
        insert_rows(conn, ResultRow.__table__, [result(1)])
    assert len(raw_rows(engine, "results")) == 1


def test_a_row_missing_a_column_the_plan_needs_is_refused(engine):
    rows = [result(1)]
    with engine.begin() as conn:
        insert_rows(conn, ResultRow.__table__, rows)
        with pytest.raises(KeyError):
            insert_rows(conn, ResultRow.__table__, [result(2), {"run_id": "run", "problem_id": "x"}])
