"""Fixtures for meta search: a migrated SQLite database, an LLM whose every role talks to the
scripted server, and a scripted meta-agent that plays given candidates in order."""
import json

import pytest

from crib.agents.llm import LLM, Backoff, ModelSettings
from crib.storage import open_database

META_MARK = "expert machine learning researcher"


@pytest.fixture
def engine(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'crib.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def make_llm(engine, scripted_server):
    def make(run_id=None, **options):
        settings = ModelSettings(model="scripted-model", base_url=scripted_server.url,
                                 temperature=0.0, max_tokens=512, concurrency=8, timeout_s=20.0,
                                 max_retries=1)
        return LLM(engine, {r: settings for r in ("solver", "curator", "judge", "meta")},
                   backoff=Backoff(base_s=0.01, max_s=0.05), run_id=run_id,
                   prices={"scripted-model": (1.0, 2.0)}, **options)
    return make


def proposal(name, code, thought="idea"):
    return json.dumps({"thought": thought, "name": name, "code": code})


def is_meta(body):
    return any(META_MARK in str(m.get("content", "")) for m in body.get("messages", []))


class MetaScript:
    """Serves meta-agent requests from a list of reply texts (the last one repeats) and
    solver requests with `solver(body)`."""

    def __init__(self, meta_replies, solver=lambda body: "ANSWER: 0"):
        self.meta_replies = list(meta_replies)
        self.solver = solver
        self.meta_calls = 0
        self.solver_calls = 0

    def __call__(self, body):
        if is_meta(body):
            i = min(self.meta_calls, len(self.meta_replies) - 1)
            self.meta_calls += 1
            return self.meta_replies[i]
        self.solver_calls += 1
        return self.solver(body)
