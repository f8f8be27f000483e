"""End to end: the real embedded llama.cpp server (0.5B) through the LLM layer, and no
orphan server processes when the parent dies or is interrupted. Generous timeouts: the
machine's cores are shared."""
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from crib.agents.llm import ModelSettings, build_llm
from crib.agents.llm.local_server import LocalServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[3]


class Sum(BaseModel):
    answer: int


def settings() -> ModelSettings:
    return ModelSettings(temperature=0.0, max_tokens=8, concurrency=2, timeout_s=300, max_retries=1)


def test_real_completion_structured_and_stream(local_server, engine):
    llm = build_llm(engine, {"solver": settings()}, local_base_url=local_server.base_url,
                    local_model="qwen2.5-coder-0.5b", run_id="e2e")

    async def work():
        plain = await llm.complete([{"role": "user", "content": "Say hello."}])
        again = await llm.complete([{"role": "user", "content": "Say hello."}])
        shaped = await llm.structured([{"role": "user", "content": "What is 2+3?"}], Sum,
                                      role="solver", max_tokens=20)
        pieces = [p async for p in llm.stream([{"role": "user", "content": "Count: 1, 2,"}])]
        return plain, again, shaped, pieces

    plain, again, shaped, pieces = asyncio.run(work())
    assert plain.text.strip() and plain.tokens_in > 0 and 0 < plain.tokens_out <= 8
    assert plain.cost_usd == 0.0 and plain.finish_reason in ("stop", "length")
    assert again.cached and again.text == plain.text
    assert isinstance(shaped, Sum)  # json_schema is honoured by llama.cpp
    assert "".join(pieces).strip()
    spend = llm.spend()
    assert spend.calls == 4 and spend.cached_calls == 1 and spend.errors == 0


def test_embedded_server_is_recognised_by_url(local_server, engine):
    """Wired by hand (as crib does): the LLM still keys the cache by the model, not the port,
    caps concurrency at the server's slots + 1 and sends no hosted key."""
    from crib.agents.llm import LLM

    roles = {"solver": settings().model_copy(update={
        "base_url": local_server.base_url, "model": "qwen", "concurrency": 16,
        "api_key_env": "OPENAI_API_KEY"})}
    llm = LLM(engine, roles)
    role = llm.role("solver")
    named = "embedded:" + local_server.model_path.name
    assert llm._endpoint_id(role) == local_server.endpoint_id == named
    assert llm._endpoints.limit(role.endpoint) == local_server.parallel + 1


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie is dead, only not yet reaped


def _wait_gone(pid: int, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


PARENT = """
import sys, time
from crib.agents.llm.local_server import LocalServer
server = LocalServer(sys.argv[1], ctx=1024, warmup=False).start()
print(server.process.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])  # SIGTERM: serve_forever test
def test_no_orphan_server_when_the_parent_goes(local_model_path, how):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(local_model_path)],
                              stdout=subprocess.PIPE, cwd=REPO, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        os.kill(parent.pid, how)  # kill -9, or Ctrl-C
        parent.wait(timeout=60)
        assert _wait_gone(child), f"server pid {child} outlived its parent ({how.name})"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_stop_and_bad_model_file(tmp_path, local_model_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    with pytest.raises(Exception, match="broken.gguf"):
        LocalServer(broken, ctx=1024, startup_timeout_s=120).start()
    with pytest.raises(Exception, match="does not exist"):
        LocalServer(tmp_path / "missing.gguf").start()


SERVE = """
import sys
from crib.agents.llm.local_server import LocalServer
LocalServer(sys.argv[1], ctx=1024, warmup=False).serve_forever(
    on_ready=lambda s: print(s.base_url, s.process.pid, flush=True), state_dir=sys.argv[2])
"""


def test_serve_forever_is_listed_and_stops_on_sigterm(local_model_path, tmp_path):
    from crib.agents.llm.local_server import running_servers
    from openai import OpenAI

    parent = subprocess.Popen([sys.executable, "-c", SERVE, str(local_model_path), str(tmp_path)],
                              stdout=subprocess.PIPE, cwd=REPO, text=True)
    try:
        base_url, child = parent.stdout.readline().split()
        listed = running_servers(tmp_path)
        assert [s["base_url"] for s in listed] == [base_url] and listed[0]["pid"] == parent.pid
        models = OpenAI(base_url=base_url, api_key="sk-no-key").models.list()
        assert models.data
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0
        assert _wait_gone(int(child)) and running_servers(tmp_path) == []
        assert not list(tmp_path.glob("serve-*.json"))
    finally:
        if parent.poll() is None:
            parent.kill()
