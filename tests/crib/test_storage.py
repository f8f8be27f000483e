"""Storage: every layer's migrations apply from empty on SQLite and on a real PostgreSQL."""
import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from crib.agents.records import CallRow, RunRow
from crib.storage import migrate, open_database


def _round_trip(url: str) -> None:
    engine = open_database(url)
    tables = set(inspect(engine).get_table_names())
    assert {"runs", "llm_cache", "llm_calls", "alembic_version"} <= tables
    with Session(engine) as s:
        s.add(RunRow(id="r1", mode="solve", manifest={"seed": 1}, summary={}))
        s.add(CallRow(run_id="r1", role="solver", model="m", base_url="u", tokens_in=3,
                      tokens_out=4))
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


def test_start_up_check_reads_the_same_heads_as_alembic(tmp_path):
    # open_database skips Alembic when the database is at the heads the migration files
    # name (read with `ast`); they must be exactly Alembic's heads, or a new revision would
    # never be applied.
    from alembic.script import ScriptDirectory

    from crib.storage import _alembic_config, _current_heads, _file_heads, make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/crib.db")
    assert _current_heads(engine) is None  # a new database: Alembic runs
    heads = set(ScriptDirectory.from_config(_alembic_config(engine)).get_heads())
    assert _file_heads() == heads
    migrate(engine)
    assert _current_heads(engine) == heads
    engine.dispose()

    from alembic import command  # a database behind the files is upgraded, not skipped

    behind = make_engine(f"sqlite:///{tmp_path}/behind.db")
    command.upgrade(_alembic_config(behind), "a0001")
    assert _current_heads(behind) == {"a0001"}
    migrate(behind)
    assert _current_heads(behind) == heads and "results" in inspect(behind).get_table_names()
    behind.dispose()
