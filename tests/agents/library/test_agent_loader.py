"""Loading agents: seeds by name, files by path, ADAS dicts; code hashes; thoughts."""
import ast
import json

import pytest

from crib.agents.library import (AgentSpec, agent_names, code_hash, list_agents, load_agent,
                            normalise_code)

SEEDS = ["cot", "cot-sc", "self-refine", "debate", "step-back", "quality-diversity",
         "role-assignment", "program-of-thought", "think-and-execute", "dc-generator"]


def test_every_seed_is_listed_loadable_and_defines_only_forward():
    assert sorted(agent_names()) == sorted(SEEDS)
    specs = {s.name: s for s in list_agents()}
    assert sorted(specs) == sorted(SEEDS)
    for name in SEEDS:
        spec = load_agent(name)
        assert spec == specs[name]
        assert spec.thought and "\n" not in spec.thought
        assert spec.code_hash == code_hash(spec.code) and len(spec.code_hash) == 64
        tree = ast.parse(spec.code)  # parse only: seeds never run on the host
        top = [n for n in tree.body if not isinstance(n, ast.Expr)]
        assert [type(n) for n in top] == [ast.FunctionDef] and top[0].name == "forward", name
        params = [a.arg for a in top[0].args.args]
        assert params in (["self", "taskInfo"], ["task"]), name  # ADAS API or Crib's API
    apis = {len(ast.parse(s.code).body[-1].args.args) for s in specs.values()}
    assert apis == {1, 2}  # both APIs are exercised by the seeds


def test_names_accept_underscores_and_unknown_names_list_the_seeds():
    assert load_agent("cot_sc").name == "cot-sc"
    with pytest.raises(ValueError, match="seed agents: .*cot"):
        load_agent("no-such-agent")
    with pytest.raises(ValueError, match="unknown agent"):
        load_agent("__init__")


def test_load_from_path_and_json_and_adas_dict(tmp_path):
    code = '"""Answer at once.\n\nMore text."""\ndef forward(self, taskInfo):\n    return "42"\n'
    f = tmp_path / "my_agent.py"
    f.write_text(code)
    spec = load_agent(str(f))
    assert (spec.name, spec.thought, spec.source) == ("my-agent", "Answer at once.", str(f))
    adas = {"name": "Quick", "thought": "Just answer.", "code": code, "fitness": "50%"}
    from_dict = load_agent(adas)
    assert (from_dict.name, from_dict.thought, from_dict.source) == ("Quick", "Just answer.",
                                                                       "adas-dict")
    assert from_dict.code_hash == spec.code_hash
    j = tmp_path / "agent.json"
    j.write_text(json.dumps({**adas, "parents": ["cot"], "generation": 3}))
    from_json = load_agent(j)
    assert from_json.parents == ["cot"] and from_json.generation == 3
    with pytest.raises(ValueError, match="lacks"):
        load_agent({"name": "x"})
    with pytest.raises(ValueError, match="not found"):
        load_agent(str(tmp_path / "missing.py"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_agent(bad)


def test_code_hash_ignores_line_endings_and_trailing_space_only():
    a = "def forward(self, taskInfo):\n    return 1\n"
    b = "\n\r\ndef forward(self, taskInfo):   \r\n    return 1\r\n\n"
    assert normalise_code(a) == normalise_code(b)
    assert code_hash(a) == code_hash(b)
    assert code_hash(a) != code_hash(a.replace("1", "2"))
    assert AgentSpec(name="x", code=a).code_hash == code_hash(a)


def test_code_that_does_not_parse_still_loads_without_a_thought():
    spec = load_agent({"name": "broken", "code": "def forward(self, taskInfo)\n  oops"})
    assert spec.thought == "" and spec.code_hash
