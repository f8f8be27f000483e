"""`requests`: every request a call sent, retries included (`calls` counts the calls)."""
import asyncio

import pytest

from crib.agents.llm import EndpointError
from tests.agents.llm.llm_helpers import calls, retried_run, script_retries, user
from tests.agents.llm.test_llm_recorder import Keep
from tests.scripted_server import Reply


def test_requests_count_retries_in_the_ledger_rows_and_the_spend(make_llm, scripted_server,
                                                                 engine):
    script_retries(scripted_server)
    llm = make_llm(run_id="run-r", max_retries=2)
    llm.recorder = Keep()
    asyncio.run(retried_run(llm))
    assert scripted_server.served == 9
    assert [r.tries for r in calls(engine)] == [3, 3, 2, 1, 0]
    assert [r.extra["tries"] for r in llm.recorder.records] == [3, 3, 2, 1, 0]
    tracked, fresh = llm.spend("run-r"), llm.spend("run-r", fresh=True)
    assert tracked.model_dump() == fresh.model_dump()  # running totals = the SQL aggregate
    assert fresh.calls == 5 and fresh.requests == 9 and fresh.cached_calls == 1
    assert fresh.errors == 1 and fresh.by_role["solver"].requests == 9


def test_requests_without_a_database(make_llm, scripted_server):
    script_retries(scripted_server)
    llm = make_llm(run_id="run-r", max_retries=2, engine=None)
    asyncio.run(retried_run(llm, cache=False))
    spend = llm.spend("run-r")
    assert spend.calls == 5 and spend.requests == scripted_server.served == 10


def test_a_call_not_retried_sent_one_request(make_llm, scripted_server, engine):
    scripted_server.enqueue(Reply.bad_request("no"))
    llm = make_llm(run_id="r1")
    with pytest.raises(EndpointError):
        asyncio.run(llm.complete(user("refused")))
    assert [r.tries for r in calls(engine)] == [1]
    assert llm.spend().requests == llm.spend().calls == 1


def test_the_migration_gives_earlier_rows_one_request_or_none_when_cached(tmp_path):
    from alembic import command
    from sqlalchemy import text

    from crib.storage import _alembic_config, make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    command.upgrade(_alembic_config(engine), "a0004")  # a ledger from before `tries`
    with engine.begin() as conn:
        for cached in (False, True, False):
            conn.execute(text(
                "INSERT INTO llm_calls (run_id, role, model, base_url, tokens_in, tokens_out,"
                " cost_usd, latency_ms, cached, created_at) VALUES ('old', 'solver', 'm', 'u',"
                " 1, 1, 0, 0, :cached, '2026-01-01')"), {"cached": cached})
    migrate(engine)
    with engine.connect() as conn:
        tries = [r[0] for r in conn.execute(text("SELECT tries FROM llm_calls ORDER BY id"))]
    assert tries == [1, 0, 1]
    from crib.agents.llm.ledger import Ledger

    spend = Ledger(engine).spend("old")
    assert spend.calls == 3 and spend.requests == 2
    engine.dispose()
