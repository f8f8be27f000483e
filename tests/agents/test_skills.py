"""Verified skills end to end: capture from a passing attempt's snippet, tests on generated
problems, repair with the model's help, promotion, use through `from skills import ...`,
demotion, and bad skill code contained by the real sandbox. Real components throughout: the
SQLite store, the snippet sandbox, the Game of 24 checker, the LLM client against the scripted
server."""
import asyncio

import pytest

from crib.agents.domains.game24 import Game24
from crib.agents.library import load_agent
from crib.agents.llm import LLM, ModelSettings
from crib.agents.loop import LoopPolicy, SolveContext, solve_problem
from crib.agents.memory_hook import MemoryHook
from crib.agents.problems import Problem
from crib.agents.skill_lift import lift_script, only_definitions, problem_numbers
from crib.agents.skills import SkillLoop
from crib.memory.skills import skill_records, trials, uses_skill
from crib.memory.store import MemoryStore
from crib.sandbox import Limits
from crib.storage import open_database

# What a model's program-of-thought snippet looks like: this puzzle's numbers written in.
SOLVER = '''from fractions import Fraction
from itertools import permutations, product

nums = [4, 5, 6, 10]


def search(items):
    if len(items) == 1:
        return items[0][1] if items[0][0] == 24 else None
    for i, j in permutations(range(len(items)), 2):
        (a, ea), (b, eb) = items[i], items[j]
        rest = [items[k] for k in range(len(items)) if k not in (i, j)]
        options = [(a + b, f"({ea} + {eb})"), (a - b, f"({ea} - {eb})"), (a * b, f"({ea} * {eb})")]
        if b != 0:
            options.append((a / b, f"({ea} / {eb})"))
        for value, expr in options:
            found = search(rest + [(value, expr)])
            if found:
                return found
    return None


print("Answer:", search([(Fraction(n), str(n)) for n in nums]))
'''
ONE_OFF = 'nums = [4, 5, 6, 10]\nprint("Answer: 4 * 5 - (6 - 10)")\n'
# A general function, as a repair reply would hold it.
REPAIRED = "```python\ndef solve_game24(numbers):\n    \"\"\"Make 24 from `numbers`.\"\"\"\n"
REPAIRED += "\n".join(
    "    " + line for line in SOLVER.replace("nums = [4, 5, 6, 10]", "nums = list(numbers)")
    .replace('print("Answer:", ', "return 'Answer: ' + str(").splitlines()) + "\n```"

POT = '''"""Write a program and run it."""


def forward(task):
    reply = llm(task)
    code = reply.split("```python\\n", 1)[1].split("```", 1)[0]
    return run_python(code, timeout=20)["stdout"]
'''


@pytest.fixture
def engine(tmp_path):
    eng = open_database(f"sqlite:///{tmp_path}/t.db")
    yield eng
    eng.dispose()


@pytest.fixture
def llm(engine, scripted_server):
    s = ModelSettings(model="scripted-model", base_url=scripted_server.url, temperature=0.0,
                      max_tokens=512, max_retries=0, timeout_s=30)
    return LLM(engine, {"solver": s, "judge": s, "curator": s}, cache="off")


def make_loop(engine, sandbox, llm, **kw) -> SkillLoop:
    kw = {"k": 5, "m": 4, **kw}  # fewer tests than the default 14 of 20: the same rules
    return SkillLoop(MemoryStore(engine), "game24", Game24(), sandbox,
                     complete=llm.completer("curator", run_id="run1"), run_id="run1", **kw)


def solve_with_skills(engine, sandbox, llm, skill_loop, problem, mode="empty", loop="single"):
    hook = MemoryHook(skill_loop.store, mode=mode, scope="game24", run_id="run1", llm=llm)
    hook.skills = skill_loop
    ctx = SolveContext(llm=llm, sandbox=sandbox, run_id="run1", memory=hook,
                       limits=Limits(timeout_s=60))
    spec = load_agent({"name": "pot", "code": POT})
    return asyncio.run(solve_problem(problem, Game24(), spec, ctx, LoopPolicy(kind=loop, k=3)))


