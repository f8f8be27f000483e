"""Code-synthesis answers run in the real sandbox's snippet tier (skipped where it is missing)."""

from __future__ import annotations

import inspect

import pytest

from crib.agents.domains import get_domain
from crib.agents.domains.code_library import BY_NAME
from crib.sandbox import Limits, Sandbox, SandboxUnavailable


async def _score_and_check(answers: dict[str, str]) -> dict[str, tuple[float, object]]:
    async with Sandbox() as sb:
        async def run_snippet(code: str, timeout_s: float) -> dict:
            r = await sb.run(code, tier="snippet", limits=Limits(timeout_s=timeout_s))
            return {"ok": r.ok, "stdout": r.stdout, "stderr": r.stderr, "value": r.value,
                    "error": r.error}

        cs = get_domain("code-synthesis", run_snippet=run_snippet)
        cs.per_test_s = 0.5
        prob = next(p for p in cs.generate(30, seed=5) if p.metadata["reference"] == "to_roman")
        return {label: (await cs.score(prob, code), await cs.check(prob, code))
                for label, code in answers.items()}


def test_hidden_tests_run_in_the_snippet_tier(arun):
    answers = {
        "reference": inspect.getsource(BY_NAME["to_roman"].fn),
        "loops": "def to_roman(n):\n    while True:\n        pass\n",
        "network": "import socket\ndef to_roman(n):\n    socket.socket()\n",
    }
    try:
        results = arun(_score_and_check(answers))
    except SandboxUnavailable as exc:
        pytest.skip(f"no sandbox tier here: {exc}")
    score, verdict = results["reference"]
    assert score == 1.0 and verdict.passed is True
    score, verdict = results["loops"]
    assert score == 0.0 and "timed out" in verdict.feedback
    score, verdict = results["network"]
    assert score == 0.0 and "PermissionError" in verdict.feedback
