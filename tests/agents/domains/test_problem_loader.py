"""The shared JSONL/CSV loader: good files, every kind of broken line, stop vs skip."""

from __future__ import annotations

import json

import pytest

from crib.agents.domains import get_domain
from crib.agents.problems import MAX_LISTED_ERRORS, DatasetLoadError, Problem, load_problems


def write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_loads_problems_with_targets_metadata_and_stable_ids(tmp_path):
    f = write(tmp_path / "set.jsonl",
              '{"id": "a", "input": "1+1?", "target": "2", "metadata": {"src": "x"}}\n'
              "\n"
              '{"input": {"k": 1}, "extra": 5}\n'
              '{"id": 7, "input": "q"}\n')
    result = load_problems(f)
    assert result.errors == []
    a, b, c = result.problems
    assert a == Problem(id="a", input="1+1?", target="2", metadata={"src": "x"})
    assert b.id == "set-3" and b.input == {"k": 1} and b.metadata == {"extra": 5}
    assert c.id == "7" and c.target is None
    # The same file gives the same ids again.
    assert [p.id for p in load_problems(f).problems] == ["a", "set-3", "7"]


def test_stop_lists_every_bad_line_with_file_and_line_before_any_work(tmp_path):
    f = write(tmp_path / "bad.jsonl",
              '{"id": "ok1", "input": "fine"}\n'
              '{"id": "x", "input": \n'           # 2: bad JSON
              '{"id": "y"}\n'                      # 3: no input
              '{"id": "z", "input": 42}\n'         # 4: wrong type
              '[1, 2]\n'                           # 5: not an object
              '{"id": "ok1", "input": "again"}\n'  # 6: duplicate id
              '{"id": "e", "input": "   "}\n'      # 7: empty input
              '{"id": [1], "input": "q"}\n')       # 8: bad id type
    with pytest.raises(DatasetLoadError) as info:
        load_problems(f)
    errors = info.value.errors
    assert [e.line for e in errors] == [2, 3, 4, 5, 6, 7, 8]
    assert all(e.file == str(f) for e in errors)
    text = str(info.value)
    assert f"{f}:2: bad JSON" in text
    assert f"{f}:3: missing input field 'input'" in text
    assert "must be a string or an object, got int" in text
    assert "duplicate id 'ok1' (first on line 1)" in text


def test_skip_keeps_good_lines_and_returns_errors(tmp_path):
    f = write(tmp_path / "mixed.jsonl", '{"input": "a"}\nnot json\n{"input": "b"}\n')
    result = load_problems(f, on_error="skip")
    assert [p.input for p in result.problems] == ["a", "b"]
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == [(2, "bad JSON")]


def test_error_listing_is_capped_but_counts_all(tmp_path):
    f = write(tmp_path / "many.jsonl", "{bad\n" * (MAX_LISTED_ERRORS + 5))
    with pytest.raises(DatasetLoadError) as info:
        load_problems(f)
    assert len(info.value.errors) == MAX_LISTED_ERRORS + 5
    assert "... and 5 more bad lines" in str(info.value)


def test_custom_fields_and_invalid_utf8(tmp_path):
    f = write(tmp_path / "c.jsonl", b'{"q": "x", "a": 1, "key": "k1"}\n{"q": "\xff"}\n')
    result = load_problems(f, input_field="q", target_field="a", id_field="key", on_error="skip")
    assert result.problems == [Problem(id="k1", input="x", target=1)]
    assert result.errors[0].line == 2 and "UTF-8" in result.errors[0].message


def test_csv_with_quoted_multiline_cells_and_bad_rows(tmp_path):
    f = write(tmp_path / "t.csv",
              'id,question,answer,note\n'
              '1,"two\nlines",5,hi\n'      # record on lines 2-3
              '2,short\n'                  # line 4: wrong cell count
              ',no id,,\n')                # line 5: id generated, empty target -> None
    result = load_problems(f, input_field="question", target_field="answer", on_error="skip")
    assert [(p.id, p.input, p.target) for p in result.problems] == [
        ("1", "two\nlines", "5"), ("t-5", "no id", None)]
    assert result.problems[0].metadata == {"note": "hi"}
    assert [(e.line, e.message) for e in result.errors] == [(4, "expected 4 cells, got 2")]


def test_csv_without_the_input_column_names_the_columns(tmp_path):
    f = write(tmp_path / "t.csv", "id,text\n1,a\n")
    with pytest.raises(DatasetLoadError, match="no column 'input' in the header .*id, text"):
        load_problems(f)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DatasetLoadError, match="cannot read"):
        load_problems(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetLoadError, match="unknown dataset format '.txt'"):
        load_problems(write(tmp_path / "x.txt", "hi"))


def test_domain_load_adds_domain_validation(tmp_path):
    f = write(tmp_path / "g.jsonl", '{"input": "4 5 6 10"}\n{"input": "4 5 six 10"}\n'
                                    '{"input": "1 2 3"}\n')
    result = get_domain("game24").load(f, on_error="skip")
    assert [p.input for p in result.problems] == ["4 5 6 10"]
    assert [e.line for e in result.errors] == [2, 3]
    assert "four" in result.errors[1].message


def test_all_shared_data_files_load_cleanly_with_their_domains(shared_data):
    for name, domain in [("game24_dc100.jsonl", "game24"),
                         ("equation_balancer.jsonl", "equation-balancer"),
                         ("gsm8k_test.jsonl", "math-numeric"), ("aime_2024.jsonl", "math-numeric"),
                         ("mmlu_pro_physics.jsonl", "multiple-choice"),
                         ("drop_dev800.jsonl", "drop"), ("arc_training100.jsonl", "arc"),
                         ("arc_evaluation100.jsonl", "arc")]:
        path = shared_data(name)
        result = get_domain(domain).load(path)
        n_lines = sum(1 for line in path.read_text().splitlines() if line.strip())
        assert len(result.problems) == n_lines and not result.errors, name
        first = json.loads(path.read_text().splitlines()[0])
        assert result.problems[0].id == first["id"]


def test_a_file_level_error_is_not_called_a_bad_line(tmp_path):
    path = tmp_path / "puzzles.txt"
    path.write_text("4 4 6 8\n")
    with pytest.raises(DatasetLoadError) as info:
        load_problems(path)
    assert str(info.value) == f"{path}: unknown dataset format '.txt'; use .jsonl or .csv"


def test_a_huge_line_is_quoted_short(tmp_path):
    """The message may quote the input: a 20 MB line must not be echoed whole."""
    path = tmp_path / "big.jsonl"
    path.write_text('{"input": "' + "x" * 1_000_000 + '"}\n')

    def validate(problem):
        raise ValueError(f"cannot use {problem.input!r}")

    with pytest.raises(DatasetLoadError) as info:
        load_problems(path, validate=validate)
    assert all(len(e.message) < 400 for e in info.value.errors)
    assert "more characters" in str(info.value) and len(str(info.value)) < 2_000
