"""The code-execution verifier runs the answer's code in the real sandbox's snippet tier."""
import asyncio

import pytest

from crib.agents.problems import Problem
from crib.agents.verify import CodeExecution, VerifyContext
from crib.sandbox import Limits, Sandbox


@pytest.fixture(scope="module")
def sandbox():
    sb = Sandbox()
    yield sb
    sb.close()


def check(sandbox, answer, raw="", **kw):
    ctx = VerifyContext(domain=None, sandbox=sandbox, raw_output=raw)
    return asyncio.run(CodeExecution(**kw).verify(Problem(id="c", input="t"), answer, ctx))


def test_code_that_runs_passes_and_its_output_is_in_the_feedback(sandbox):
    v = check(sandbox, "Here:\n```python\nprint(sum(range(10)))\n```")
    assert (v.passed, v.score, v.verifier) == (True, 1.0, "code-execution")
    assert "Output: 45" in v.feedback


def test_a_function_definition_runs_without_output(sandbox):
    assert check(sandbox, "def f(x):\n    return x * 2\n").passed is True
    v = check(sandbox, "def f(x):\n    return x * 2\n", require_output=True)
    assert v.passed is False and "printed nothing" in v.feedback


def test_crashing_code_fails_with_the_error(sandbox):
    v = check(sandbox, "```python\nx = [1][3]\n```")
    assert v.passed is False and "IndexError" in v.feedback


def test_runaway_code_hits_a_limit(sandbox):
    v = check(sandbox, "```python\nwhile True:\n    pass\n```", limits=Limits(timeout_s=1))
    assert v.passed is False and "limit" in v.feedback


def test_code_cannot_reach_the_network(sandbox):
    code = ("```python\nimport socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))\n"
            "print('connected')\n```")
    v = check(sandbox, code)
    assert v.passed is False and "connected" not in v.feedback


def test_no_code_or_no_sandbox_is_unknown(sandbox):
    assert check(sandbox, "42").passed is None
    assert check(None, "```python\nprint(1)\n```").passed is None


def test_structured_answers_fall_back_to_the_raw_output(sandbox):
    assert check(sandbox, [[1, 2]], raw="```python\nprint('grid')\n```").passed is True