def events(store, entry_id):
    return [(e.action, e.state["status"]) for e in store.history("game24", entry_id)]


def test_lifting_turns_the_problems_numbers_into_a_parameter():
    code, params = lift_script(SOLVER, "4 5 6 10", "solve_game24", "game24", "problem p1")
    assert params == ["numbers"]
    assert "[4, 5, 6, 10]" not in code.split('"""')[2]  # only the docstring's example keeps them
    assert "nums = list(_numbers_in)" in code and code.startswith("def solve_game24(numbers):")
    assert problem_numbers("14 ? 16 ? 20 = 2.5") == [14, 16, 20, 2.5]
    # a target compared against, as the 1.5B model wrote it for "1 ? 6 ? 7 ? 5 ? 14 = -495"
    code, _ = lift_script("nums = [1, 6, 7, 5, 14]\nif sum(nums) == -495:\n    print(nums)\n",
                          "1 ? 6 ? 7 ? 5 ? 14 = -495", "f", "eq")
    assert "-495" not in code.split('"""')[2] and "== _numbers_in[-1]" in code
    # ... and passed as an argument, as it wrote it for "4 ? 20 ? 2 ? 1 = -19"
    code, _ = lift_script("def balance(nums, target):\n    return target\n"
                          "print(balance([4, 20, 2, 1], -19))\nprint(round(2.5, ndigits=-19))\n",
                          "4 ? 20 ? 2 ? 1 = -19", "f", "eq")
    assert "-19" not in code.split('"""')[2]
    assert "balance(list(_numbers_in[:-1]), _numbers_in[-1])" in code
    assert "ndigits=_numbers_in[-1]" in code


def test_a_use_of_a_skill_is_a_call_of_it_not_an_import_or_a_function_of_its_name():
    call = "from skills import f\nprint(f([1, 2]))\n"
    assert uses_skill(call, "f") and uses_skill("import skills\nskills.f(3)", "f")
    assert not uses_skill("from skills import f\n\ndef g(x):\n    return x\nprint(g(1))", "f")
    assert not uses_skill("from skills import f\n\ndef f(x):\n    return 1\nprint(f(2))", "f")
    assert not uses_skill("print(ff([1]))  # skills", "f")


def test_a_repairs_test_calls_are_dropped_so_importing_the_skill_prints_nothing():
    repaired = ('import math\n\ndef f(x):\n    """Doc."""\n    return x\n\n# Test cases\n'
                'print(f(3))\nif __name__ == "__main__":\n    f(1)\n')
    assert only_definitions(repaired) == 'import math\n\ndef f(x):\n    """Doc."""\n    return x\n'
    clean = 'def f(x):\n    """Doc."""\n    return x  # as written\n'
    assert only_definitions(clean) == clean


def test_a_verified_snippet_becomes_a_promoted_skill_that_later_problems_import(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm)
    scripted_server.script(lambda body: f"```python\n{SOLVER}```")
    out = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="4 5 6 10"))
    assert out.passed is True
    [skill] = [e for e in loop.store.entries("game24") if e.kind == "skill"]
    assert (skill.title, skill.status) == ("solve_game24(numbers)", "active")
    assert skill.provenance.problem_id == "p1" and skill.provenance.source == "capture"
    assert events(loop.store, skill.id) == [("add", "quarantined"), ("promote", "active")]
    record = skill_records(engine, [skill])[skill.id]
    assert (record.tests_passed, record.tests) == (5, 5)
    sheet = loop.store.render("game24", "1 2 3 4")
    assert "from skills import solve_game24" in sheet.text and "passed 5 of 5 tests" in sheet.text
    assert "nums = " not in sheet.text  # the prompt lists the skill, the sandbox holds its code

    use = "```python\nfrom skills import solve_game24\nprint(solve_game24([1, 2, 3, 4]))\n```"
    scripted_server.script(lambda body: use)
    out = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p2", input="1 2 3 4"),
                            mode="dc-cu")  # the sheet, with the skill listed, reaches the solver
    assert out.passed is True, out
    system, user = scripted_server.chat_requests[-2].body["messages"][:2]
    assert sheet.text.strip() in system["content"]  # the part that stays the same: first
    # called on this problem's own numbers, at the end of the problem's message
    call = "```python\nfrom skills import solve_game24\nprint(solve_game24([1, 2, 3, 4]))\n```"
    assert call not in system["content"] and user["content"].endswith(call)
    record = skill_records(engine, [loop.store.get(skill.id)])[skill.id]
    assert (record.uses, record.uses_passed) == (1, 1)
    shown = loop.store.get(skill.id)  # it was in the solver's prompt: its counters moved
    assert (shown.used, shown.helped, shown.hurt) == (1, 1, 0)
    # a use, not new code
    assert len([e for e in loop.store.entries("game24") if e.kind == "skill"]) == 1


