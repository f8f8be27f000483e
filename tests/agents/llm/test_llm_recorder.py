"""The call recorder seam: one CallRecord per ledger row, for every kind of call and outcome,
and never a key or a header in it."""
import asyncio
import dataclasses

import pytest
from pydantic import BaseModel

from crib.agents.llm import EndpointError, StructuredOutputError
from crib.agents.llm.recorder import CallRecord
from tests.agents.llm.llm_helpers import calls, user
from tests.scripted_server import Reply


class Keep:
    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def record(self, call: CallRecord) -> None:
        self.records.append(call)


class Verdict(BaseModel):
    ok: bool


def test_one_record_per_completion_cached_or_not(make_llm, scripted_server, engine):
    keep = Keep()
    llm = make_llm(run_id="r1")
    llm.recorder = keep
    scripted_server.enqueue(Reply(text="four", tokens_in=7, tokens_out=1))
    for _ in range(2):  # the second is a cache hit
        asyncio.run(llm.complete(user("2+2?"), temperature=0.5, attempt_id="a1", stop=["\n"]))
    first, second = keep.records
    assert (first.kind, first.run_id, first.attempt_id, first.role) == ("complete", "r1", "a1",
                                                                        "solver")
    assert first.model == "scripted-model" and first.endpoint == scripted_server.url
    assert first.messages == user("2+2?") and first.text == "four"
    assert first.params["temperature"] == 0.5 and first.params["stop"] == ["\n"]
    assert first.params["max_tokens"] == 64 and isinstance(first.params["seed"], int)
    assert (first.tokens_in, first.tokens_out, first.cached, first.error) == (7, 1, False, None)
    assert first.latency_ms > 0 and first.extra["finish_reason"] == "stop"
    assert first.extra["tries"] == 1
    assert (second.cached, second.text, second.latency_ms) == (True, "four", 0.0)
    assert second.extra["tries"] == 0  # served from the cache: no request sent
    assert len(calls(engine)) == 2 and scripted_server.served == 1


def test_errors_and_streams_are_recorded_once(make_llm, scripted_server, engine):
    keep = Keep()
    llm = make_llm(max_retries=1, cache="off")
    llm.recorder = keep
    scripted_server.enqueue(Reply.error(500, "down"), Reply.error(500, "down"))
    with pytest.raises(EndpointError):
        asyncio.run(llm.complete(user("x")))
    scripted_server.enqueue(Reply(text="one two", tokens_in=3, tokens_out=2))

    async def collect():
        return [piece async for piece in llm.stream(user("y"))]

    assert "".join(asyncio.run(collect())) == "one two"
    failed, streamed = keep.records
    assert failed.kind == "complete" and "after 2 attempts" in failed.error and failed.text == ""
    assert (streamed.kind, streamed.text, streamed.tokens_in, streamed.tokens_out,
            streamed.error) == ("stream", "one two", 3, 2, None)
    assert len(calls(engine)) == 2


def test_a_stopped_stream_is_recorded_once(make_llm, scripted_server):
    keep = Keep()
    llm = make_llm(cache="off")
    llm.recorder = keep
    scripted_server.enqueue(Reply(text="one two three"))

    async def first_piece():
        stream = llm.stream(user("count"))
        piece = await stream.__anext__()
        await stream.aclose()
        return piece

    assert asyncio.run(first_piece()) == "one "
    (stopped,) = keep.records
    assert stopped.text == "one " and stopped.error.startswith("stream stopped by the caller")


def test_structured_calls_are_recorded_per_mode_tried(make_llm, scripted_server, engine):
    keep = Keep()
    llm = make_llm(cache="off")
    llm.recorder = keep
    scripted_server.enqueue(Reply.bad_request("response_format not supported"),
                            Reply(text='{"ok": true}'), Reply(text="no json here"),
                            Reply(text="still none"))
    assert asyncio.run(llm.structured(user("judge"), Verdict, role="solver")) == Verdict(ok=True)
    with pytest.raises(StructuredOutputError):
        asyncio.run(llm.structured(user("judge"), Verdict, role="solver"))
    kinds = [(r.kind, r.params["response_format"] and r.params["response_format"]["type"],
              r.error is None) for r in keep.records]
    assert kinds == [("structured", "json_schema", False), ("structured", "json_object", True),
                     ("structured", "json_object", False)]
    assert "Reply with a single JSON object" in keep.records[1].messages[-1]["content"]
    assert keep.records[2].text == "no json here"
    assert len(keep.records) == len(calls(engine))


def test_no_key_or_header_in_a_record(make_llm, scripted_server, monkeypatch):
    monkeypatch.setenv("CRIB_TEST_KEY", "sk-secret-value")
    keep = Keep()
    llm = make_llm(api_key_env="CRIB_TEST_KEY")
    llm.recorder = keep
    asyncio.run(llm.complete(user("hi")))
    assert scripted_server.chat_requests[0].headers["authorization"] == "Bearer sk-secret-value"
    dump = repr(dataclasses.asdict(keep.records[0]))
    assert "sk-secret" not in dump and "Bearer" not in dump and "CRIB_TEST_KEY" not in dump


def test_a_failing_recorder_does_not_fail_the_call(make_llm, scripted_server, engine, caplog):
    class Broken:
        def record(self, call: CallRecord) -> None:
            raise RuntimeError("disk full")

    llm = make_llm()
    llm.recorder = Broken()
    assert asyncio.run(llm.complete(user("hi"))).text == "hi"
    assert len(calls(engine)) == 1 and "the call recorder failed" in caplog.text
