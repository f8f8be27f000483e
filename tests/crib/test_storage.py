"""Storage: every layer's migrations apply from empty on SQLite and on a real PostgreSQL."""
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from agents.records import CallRow, RunRow
from crib.storage import migrate, open_database


def _round_trip(url: str) -> None:
    engine = open_database(url)
    tables = set(inspect(engine).get_table_names())
    assert {"runs", "llm_cache", "llm_calls", "alembic_version"} <= tables
    with Session(engine) as s:
        s.add(RunRow(id="r1", mode="solve", manifest={"seed": 1}, summary={}))
        s.add(CallRow(run_id="r1", role="solver", model="m", base_url="u", tokens_in=3, tokens_out=4))
        s.commit()
    migrate(engine)  # idempotent: a second upgrade changes nothing and keeps the rows
    with Session(engine) as s:
        assert s.scalar(select(RunRow.manifest).where(RunRow.id == "r1")) == {"seed": 1}
        assert s.scalar(select(CallRow.tokens_out)) == 4
    engine.dispose()


def test_sqlite_migrations_apply_from_empty_and_use_wal(tmp_path):
    url = f"sqlite:///{tmp_path}/crib.db"
    _round_trip(url)
    engine = open_database(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.postgres
def test_postgresql_migrations_apply_from_empty(postgres_url):
    _round_trip(postgres_url)
