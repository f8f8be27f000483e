"""Small helpers shared by the LLM layer tests."""
from sqlalchemy import func, select

from crib.agents.records import CacheRow, CallRow


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def calls(engine) -> list[CallRow]:
    with engine.connect() as conn:
        return list(conn.execute(select(CallRow).order_by(CallRow.id)))


def cache_rows(engine) -> int:
    return count(engine, CacheRow)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]
