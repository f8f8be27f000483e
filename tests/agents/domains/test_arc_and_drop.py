"""ARC grids (extraction, exact match, render) and DROP token F1."""

from __future__ import annotations

import json

import pytest

from crib.agents.domains import get_domain
from crib.agents.domains.drop import drop_f1, normalize_answer
from crib.agents.problems import Problem

A = get_domain("arc")
D = get_domain("drop")

TASK = {"train": [{"input": [[1, 0], [0, 0]], "output": [[0, 1], [0, 0]]}],
        "test_input": [[[0, 0], [1, 0]]]}


@pytest.mark.parametrize("reply,expected", [
    ("Answer: [[1,2],[3,4]]", [[1, 2], [3, 4]]),
    ("first [[0]] then\nAnswer:\n```json\n[[1, 2],\n [3, 4]]\n```\nDone.", [[1, 2], [3, 4]]),
    ("two grids [[[1]],[[2]]]", [[[1]], [[2]]]),
    ("[[1,2],[3,4]] and later [5]", [[1, 2], [3, 4]]),
    ("Answer:\n1 2\n3 4", [[1, 2], [3, 4]]),
    ("ragged [[1,2],[3]]", None),
    ("strings [['a']]", None),
    ("no grid [1,2]", None),
    ("[" * 5000 + "]" * 5000, None),
    ("", None),
])
def test_arc_extract(reply, expected):
    got = A.extract(reply)
    assert (json.loads(got) if got is not None else None) == expected


def test_arc_score_exact_match_and_multiple_test_inputs(arun):
    prob = Problem(id="a", input=TASK, target=[[[0, 0], [0, 1]]])
    assert arun(A.score(prob, "[[0,0],[0,1]]")) == 1.0
    assert arun(A.score(prob, "[[[0,0],[0,1]]]")) == 1.0  # a list holding the one grid
    assert arun(A.score(prob, "[[0,0],[1,0]]")) == 0.0
    assert arun(A.score(prob, "[[0,0,0],[0,1,0]]")) == 0.0
    assert arun(A.score(prob, "garbage")) == 0.0
    assert arun(A.score(prob, None)) == 0.0
    two = Problem(id="b", input={**TASK, "test_input": [[[1]], [[2]]]}, target=[[[3]], [[4]]])
    assert arun(A.score(two, "[[[3]],[[4]]]")) == 1.0
    assert arun(A.score(two, "[[[3]],[[5]]]")) == 0.5
    assert arun(A.check(two, "[[[3]],[[4]]]")) is None


def test_arc_render_shows_pairs_and_test_input():
    text = A.render(Problem(id="a", input=TASK))
    assert "Example 1\nInput:\n[[1,0],\n [0,0]]\nOutput:\n[[0,1],\n [0,0]]" in text
    assert text.endswith("Test input:\n[[0,0],\n [1,0]]")
    with pytest.raises(ValueError):
        A.validate_input(Problem(id="x", input="not a task"))
    with pytest.raises(ValueError):
        A.validate_input(Problem(id="x", input={"train": [], "test_input": [[[1], [2, 3]]]}))


def test_arc_shared_data_targets_score_themselves(shared_data, arun):
    for name in ["arc_training100.jsonl", "arc_evaluation100.jsonl"]:
        for prob in A.load(shared_data(name)).problems:
            t = prob.target
            reply = "Answer: " + json.dumps(t[0] if len(t) == 1 else t)
            assert arun(A.score(prob, A.extract(reply))) == 1.0, prob.id
            assert A.render(prob)


def test_drop_normalisation_follows_the_official_metric():
    assert normalize_answer("The  British!") == "british"
    assert normalize_answer("2.0") == "2.0" and normalize_answer("2") == "2.0"
    assert drop_f1("Pakistani and Filipino", "Pakistanis and Filipinos") == pytest.approx(1 / 3)
    assert drop_f1(["a", "b"], ["b", "a"]) == 1.0
    assert drop_f1(["x"], ["x", "y"]) == 0.5
    # A gold number must appear in the prediction, whatever the other words.
    assert drop_f1("51 yards", "50 yards") == 0.0


@pytest.mark.parametrize("answer,targets,score", [
    ("Pakistani and Filipino", ["Pakistanis and Filipinos", "Pakistani and Filipino"], 1.0),
    ("the British", ["truce called", "War of Independence", "British"], 1.0),
    ("50.60", ["50.6"], 1.0),
    ("19 years", ["19"], 2 / 3),
    ("", ["19"], 0.0),
    (None, ["19"], 0.0),
    ("Ünïcødé names", ["Ünïcødé"], 2 / 3),
])
def test_drop_scores_are_fractions(arun, answer, targets, score):
    got = arun(D.score(Problem(id="d", input="P", target=targets), answer))
    assert got == pytest.approx(score) and 0.0 <= got <= 1.0


def test_drop_extract():
    assert D.extract("reasoning...\nAnswer: 1995") == "1995"
    assert D.extract("just the span") == "just the span"
    assert D.extract("") is None


def test_drop_shared_data_targets_score_one(shared_data, arun):
    problems = D.load(shared_data("drop_dev800.jsonl")).problems
    assert len(problems) == 800
    assert all(arun(D.score(p, D.extract("Answer: " + p.target[0]))) == 1.0 for p in problems)