def test_a_skill_that_fails_its_tests_is_repaired_by_the_model_then_promoted(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm)
    replies = iter([f"```python\n{ONE_OFF}```", REPAIRED])
    scripted_server.script(lambda body: next(replies))
    out = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="4 5 6 10"))
    assert out.passed is True
    [skill] = [e for e in loop.store.entries("game24") if e.kind == "skill"]
    assert events(loop.store, skill.id) == [("add", "quarantined"), ("repair", "quarantined"),
                                            ("promote", "active")]
    repair_prompt = scripted_server.chat_requests[-1].body["messages"][-1]["content"]
    assert "Failing cases" in repair_prompt and "def solve_game24(numbers)" in repair_prompt
    tests = [t for t in trials(engine, skill.id) if t["trial"] == "test"]
    # 4 of 5 was out of reach after 2 failures; testing stopped at the third, enough cases for
    # the repair prompt.
    assert [t["version"] for t in tests] == [1] * 3 + [2] * 5
    assert not any(t["passed"] for t in tests[:3]) and all(t["passed"] for t in tests[3:])
    # rollback to before the promotion: the skill is a candidate again, with its first code
    store = loop.store
    store.rollback("game24", 1)
    assert store.get(skill.id).status == "quarantined" and "6 - 10" in store.get(skill.id).body
    assert loop.sources() == {}


def test_a_skill_that_cannot_be_repaired_is_archived_with_the_reason(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm, repairs=1)
    replies = iter([f"```python\n{ONE_OFF}```", "I cannot fix it."])
    scripted_server.script(lambda body: next(replies))
    solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="4 5 6 10"))
    [skill] = [e for e in loop.store.entries("game24") if e.kind == "skill"]
    assert skill.status == "archived"
    [*_, last] = loop.store.history("game24", skill.id)
    assert last.action == "archive" and "after 1 repair request(s)" in last.reason


def test_an_unusable_repair_spends_its_round_and_the_next_sampled_one_is_tried(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm, repairs=2)
    replies = iter([f"```python\n{ONE_OFF}```", "I cannot fix it.", REPAIRED])
    scripted_server.script(lambda body: next(replies))
    solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="4 5 6 10"))
    [skill] = [e for e in loop.store.entries("game24") if e.kind == "skill"]
    assert events(loop.store, skill.id) == [("add", "quarantined"), ("repair", "quarantined"),
                                            ("promote", "active")]
    repairs = [r.body for r in scripted_server.chat_requests[1:]]
    assert len(repairs) == 2 and all(b["temperature"] == 0.7 for b in repairs)  # the role: 0



