"""The meta-agent through the real LLM client against the scripted server."""
import asyncio
import json

import pytest

from crib.meta_search.meta_agent import MetaAgent, ProposalError
from tests.meta_search.conftest import MetaScript, proposal

CODE_A = "def forward(self, taskInfo):\n    return 'a'\n"
CODE_B = "def forward(self, taskInfo):\n    return 'b'\n"


def test_propose_then_two_reflections(make_llm, scripted_server):
    script = MetaScript([proposal("first", CODE_A), proposal("novel", CODE_B, "more novel"),
                         proposal("final", CODE_B, "checked")])
    scripted_server.script(script)
    meta = MetaAgent(make_llm(), domain="game24", run_id="r")
    p, trace = asyncio.run(meta.propose("[archive text]", generation=1))
    assert (p.name, p.code) == ("final", CODE_B)
    assert [t["step"] for t in trace] == ["propose", "reflect1", "reflect2"]
    bodies = [r.body for r in scripted_server.chat_requests]
    assert "[archive text]" in json.dumps(bodies[0])
    assert "Interestingness" in bodies[1]["messages"][-1]["content"]
    assert "line by line" in bodies[2]["messages"][-1]["content"]
    assert meta.llm.spend("r").by_role["meta"].calls == 3


def test_unusable_reply_is_a_proposal_error(make_llm, scripted_server):
    scripted_server.script(lambda body: "I cannot do that.")
    meta = MetaAgent(make_llm(), domain="game24", run_id="r")
    with pytest.raises(ProposalError, match="not a valid proposal"):
        asyncio.run(meta.propose("[]", generation=1))


def test_debug_shows_the_error_and_returns_fixed_code(make_llm, scripted_server):
    scripted_server.script(MetaScript([proposal("fixed", CODE_A)]))
    meta = MetaAgent(make_llm(), domain="game24", run_id="r")
    fix = asyncio.run(meta.debug("x", "def forward(self, t):\n    return y\n",
                                 "NameError: name 'y' is not defined", generation=3, round_=1))
    assert fix.code == CODE_A
    assert "NameError" in json.dumps(scripted_server.chat_requests[0].body)
