"""Structured output: json_schema, else json_object, else parse-and-repair; failures raise."""
import asyncio
import json

import pytest
from pydantic import BaseModel

from crib.agents.llm import StructuredOutputError
from crib.agents.llm.json_repair import JSONRepairError, parse_json
from tests.agents.llm.llm_helpers import cache_rows, calls, user
from tests.scripted_server import Reply


class Proposal(BaseModel):
    thought: str
    name: str
    score: int = 0


GOOD = {"thought": "try it", "name": "cot", "score": 3}


def formats(server) -> list:
    return [(r.body.get("response_format") or {}).get("type") for r in server.chat_requests]


def test_json_schema_when_the_endpoint_takes_it(make_llm, scripted_server):
    scripted_server.enqueue(json.dumps(GOOD))
    result = asyncio.run(make_llm().structured(user("propose"), Proposal, role="solver"))
    assert result == Proposal(**GOOD)
    body = scripted_server.chat_requests[0].body
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True and schema["schema"]["additionalProperties"] is False
    assert set(schema["schema"]["required"]) == {"thought", "name", "score"}
    assert body["messages"] == user("propose")  # no schema text needed in this mode


def test_refused_schema_falls_back_to_json_mode_and_remembers(make_llm, scripted_server):
    scripted_server.refuse_response_formats = {"json_schema"}
    scripted_server.script(lambda req: json.dumps(GOOD))
    llm = make_llm()
    assert asyncio.run(llm.structured(user("one"), Proposal, role="solver")).name == "cot"
    assert asyncio.run(llm.structured(user("two"), Proposal, role="solver")).name == "cot"
    assert formats(scripted_server) == ["json_schema", "json_object", "json_object"]
    assert "JSON schema" in scripted_server.chat_requests[1].body["messages"][-1]["content"]


def test_plain_prompt_then_repair(make_llm, scripted_server):
    scripted_server.refuse_response_formats = {"json_schema", "json_object"}
    scripted_server.script(
        lambda req: 'Sure! Here it is:\n```json\n{"thought": "t", "name": "n",}\n```')
    result = asyncio.run(make_llm().structured(user("propose"), Proposal, role="solver"))
    assert result == Proposal(thought="t", name="n")
    assert formats(scripted_server) == ["json_schema", "json_object", None]


def test_garbage_raises_with_the_raw_reply_and_is_recorded(make_llm, scripted_server, engine):
    scripted_server.script(lambda req: "I cannot answer in JSON, sorry.")
    llm = make_llm(run_id="r")
    for _ in range(2):
        with pytest.raises(StructuredOutputError) as info:
            asyncio.run(llm.structured(user("propose"), Proposal, role="solver"))
        assert info.value.raw == "I cannot answer in JSON, sorry."
        assert "no JSON found" in str(info.value)
    assert scripted_server.served == 2  # an invalid reply is an error: never cached
    assert cache_rows(engine) == 0
    rows = calls(engine)
    assert len(rows) == 2 and all(r.error.startswith("structured output") for r in rows)
    assert rows[0].tokens_out > 0  # the tokens were spent all the same


def test_wrong_shape_names_the_fields(make_llm, scripted_server):
    scripted_server.enqueue(json.dumps({"thought": "t", "score": "high"}))
    with pytest.raises(StructuredOutputError) as info:
        asyncio.run(make_llm().structured(user("propose"), Proposal, role="solver"))
    assert "name" in str(info.value) and "score" in str(info.value)


def test_truncated_reply_says_so(make_llm, scripted_server):
    scripted_server.enqueue(Reply.truncated('{"thought": "a long thou'))
    with pytest.raises(StructuredOutputError, match="cut at max_tokens") as info:
        asyncio.run(make_llm().structured(user("propose"), Proposal, role="solver"))
    assert info.value.raw == '{"thought": "a long thou'


def test_valid_reply_is_cached(make_llm, scripted_server):
    scripted_server.script(lambda req: json.dumps(GOOD))
    llm = make_llm()
    asyncio.run(llm.structured(user("p"), Proposal, role="solver"))
    asyncio.run(llm.structured(user("p"), Proposal, role="solver"))
    assert scripted_server.served == 1


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": [1, 2,],}\n```', {"a": [1, 2]}),
    ('The answer: {"a": {"b": "c"}} hope it helps', {"a": {"b": "c"}}),
    ("{'a': 1}".replace("'", '"') + " trailing", {"a": 1}),
    ('{"ok": True, "v": None}', {"ok": True, "v": None}),
    ("```\n[1, 2, 3]\n```", [1, 2, 3]),
])
def test_parse_json_repairs(text, expected):
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", '{"a": '])
def test_parse_json_gives_up_clearly(text):
    with pytest.raises(JSONRepairError, match="no JSON found"):
        parse_json(text)