def test_a_repair_is_kept_only_when_it_passes_more_tests_than_what_it_repairs(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm, repairs=2)
    still_one_off = ONE_OFF.replace("6 - 10", "(6 - 10)")  # different code, no better
    replies = iter([f"```python\n{ONE_OFF}```", f"```python\n{still_one_off}```", REPAIRED])
    scripted_server.script(lambda body: next(replies))
    solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="4 5 6 10"))
    [skill] = [e for e in loop.store.entries("game24") if e.kind == "skill"]
    assert events(loop.store, skill.id) == [("add", "quarantined"), ("repair", "quarantined"),
                                            ("promote", "active")]
    [*_, promoted] = loop.store.history("game24", skill.id)
    repair = loop.store.history("game24", skill.id)[-2]
    assert "the fix passes 5" in repair.reason and promoted.action == "promote"
    tests = [t for t in trials(engine, skill.id) if t["trial"] == "test"]
    assert [t["version"] for t in tests] == [1] * 3 + [2] * 5  # the worse fix: no version
    assert len(scripted_server.chat_requests) == 3  # the solve, then both repairs


@pytest.mark.parametrize("said", ["Answer: None", "No solution found."])
def test_a_skill_that_finds_nothing_is_described_so_and_the_repair_asks_why_first(
        engine, sandbox, llm, scripted_server, said):
    loop = make_loop(engine, sandbox, llm, repairs=1)
    finds_nothing = f'def solve_game24(numbers):\n    """Make 24."""\n    return "{said}"\n'
    scripted_server.script(lambda body: "I cannot fix it.")
    entry = loop.store.add("game24", "solve_game24(numbers)", finds_nothing, kind="skill",
                           status="quarantined")
    asyncio.run(loop.test_and_promote(entry))
    prompt = scripted_server.chat_requests[-1].body["messages"][-1]["content"]
    assert prompt.count(f"returned {said!r}; it found no answer") == 3  # the cases shown
    assert "unexpected character" not in prompt  # the checker's words about the text "None"
    assert "why it fails" in prompt


HEAD = 'def solve_game24(numbers):\n    """A bad skill."""\n'
BAD = {
    "syntax": HEAD + "    return (\n",
    "loops": HEAD + "    while True:\n        pass\n",
    "floods": HEAD + "    return 'x' * (1 << 22)\n",
    "raises": HEAD + "    raise RuntimeError('no')\n",
}


def test_bad_skill_code_is_contained_by_the_sandbox_recorded_and_archived(engine, sandbox, llm):
    loop = make_loop(engine, sandbox, llm, k=2, test_timeout_s=2.0)
    seen = {}
    for why, code in BAD.items():
        entry = loop.store.add("game24", "solve_game24(numbers)", code, kind="skill",
                               status="quarantined")
        final = asyncio.run(loop.test_and_promote(entry, repairs=0))
        assert final.status == "archived", why
        details = [t["detail"] for t in trials(engine, entry.id)]
        assert len(details) == 2 and all(details), (why, details)
        seen[why] = details[0]
    assert "SyntaxError" in seen["syntax"]
    # The CPU limit defaults to the wall clock's (2 s): a busy loop on a quiet machine meets
    # either first, and each ends it.
    assert "timeout" in seen["loops"] or "CPU-time limit" in seen["loops"]
    assert "too large" in seen["floods"] and "RuntimeError: no" in seen["raises"]


def test_a_promoted_skill_whose_uses_keep_failing_is_demoted(engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm)
    scripted_server.script(lambda body: f"```python\n{SOLVER}```")
    solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="4 5 6 10"))
    [skill] = [e for e in loop.store.entries("game24") if e.kind == "skill"]
    misuse = "```python\nfrom skills import solve_game24\nprint(solve_game24([1, 1, 1, 1]))\n```"
    scripted_server.script(lambda body: misuse)
    for i, nums in enumerate(["1 2 3 4", "2 3 4 5", "3 4 5 6", "1 3 4 6"]):
        out = solve_with_skills(engine, sandbox, llm, loop, Problem(id=f"q{i}", input=nums))
        assert out.passed is False
    skill = loop.store.get(skill.id)
    assert skill.status == "archived"
    assert loop.store.history("game24", skill.id)[-1].action == "demote"
    assert loop.sources() == {}


