"""Fixtures for the LLM layer tests: an `LLM` on the real SQLite database of
tests/agents/conftest.py, bound to the scripted server (tests/scripted_server.py) through the
real HTTP clients (aiohttp for completions, langchain-openai/openai for streams)."""
import pytest

from crib.agents.llm import LLM, Backoff, ModelSettings


@pytest.fixture
def make_llm(engine, scripted_server):
    """make_llm(**settings_and_options) -> LLM with a `solver` (and `judge`) role on the server."""

    def make(roles=("solver",), model="scripted-model", engine=engine, **kwargs):
        options = {k: kwargs.pop(k) for k in list(kwargs)
                   if k in ("cache", "run_id", "budget_tokens", "budget_usd", "prices")}
        settings = {"model": model, "base_url": scripted_server.url, "temperature": 0.0,
                    "max_tokens": 64, "concurrency": 8, "timeout_s": 10.0, "max_retries": 3,
                    **kwargs}
        return LLM(engine, {r: ModelSettings(**settings) for r in roles},
                   backoff=Backoff(base_s=0.01, max_s=0.05), **options)

    return make
