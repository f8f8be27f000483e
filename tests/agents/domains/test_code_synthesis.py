"""Code synthesis: task generation, extraction, and hidden tests run through `run_snippet`.

The `run_snippet` fixture here is a TEST-ONLY stand-in for the sandbox's snippet tier (a plain
`python3 -I` child with a timeout; see conftest.py). The real sandbox is wired by the lead.
"""

from __future__ import annotations

import copy
import inspect
import json

import pytest

from crib.agents.domains import get_domain
from crib.agents.domains.base import DomainError
from crib.agents.domains.code_library import BY_NAME, REFERENCES
from crib.agents.domains.code_synthesis import build_snippet, make_task, parse_results, same
from crib.agents.problems import Problem


@pytest.fixture
def cs(run_snippet):
    domain = get_domain("code-synthesis", run_snippet=run_snippet)
    domain.per_test_s = 0.5  # keeps the timeout cases quick
    return domain


def reference_source(name: str) -> str:
    return "import math\n" + inspect.getsource(BY_NAME[name].fn)


def test_library_has_about_twenty_references_with_working_generators():
    assert len(REFERENCES) >= 20 and len(BY_NAME) == len(REFERENCES)
    for ref in REFERENCES:
        task = make_task(ref, 5)
        assert task == make_task(ref, 5)
        assert len(task.input["examples"]) == 3
        assert 10 <= len(task.target["tests"]) <= 15, ref.name
        assert task.input["function_name"] == ref.name
        # Expected outputs are the reference's, and visible examples are not hidden tests.
        for t in task.input["examples"] + task.target["tests"]:
            assert same(t["output"], json.loads(json.dumps(ref.fn(*copy.deepcopy(t["args"])))))
        assert not [t for t in task.input["examples"] if t in task.target["tests"]]


def test_generate_is_seeded_and_covers_the_library():
    cs = get_domain("code-synthesis")
    a, b = cs.generate(30, seed=1), cs.generate(30, seed=1)
    assert a == b and a != cs.generate(30, seed=2)
    assert len({p.id for p in a}) == 30
    assert len({p.metadata["reference"] for p in a}) == len(REFERENCES)
    for prob in a:
        cs.validate_input(prob)
        text = cs.render(prob)
        assert text.startswith(f"Write a Python function `{prob.input['signature']}`.")
        assert text.count(" == ") == len(prob.input["examples"]) == 3


def test_reference_solutions_score_one_and_pass_the_check(cs, arun):
    for i, prob in enumerate(cs.generate(len(REFERENCES), seed=11)):
        code = reference_source(prob.metadata["reference"])
        assert arun(cs.score(prob, code)) == 1.0, prob.id
        if i % 4 == 0:  # the check runs the same harness on the visible examples
            v = arun(cs.check(prob, code))
            assert v.passed is True and v.score == 1.0 and v.verifier == "code-examples"


def test_wrong_crashing_looping_and_hostile_answers_score_low_with_feedback(cs, arun):
    prob = next(p for p in cs.generate(40, seed=4) if p.metadata["reference"] == "running_sum")
    cases = {
        "def running_sum(nums):\n    return nums\n": "returned",
        "def running_sum(nums):\n    return 1 / 0\n": "ZeroDivisionError",
        "def running_sum(nums):\n    while True:\n        pass\n": "timed out",
        "def running_sum(nums):\n    return {1, 2}\n": "not plain data",
        "import os\nos._exit(0)\n": "did not finish",
        "raise SystemExit('bye')\n": "failed before any test ran",
        "def other(nums):\n    return nums\n": "no function named running_sum",
        "def running_sum(nums)\n    return nums\n": "SyntaxError",
        "while True:\n    pass\n": "more than 0.5 s of CPU time",
    }
    for i, (code, feedback) in enumerate(cases.items()):
        v = arun(cs.check(prob, code))
        assert v.passed is False and feedback in v.feedback, (code, v.feedback)
        if i % 3 == 0:  # the hidden tests go through the same harness
            assert arun(cs.score(prob, code)) < 0.5, code
    # Sleeping burns no CPU: the whole run's wall-clock limit stops it.
    sleepy = "import time\ndef running_sum(nums):\n    time.sleep(60)\n"
    v = arun(cs.check(prob, sleepy))
    assert v.passed is False and "did not finish: timed out" in v.feedback