GENERAL = REPAIRED.removeprefix("```python\n").removesuffix("\n```") + "\n"
DOC = '"""Make 24 from `numbers`."""\n'
# Right on most puzzles, wrong on 3 3 8 8 (a skill learned from too few cases looks like this).
GAPPY = GENERAL.replace(DOC, DOC + '    if sorted(numbers) == [3, 3, 8, 8]:\n'
                                   '        return "Answer: 3 * 8"\n')
USE = "```python\nfrom skills import solve_game24\nprint(solve_game24([3, 3, 8, 8]))\n```"


@pytest.mark.parametrize("fixed", [True, False])
def test_a_promoted_skill_that_fails_on_a_problem_is_refined_only_by_a_fix_that_works(
        engine, sandbox, llm, scripted_server, fixed):
    loop = make_loop(engine, sandbox, llm, refines=1, refine_samples=1)
    skill = loop.store.add("game24", "solve_game24(numbers)", GAPPY, kind="skill")
    still_gappy = GAPPY.replace("3 * 8", "8 * 3")  # a different body that fails the same way
    fix = f"```python\n{GENERAL if fixed else still_gappy}```"
    scripted_server.script(lambda body: fix if "Failing cases" in str(body["messages"]) else USE)
    out = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="3 3 8 8"))
    assert out.passed is False  # this attempt used the gap
    refine_prompt = scripted_server.chat_requests[-1].body["messages"][-1]["content"]
    assert "3 3 8 8" in refine_prompt and "Failing cases" in refine_prompt
    now = loop.store.get(skill.id)
    assert now.status == "active"
    if fixed:
        assert now.body == GENERAL and now.version == skill.version + 1
        [*_, last] = loop.store.history("game24", skill.id)
        assert last.action == "repair" and "refined after failing on problem p1" in last.reason
        tests = [t for t in trials(engine, skill.id) if t["version"] == now.version]
        assert len(tests) == 6 and all(t["passed"] for t in tests)  # the case and k = 5
    else:  # the fix does not solve the case: the skill stays as it was, nothing recorded
        assert now.body == GAPPY and now.version == skill.version
        assert [t["trial"] for t in trials(engine, skill.id)] == ["use"]
    again = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p2", input="3 3 8 8"))
    assert again.passed is fixed
    # fixed: nothing to refine; not fixed: its one refinement a run is spent
    assert len(scripted_server.chat_requests) == 3



def test_a_run_stops_refining_once_its_budget_of_samples_kept_no_fix(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm, refines=3, refine_samples=1, refine_budget=2)
    skill = loop.store.add("game24", "solve_game24(numbers)", GAPPY, kind="skill")
    useless = f"```python\n{GAPPY.replace('3 * 8', '8 * 3')}```"  # fails the same way
    scripted_server.script(
        lambda body: useless if "Failing cases" in str(body["messages"]) else USE)
    for i in range(3):
        out = solve_with_skills(engine, sandbox, llm, loop, Problem(id=f"p{i}", input="3 3 8 8"))
        assert out.passed is False
    asked = [r for r in scripted_server.chat_requests if "Failing cases" in str(r.body["messages"])]
    assert len(asked) == 2  # p0 and p1 spent the budget; p2's failure is not sent for a fix
    assert loop.store.get(skill.id).body == GAPPY


