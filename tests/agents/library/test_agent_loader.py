"""Loading agents: seeds by name, files by path, ADAS dicts; code hashes; thoughts."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from crib.agents.library import (AgentSpec, agent_api, agent_names, code_hash, library_files,
                                 list_agents, load_agent, normalise_code, program_of)

SEEDS = ["cot", "cot-sc", "self-refine", "debate", "step-back", "quality-diversity",
         "role-assignment", "program-of-thought", "think-and-execute", "dc-generator"]


def test_every_seed_is_listed_loadable_and_written_in_the_one_api():
    assert sorted(agent_names()) == sorted(SEEDS)
    specs = {s.name: s for s in list_agents()}
    assert sorted(specs) == sorted(SEEDS)
    for name in SEEDS:
        spec = load_agent(name)
        assert spec == specs[name]
        assert spec.thought and "\n" not in spec.thought
        assert spec.code_hash == code_hash(spec.code) and len(spec.code_hash) == 64
        tree = ast.parse(spec.code)  # parse only: seeds never run on the host
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert [d.name for d in defs] == ["forward"], name
        assert [a.arg for a in defs[0].args.args] == ["task"], name
        assert (spec.api, spec.program) == ("crib", spec.code), name
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        others = [n for n in tree.body if n not in defs + imports and not isinstance(n, ast.Expr)]
        assert not others, name  # a docstring, imports and forward: nothing else
        runtime = [n for n in imports if isinstance(n, ast.ImportFrom)
                   and n.module == "crib_runtime"]
        assert runtime, f"{name} imports nothing from the prelude"


def test_seed_files_lint_clean():
    """Every name a seed uses is imported (F821) and every import is used (F401)."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.is_file():
        pytest.skip("ruff is not installed in this venv (pip install 'crib[dev]')")
    files = [str(p) for p in library_files()]
    r = subprocess.run([str(ruff), "check", "--no-cache", "--select", "F,E,W", *files],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


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


def test_code_hash_is_the_syntax_tree_so_layout_and_comments_do_not_count():
    a = "def forward(task):\n    return 1\n"
    b = "\n\r\ndef forward(task):   \r\n    # a comment\r\n    return (1)\r\n\n"
    assert normalise_code(a) == normalise_code(a.replace("\n", "\r\n") + "\n\n")
    assert code_hash(a) == code_hash(b)
    assert code_hash(a) != code_hash(a.replace("1", "2"))
    assert code_hash(a) != code_hash('"""Doc."""\n' + a)  # a docstring is the agent's thought
    assert AgentSpec(name="x", code=a).code_hash == code_hash(a)


def test_one_code_hash_for_the_library_and_the_archive():
    from crib.meta_search import archive

    assert archive.code_hash is code_hash


ADAS_AGENT = '''"""Answer at once."""
def forward(self, taskInfo):
    agent = LLMAgentBase(["answer"], "Quick Agent")
    return agent([taskInfo], "Answer.")[0]
'''


def test_an_adas_agent_keeps_its_code_and_runs_adapted():
    spec = load_agent({"name": "quick", "code": ADAS_AGENT})
    assert spec.api == "adas" and spec.code == ADAS_AGENT
    assert spec.code_hash == code_hash(ADAS_AGENT)  # the agent's own code is its identity
    program = spec.program
    assert program.startswith(ADAS_AGENT.rstrip("\n") + "\n")  # same line numbers
    tail = ast.parse(program).body[-2:]
    assert ast.unparse(tail[0]) == (
        "from crib_adas import adapt_forward as _crib_adapt_forward")
    assert ast.unparse(tail[1]) == "forward = _crib_adapt_forward(forward)"
    assert agent_api("def forward(task):\n    return task\n") == "crib"
    assert agent_api("def forward(task, n=5):\n    return task\n") == "crib"
    assert agent_api("def forward(self, t, k=1):\n    return t\n") == "adas"
    assert agent_api("def forward(self, taskInfo)\n  oops") == "crib"  # the sandbox says why
    assert program_of("x = 1\n") == "x = 1\n"


def test_code_that_does_not_parse_still_loads_without_a_thought():
    spec = load_agent({"name": "broken", "code": "def forward(self, taskInfo)\n  oops"})
    assert spec.thought == "" and spec.code_hash
