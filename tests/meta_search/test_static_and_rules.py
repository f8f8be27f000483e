"""Static check, promotion rule and smoke-failure rule of the cascade."""
from crib.meta_search.archive import Outcome
from crib.agents.loop import NO_ANSWER
from crib.meta_search.cascade import promote, smoke_failure
from crib.meta_search.static_check import static_check

GOOD = '''
from collections import Counter
import json

def forward(self, taskInfo):
    agent = LLMAgentBase(["thinking", "answer"], "CoT")
    thinking, answer = agent([taskInfo], "Think step by step.")
    return answer
'''


def test_static_check_accepts_an_adas_agent():
    assert static_check(GOOD).ok


def test_static_check_names_every_forbidden_construct():
    code = ("import os\nfrom subprocess import run\n\ndef forward(self, taskInfo):\n"
            "    open('x')\n    eval('1')\n    return ().__class__.__subclasses__()\n")
    report = static_check(code)
    assert not report.ok
    text = report.reason
    for needle in ("import of os", "subprocess", "open()", "eval()", "__subclasses__"):
        assert needle in text


def test_static_check_syntax_and_missing_forward():
    assert "syntax error line 1" in static_check("def forward(:\n").reason
    assert "no top-level `def forward" in static_check("def solve(x):\n    return 1\n").reason


def test_promotion_rule_upper_bound_against_best_median():
    assert promote(0.40, None)          # nothing fully evaluated yet: promote
    assert promote(0.50, 0.50)          # could tie the best: promote
    assert promote(0.80, 0.50)
    assert not promote(0.49, 0.50)      # even its optimistic bound is below the best


def test_smoke_failure_on_error_or_all_zero():
    ok = [Outcome(problem_id="a", score=1.0), Outcome(problem_id="b", score=0.0)]
    assert smoke_failure(ok, zero_is_failure=True) is None
    zero = [Outcome(problem_id="a", score=0.0, answer="7"), Outcome(problem_id="b", score=0.0)]
    assert "every answer was wrong" in smoke_failure(zero, zero_is_failure=True)
    assert smoke_failure(zero, zero_is_failure=False) is None
    err = [Outcome(problem_id="a", error="NameError: name 'x' is not defined")]
    assert "NameError" in smoke_failure(err, zero_is_failure=False)
    # No answer in the model's reply: an error for written code (its author can fix it), a
    # wrong answer for compiled code (blocks: the seed it came from fails the same way).
    silent = [Outcome(problem_id="a", error=NO_ANSWER)]
    assert NO_ANSWER in smoke_failure(silent, zero_is_failure=True)
    assert smoke_failure(silent, zero_is_failure=False) is None


def test_stage_sizes_stop_below_the_full_split():
    from crib.meta_search.cascade import CascadePolicy

    assert CascadePolicy(minibatch=10).stage_sizes(80) == [10, 30]
    assert CascadePolicy(minibatch=10).stage_sizes(20) == [10]
    assert CascadePolicy(minibatch=10, stage_factor=0).stage_sizes(80) == [10]
    assert CascadePolicy(minibatch=16).stage_sizes(16) == []