def test_a_refinement_shows_the_skills_earlier_failures_and_samples_until_a_fix_works(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm, refines=2, refine_samples=2, refine_budget=4)
    gaps = GENERAL.replace(DOC, DOC + "    if sorted(numbers) in ([3, 3, 8, 8], [1, 5, 5, 5]):\n"
                                      '        return "Answer: 3 * 8"\n')
    skill = loop.store.add("game24", "solve_game24(numbers)", gaps, kind="skill")
    fixes = iter(["I cannot fix it.", "I cannot fix it.",  # the refinement after p0
                  f"```python\n{gaps.replace('3 * 8', '8 * 3')}```",  # after p1: still a gap
                  f"```python\n{GENERAL}```"])  # the second sample works

    def model(body):
        text = str(body["messages"])
        if "Failing cases" in text:
            return next(fixes)
        return USE.replace("[3, 3, 8, 8]", "[1, 5, 5, 5]") if "1 5 5 5" in text else USE
    scripted_server.script(model)
    first = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p0", input="3 3 8 8"),
                              mode="skills")  # skills mode records the problems
    assert first.passed is False and loop.store.get(skill.id).body == gaps
    second = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="1 5 5 5"),
                               mode="skills")
    assert second.passed is False  # the attempt used the gap; the skill is fixed after it
    refinements = [r.body["messages"][-1]["content"] for r in scripted_server.chat_requests
                   if "Failing cases" in str(r.body["messages"])]
    assert len(refinements) == 4
    assert "1 5 5 5" in refinements[2] and "3 3 8 8" in refinements[2]  # p0 is shown again
    now = loop.store.get(skill.id)
    assert now.body == GENERAL and now.version == skill.version + 1
    [*_, last] = loop.store.history("game24", skill.id)
    assert "refined after failing on problem p1" in last.reason
    assert "skill solve_game24 refined after failing here" in second.notes


def test_after_a_skill_fails_the_retry_solves_from_scratch_and_is_learned_as_a_second_skill(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm)
    gappy = loop.store.add("game24", "solve_game24(numbers)", GAPPY, kind="skill")
    own = f"```python\n{SOLVER.replace('[4, 5, 6, 10]', '[3, 3, 8, 8]')}```"

    def model(body):
        text = str(body["messages"])
        if "Failing cases" in text:
            return "I cannot fix it."
        return USE if "from skills import solve_game24" in text else own
    scripted_server.script(model)
    out = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="3 3 8 8"),
                            mode="skills", loop="retry")
    assert out.passed is True and [a.passed for a in out.attempts] == [False, True]
    retry = scripted_server.chat_requests[1].body["messages"]
    assert "skills" not in str(retry)  # no sheet: the model is not pointed at the skill again
    assert "called skill solve_game24 in 1 attempt(s), 0 passed" in out.notes
    assert ("skill solve_game24 set aside after a failed call: later attempts without skills"
            in out.notes)
    skills = {e.title: e.status for e in loop.store.entries("game24") if e.kind == "skill"}
    assert skills == {gappy.title: "active", "solve_game24_2(numbers)": "active"}
    assert skill_records(engine, [gappy])[gappy.id].uses == 1


def test_a_retry_sets_aside_only_the_skill_that_failed_and_calls_the_other(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm, refines=0)
    gappy = loop.store.add("game24", "solve_game24(numbers)", GAPPY, kind="skill")
    other = loop.store.add("game24", "make_24(numbers)", GENERAL.replace(
        "def solve_game24(", "def make_24("), kind="skill")
    use_other = USE.replace("solve_game24", "make_24")

    def model(body):  # the first skill listed while it is there, else the other
        text = str(body["messages"])
        return USE if "from skills import solve_game24" in text else use_other
    scripted_server.script(model)
    out = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="3 3 8 8"),
                            mode="skills", loop="retry")
    assert out.passed is True and [a.passed for a in out.attempts] == [False, True]
    first, retry = (str(r.body["messages"]) for r in scripted_server.chat_requests[:2])
    assert "solve_game24" in first and "make_24" in first
    assert "solve_game24" not in retry and "make_24" in retry  # the sheet lists the other only
    # After the problem, the sheet's first skill (ties go by the random ids) in a program
    # that calls it on the problem's numbers, the other as a call; the sheet stays first.
    system, user = scripted_server.chat_requests[0].body["messages"][:2]
    assert system["role"] == "system" and "# Skills" in system["content"]
    assert "A tested skill from your memory" not in system["content"]
    problem, note = user["content"].split("A tested skill from your memory")
    assert "3 3 8 8" in problem and "[3, 3, 8, 8]" not in problem
    assert "solve_game24([3, 3, 8, 8])" in note and "make_24([3, 3, 8, 8])" in note
    assert out.attempts[1].memory_entry_ids == [other.id]
    assert "skill solve_game24 set aside after a failed call" in out.notes
    records = skill_records(engine, [gappy, other])
    assert (records[gappy.id].uses, records[other.id].uses) == (1, 1)


