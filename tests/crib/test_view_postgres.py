"""`crib view` over PostgreSQL: the same scripted runs stored in a real server, every page
rendered through the app (Starlette's test client over HTTP semantics, no browser: the browser
tests cover the HTML on SQLite), the connection read-only."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.crib.view_data import INJECTED, SECRET, build

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_data(postgres_server, tmp_path_factory):
    return build(tmp_path_factory.mktemp("view-pg"), postgres_server.new_database())


def test_every_page_over_postgresql(pg_data):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from starlette.testclient import TestClient

    from crib.view.app import create_app, readonly_engine

    engine = readonly_engine(pg_data.db_url)
    try:
        with engine.connect() as conn:
            attempt = conn.execute(text("SELECT id FROM attempts WHERE run_id = :r ORDER BY id"),
                                   {"r": pg_data.solve_run}).scalars().first()
            blob = " ".join(t for (t,) in conn.execute(text("SELECT text FROM transcript_texts")))
        assert SECRET not in blob and INJECTED in blob
        client = TestClient(create_app(engine))
        pages = {"/": [pg_data.solve_run, pg_data.search_run],
                 f"/runs/{pg_data.solve_run}": ["game24-", "cold"],
                 f"/runs/{pg_data.solve_run}/calls": ["model call · curator"],
                 f"/attempts/{quote(attempt, safe=':')}": ["model call · solver", "sandbox run"],
                 f"/memory/{pg_data.scope}?v1=0&v2=1": ["Products of pairs", "v0 → v1: 1 added"],
                 f"/runs/{pg_data.search_run}": ["strong", "validation [95% CI]", "broken"],
                 f"/search/{pg_data.search_run}/entries/2": ["skill=90", "Code diff"]}
        for path, wanted in pages.items():
            r = client.get(path)
            assert r.status_code == 200, path
            assert "default-src 'none'" in r.headers["content-security-policy"]
            for fragment in wanted:
                assert fragment in r.text, (path, fragment)
            assert "<script" not in r.text.lower()
        for chart in (f"/runs/{pg_data.solve_run}/curve.svg",
                      f"/search/{pg_data.search_run}/progress.svg"):
            r = client.get(chart)
            assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        assert client.post("/").status_code == 405
        with pytest.raises(DBAPIError, match="read-only"):
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM runs"))
    finally:
        engine.dispose()