def test_partial_credit_is_the_fraction_of_hidden_tests(cs, arun):
    prob = Problem(id="p", input={"description": "double", "function_name": "f",
                                  "examples": [{"args": [1], "output": 2}]},
                   target={"tests": [{"args": [1], "output": 2}, {"args": [2], "output": 4},
                                     {"args": [3], "output": 6}, {"args": [0], "output": 0}]})
    assert arun(cs.score(prob, "def f(x):\n    return 2 * x if x < 2 else x + 1\n")) == 0.5
    assert arun(cs.score(prob, "def f(x):\n    print('noise')\n    return 2 * x\n")) == 1.0
    assert arun(cs.score(prob, None)) == 0.0


def test_a_candidate_cannot_fake_results_it_does_not_know(cs, arun):
    # Printing fake tagged lines only reports outputs; expectations never enter the snippet.
    from crib.agents.domains.code_synthesis import TAG
    prob = Problem(id="p", input={"description": "d", "function_name": "f", "examples": []},
                   target={"tests": [{"args": [5], "output": 25}]})
    code = (f"import sys\nsys.__stdout__.write('{TAG}' + '{{\"i\": 0, \"out\": 0}}\\n')\n"
            "def f(x):\n    return x * x\n")
    assert "25" not in build_snippet(code, "f", [[5]])
    assert arun(cs.score(prob, code)) == 0.0  # the fake line came first and said 0
    assert arun(cs.check(prob, code)) is None  # no visible examples: no verdict


def test_differential_testing_against_the_reference(cs, arun):
    prob = next(p for p in cs.generate(40, seed=9) if p.metadata["reference"] == "to_roman")
    assert arun(cs.differential(prob, reference_source("to_roman"), n=30)) == 1.0
    almost = "def to_roman(n):\n" + "\n".join(
        "    " + line for line in inspect.getsource(BY_NAME["to_roman"].fn).splitlines()[1:]
    ).replace('(900, "CM"), ', "")
    assert arun(cs.differential(prob, almost, n=30)) < 1.0


def test_extract_takes_the_last_fenced_function():
    cs = get_domain("code-synthesis")
    reply = ("First try:\n```python\ndef f(x):\n    return 0\n```\nBetter:\n```py\n"
             "import math\n\ndef f(x):\n    return math.floor(x)\n```\nThat's it.")
    assert cs.extract(reply) == "import math\n\ndef f(x):\n    return math.floor(x)\n"
    assert cs.extract("def g():\n    return 1") == "def g():\n    return 1\n"
    assert cs.extract("```\nprint(1)\n```") is None
    assert cs.extract("") is None


def test_without_a_sandbox_runner_it_refuses_to_run_code(arun):
    cs = get_domain("code-synthesis")
    prob = cs.generate(1, seed=0)[0]
    with pytest.raises(DomainError, match="run_snippet"):
        arun(cs.score(prob, "def f():\n    pass\n"))


def test_result_parsing_and_comparison_helpers():
    stdout = "noise\n@@crib-test@@{\"i\": 1, \"out\": [1, 2]}\n@@crib-test@@not json\n"
    results, load_error = parse_results(stdout, 3)
    assert results == [None, {"i": 1, "out": [1, 2]}, None] and load_error is None
    assert same([1, 2.0000000001], [1, 2.0]) and not same(True, 1) and not same([1], [1, 2])
    assert same({"a": [1]}, {"a": [1]}) and not same("1", 1)