def test_a_retry_is_told_when_the_model_wrote_its_own_function_of_a_skills_name(
        engine, sandbox, llm, scripted_server):
    loop = make_loop(engine, sandbox, llm, refines=0)
    loop.store.add("game24", "solve_game24(numbers)", GENERAL, kind="skill")
    own = ('```python\nfrom skills import solve_game24\n\ndef solve_game24(numbers):\n'
           '    return "Answer: 3 * 8"\n\nprint(solve_game24([3, 3, 8, 8]))\n```')
    # the 1.5B model's way: it imports the skill, then writes its own of that name: a guess
    scripted_server.script(lambda body: USE if "hides the tested skill" in str(body) else own)
    out = solve_with_skills(engine, sandbox, llm, loop, Problem(id="p1", input="3 3 8 8"),
                            mode="skills", loop="retry")
    assert [a.passed for a in out.attempts] == [False, True]
    retry = str(scripted_server.chat_requests[1].body["messages"])
    assert "defined its own `solve_game24`" in retry and "from skills import solve_game24" in retry
    assert "set aside" not in " ".join(out.notes)  # it never called the skill: it stays
    [skill] = loop.store.entries("game24")  # and the rewrite's wrong answer is not its record
    record = skill_records(engine, [skill])[skill.id]
    assert (record.uses, record.uses_passed) == (1, 1)


def test_the_sandbox_skills_module_leaves_out_a_broken_skill_and_exists_only_when_sent(sandbox):
    sources = {"double": 'def double(x):\n    """Twice x."""\n    return 2 * x\n',
               "broken": "def broken(:\n"}
    code = "import skills\nfrom skills import double\nprint(double(21), sorted(skills.broken))"
    r = asyncio.run(sandbox.run(code, skills=sources))
    assert r.ok and r.stdout.strip() == "42 ['broken']", r
    r = asyncio.run(sandbox.run("import skills"))
    assert not r.ok and "No module named 'skills'" in r.error


EQUATION_SNIPPET = '''from fractions import Fraction
from itertools import product

numbers = [11, 19, 7]
target = 23
for ops in product("+-*/", repeat=len(numbers) - 1):
    expr = str(numbers[0]) + "".join(f" {o} {n}" for o, n in zip(ops, numbers[1:]))
    try:
        if eval(expr.replace("/", "*Fraction(1)/")) == target:
            print("Answer:", expr, "=", target)
            break
    except ZeroDivisionError:
        pass
'''


def test_an_equation_balancer_snippet_is_lifted_run_and_target_and_promoted(engine, sandbox):
    from crib.agents.domains.equation_balancer import EquationBalancer
    from crib.agents.loop import Attempt

    loop = SkillLoop(MemoryStore(engine), "eq", EquationBalancer(), sandbox, run_id="run1")
    attempt = Attempt(id="a", problem_id="e1", agent_name="pot", agent_hash="h", policy="single",
                      index=0)
    entry = asyncio.run(loop.capture(Problem(id="e1", input="11 ? 19 ? 7 = 23"),
                                     EQUATION_SNIPPET, attempt))
    assert entry.status == "active" and entry.title == "solve_equation_balancer(numbers)"
    tested = trials(engine, entry.id)  # the default: 14 of 20 to be promoted
    assert len(tested) == 20 and all(t["passed"] for t in tested)
    assert "promoted: passed 20 of 20 tests" in loop.store.history("eq", entry.id)[-1].reason
    # the script's own `numbers` cannot shadow the input it was lifted from
    assert "numbers = list(_numbers_in[:-1])" in entry.body
    assert "target = _numbers_in[-1]" in entry.body
