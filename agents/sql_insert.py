"""INSERTs written for every problem of a batch (its attempts, its result), executed on the
DBAPI cursor of the caller's transaction instead of through `Connection.execute`.

Why: `crib solve` is CPU-bound on the host, and SQLAlchemy's execute path (cache key, execution
context, parameter processing, result object, events) cost ≈0.29 ms of CPU per statement in a
batch at concurrency 32 on the 2-core dev machine (0.08 ms alone on an idle one), against
≈0.02 ms for the statement itself. What stays SQLAlchemy's: the SQL text is the statement
compiled by SQLAlchemy for the connection's dialect, and every value goes through its column
type's own bind processor (JSON, DateTime, Boolean, Float), so the stored bytes are the ones
`Connection.execute` would store (tests/agents/test_sql_insert.py compares them) and rows read
back through SQLAlchemy unchanged. Only for dialects with positional `qmark` parameters
(SQLite, the default store); others go through `Connection.execute` as before. The statement
runs in the caller's transaction: pysqlite begins it implicitly on the first write, as it does
for SQLAlchemy's own execute, and the caller's commit or rollback covers it.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from sqlalchemy import Connection, Table

# (table, dialect name, column keys) -> (SQL text, [(key, bind processor or None)])
_PLANS: dict[tuple[int, str, tuple[str, ...]], tuple[str, list[tuple[str, Callable | None]]]] = {}
_LOCK = threading.Lock()


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys, every value given: no column defaults are
    applied here) into `table` inside `conn`'s transaction."""
    if not rows:
        return
    dialect = conn.dialect
    if dialect.paramstyle != "qmark":
        conn.execute(table.insert(), rows)
        return
    keys = tuple(rows[0])
    sql, plan = _plan(table, dialect, keys)
    values = [tuple(row[k] if proc is None else proc(row[k]) for k, proc in plan) for row in rows]
    cursor = conn.connection.cursor()
    try:
        if len(values) == 1:
            cursor.execute(sql, values[0])
        else:
            cursor.executemany(sql, values)
    finally:
        cursor.close()


def _plan(table: Table, dialect: Any, keys: tuple[str, ...]) -> tuple[str, list]:
    key = (id(table), dialect.name, keys)
    plan = _PLANS.get(key)
    if plan is None:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
        order = list(compiled.positiontup or [])
        if sorted(order) != sorted(keys):
            raise ValueError(f"insert into {table.name}: compiled parameters {order} are not "
                             f"the row's keys {sorted(keys)}")
        plan = (compiled.string,
                [(k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) for k in order])
        with _LOCK:
            _PLANS[key] = plan
    return plan
