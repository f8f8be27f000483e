"""One real Sandbox for the sandbox tests, started while fake secrets sit in the host's
environment (so the tests can show they never reach a guest)."""
import asyncio
import os
import secrets

import pytest

from crib.sandbox import Sandbox, check

SECRET_VARS = ("CRIB_TEST_SECRET", "OPENAI_API_KEY")
TIERS = ["snippet", "agent"]


@pytest.fixture(scope="session")
def host_secret() -> str:
    return "sk-crib-test-" + secrets.token_hex(12)


@pytest.fixture(scope="session")
def sb(host_secret):
    report = check()
    if not (report.agent.ok and report.snippet.ok):
        pytest.skip(f"sandbox tiers unavailable here: agent: {report.agent.reason}; "
                    f"snippet: {report.snippet.reason}")
    saved = {k: os.environ.get(k) for k in SECRET_VARS}
    for k in SECRET_VARS:
        os.environ[k] = host_secret
    box = Sandbox(scratch_mb=32, report=report)
    yield box
    box.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(params=TIERS)
def tier(request) -> str:
    return request.param


def run(box: Sandbox, code: str, tier: str, **kw):
    return asyncio.run(box.run(code, tier=tier, **kw))


def agent_sandbox(**kwargs) -> Sandbox:
    """A Sandbox of the test's own (slots, scratch size, ...), or a skip where the agent tier
    does not work."""
    report = check()
    if not report.agent.ok:
        pytest.skip(f"agent tier unavailable here: {report.agent.reason}")
    return Sandbox(report=report, **kwargs)


def slot_uid_pids(box: Sandbox, spared: set[int]) -> list[int]:
    """Processes running as one of the box's slot uids, other than `spared`."""
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) not in spared:
            try:
                if os.stat(f"/proc/{p}").st_uid in box.uids:
                    pids.append(int(p))
            except OSError:
                pass
    return pids


def openai_handler(server, seen: list, max_retries: int = 2):
    """An rpc handler that forwards each completion through the real `openai` client to the
    scripted server, recording the params it got in `seen`."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=server.url, api_key="test-key", max_retries=max_retries)

    async def handler(method, params):
        seen.append(params)
        extra = {k: params[k] for k in ("temperature", "max_tokens", "stop", "seed", "top_p",
                                        "response_format") if k in params}
        c = await client.chat.completions.create(model="scripted-model",
                                                 messages=params["messages"], **extra)
        return {"text": c.choices[0].message.content, "tokens_in": c.usage.prompt_tokens,
                "tokens_out": c.usage.completion_tokens}
    return handler
