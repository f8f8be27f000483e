"""The building-block search end to end: real SQLite, the real sandbox, the scripted server
playing the designer (a truncated reply recovered, a near-duplicate rejected, a reflective
rewrite applied and compiled, a cross, a change outside the offered values refused, then one
inside) and the solver; then the CLI: `crib search
--space blocks`, `crib search test` against the best seed, `crib archive export` and the
exported agent solving through `crib solve`."""
import ast
import asyncio
import hashlib
import json
import math
import re

import pytest

from crib.agents.domains.game24 import solve as solve24
from crib.meta_search.archive import Archive, Outcome
from crib.meta_search.blocks import config_of, seed_config
from crib.meta_search.designer import plan_move
from crib.meta_search.designer_prompt import DESIGNER_MARK
from crib.meta_search.parents import candidates
from crib.meta_search.reports import best_seed, matched_baseline
from tests.crib.test_solve_cli import crib, crib_env
from tests.meta_search.helpers import run_search, search_config
from tests.scripted_server import Reply

sandbox = pytest.importorskip("crib.sandbox")

NUMBERS = re.compile(r"Use the numbers ([\d ]+?) to make 24")


def solver(text: str) -> str:
    """Right when a stable hash of (numbers, the `skill=NN` in the prompt) falls under NN:
    an instruction that carries a higher skill makes a better agent (30 without one)."""
    nums = NUMBERS.findall(text)
    if not nums:
        return "Answer: 0"
    numbers = [int(x) for x in nums[-1].split()]
    skills = re.findall(r"skill=(\d+)", text)
    level = int(skills[-1]) if skills else 30
    h = int(hashlib.sha256(f"{numbers}-{level}".encode()).hexdigest()[:8], 16) % 100
    return f"Answer: {solve24(numbers) if h < level else '1 + 1'}"


class Designer:
    """Designer replies per move kind, in order (the last one repeats); solver replies by
    `solver`. Keeps the designer prompts it saw."""

    def __init__(self, rewrite, change, cross):
        self.replies = {"rewrite": list(rewrite), "change": list(change), "cross": list(cross)}
        self.prompts: dict[str, list[str]] = {k: [] for k in self.replies}
        self.sampling: list[tuple] = []  # (temperature, seed) of each designer request

    def __call__(self, body):
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if DESIGNER_MARK not in text:
            return Reply(text=solver(text))
        self.sampling.append((body.get("temperature"), body.get("seed")))
        kind = ("rewrite" if '"diagnosis"' in text else
                "change" if CHANGE_ASKED.search(text) else "cross")
        seen = self.prompts[kind]
        seen.append(text)
        reply = self.replies[kind][min(len(seen), len(self.replies[kind])) - 1]
        return reply(text) if callable(reply) else reply


def rewrite(skill):
    return json.dumps({"diagnosis": "it guessed instead of checking",
                       "instruction": f"Try every order and operator and check it. skill={skill}"})


def same_text(prompt):
    """A rewrite that gives the current text back: a near-duplicate of the parent."""
    current = ast.literal_eval(re.search(r"Current text: (.*)\n", prompt).group(1))
    return json.dumps({"diagnosis": "it is fine", "instruction": current})


CHANGE_ASKED = re.compile(r"Change the (\w+) of parent A")


def change(prompt):
    """A change to one of the offered values: the retry loop when the loop is asked for."""
    offered = re.findall(r'^- "([^"]+)"', prompt, re.M)
    value = "retry" if "retry" in offered else offered[0]
    return json.dumps({"why": "use the checker", "value": value})


def current_value(prompt):
    """A change to the value the setting has now: not among those offered."""
    name = CHANGE_ASKED.search(prompt).group(1)
    line = re.search(r"Parent A: #\d+ \S+: \S+ \((.*)\); validation", prompt).group(1)
    current = dict(part.split(" ", 1) for part in line.split(", "))[name]
    return json.dumps({"why": "steadier", "value": current})
CROSS = json.dumps({"why": "vote on the better text", "skeleton_from": "B",
                    "instructions_from": "A", "settings_from": "B"})


def test_blocks_search_recovers_rejects_rewrites_and_reports(engine, scripted_server):
    truncated = Reply(text='{"diagnosis": "it guessed', finish_reason="length")
    script = Designer(rewrite=[truncated, same_text, rewrite(95)],
                      change=[current_value, change], cross=[CROSS])
    scripted_server.script(script)
    config = search_config(space="blocks", seeds=["cot", "cot-sc"], generations=3,
                           moves=["rewrite", "cross", "change"],
                           cascade={"minibatch": 4, "zero_is_failure": False})
    _, result = asyncio.run(run_search(engine, scripted_server.url, "b1", config))
    assert result.status == "done" and result.generations_done == 3
    archive = Archive(engine, "b1")
    by_gen = {e.generation: e for e in archive.entries() if e.generation > 0}
    seeds = [e for e in archive.entries() if e.generation == 0]
    assert sorted(e.name for e in seeds) == ["cot", "cot-sc"]
    assert all(config_of(e.code) is not None and e.status == "evaluated" for e in seeds)

    # Generation 1: a reply cut at max_tokens and one that repeats the parent's text (a
    # near-duplicate, rejected before any run), each recorded with its reason, then a
    # reflective rewrite that read the parent's failures and the checker's feedback, compiled.
    g1 = by_gen[1]
    [bad, dup] = [h for h in g1.history if h.get("reason")]
    assert bad["reason"].startswith("truncated reply (cut at max_tokens)")
    parent = next(e for e in seeds if e.id == g1.parents[0])
    assert dup["reason"].startswith(f"near-duplicate of #{parent.id} ({parent.name}, "
                                    "validation accuracy 0.")
    prompt = script.prompts["rewrite"][0]
    assert "Problems it failed" in prompt and "Its answer: 1 + 1" in prompt
    assert re.search(r"Checker: the expression uses 1.*exactly once", prompt)
    # and how the failed attempt got there, read from its transcript (GEPA reads traces)
    assert "How it got there, the end of its last reply: Answer: 1 + 1" in prompt
    assert "rejected: truncated reply" in script.prompts["rewrite"][1]
    assert "rejected: near-duplicate" in script.prompts["rewrite"][2]
    child = config_of(g1.code)
    assert g1.origin == "designer" and child.instructions["solve"].endswith("skill=95")
    assert g1.status in ("evaluated", "minibatch") and "rewrite of solve" in g1.thought
    assert g1.val.mean > max(e.val.mean for e in seeds)

    # Generation 2: a cross takes the skeleton of B (the other seed, the diverse parent) and
    # the rewritten text of A.
    g2 = by_gen[2]
    crossed = config_of(g2.code)
    assert g2.parents == [g1.id, seeds[1].id] and g2.name == "g2-cross-cot-sc"
    assert crossed.skeleton == "cot-sc" and crossed.instructions["solve"].endswith("skill=95")
    # Generation 3: Crib picked the setting (the loop) and offered only values that make a new
    # configuration; the current value is refused by the schema, the next reply sets the loop
    # policy, which evaluation then uses.
    g3 = by_gen[3]
    asked = script.prompts["change"][0]
    assert CHANGE_ASKED.search(asked).group(1) == "loop" and '- "single"' not in asked
    [refused] = [h for h in g3.history if h.get("reason")]
    assert refused["reason"].startswith("invalid reply") and "single" in refused["raw"]
    assert config_of(g3.code).loop == "retry" and g3.status in ("evaluated", "minibatch")
    assert "change of loop from" in g3.thought
    # Its prompt showed what had been tried from its parent (g1) and how it scored.
    assert g3.parents == [g1.id] and g2.parents[0] == g1.id
    assert "Edits already tried from it" not in script.prompts["rewrite"][0]
    tried = script.prompts["change"][0].split("Edits already tried from it")[1]
    assert re.match(r" \(try something different\):\n- skeleton cot-sc; .* -> validation "
                    r"accuracy \d\.\d\d\n", tried)

    rows = {r["generation"]: r for r in result.generations}
    assert [rows[g]["unusable_replies"] for g in (1, 2, 3)] == [2, 0, 1]
    assert all(rows[g]["proposals"] == 1 for g in (1, 2, 3))
    assert rows[1]["passed_smoke"] == 1 and rows[3]["best_validation"] >= g1.val.median
    assert all(rows[g]["tokens"] > 0 for g in (1, 2, 3))
    assert result.spend["by_role"]["meta"]["calls"] == 6
    # The designer samples, with a seed of its own per call: a greedy designer given the same
    # parents wrote the same reply every generation.
    assert {t for t, _ in script.sampling} == {0.8}
    assert len({seed for _, seed in script.sampling}) == len(script.sampling) == 6


def generic_designer(body):
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    if DESIGNER_MARK not in text:  # a rewritten instruction costs more: it thinks at length
        return Reply(text=solver(text), tokens_out=400 if "skill=" in text else None)
    if '"diagnosis"' in text:
        return rewrite(90)
    return change(text) if CHANGE_ASKED.search(text) else CROSS


def slow_solver(body):
    """generic_designer, with solver replies taking 0.2 s: calls in flight together overlap."""
    reply = generic_designer(body)
    if isinstance(reply, Reply):
        reply.delay_s = 0.2
    return reply


def test_cli_blocks_search_test_export_and_solve(scripted_server, tmp_path):
    scripted_server.script(slow_solver)
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["search", "--space", "blocks", "--domain", "game24", "--generations", "2",
              "--val-size", "6", "--test-size", "8", "--seeds", "cot", "--minibatch", "3",
              "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["status"] == "done" and len(result["generations"]) == 2
    run_id, best = result["run_id"], result["best"]
    assert best["name"] != "cot", "a rewrite with a higher skill should beat the seed"

    # The search had problems in flight together (its --concurrency, 4); its test need not.
    assert scripted_server.max_in_flight > 1
    scripted_server.max_in_flight = 0
    r = crib(["search", "test", run_id, "--top", "1", "--concurrency", "1", "--json"], env,
             tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert scripted_server.max_in_flight == 1
    [comparison] = [json.loads(line)["comparison"] for line in r.stdout.splitlines()
                    if line.startswith('{"comparison"')]
    assert comparison["n"] == 8 and comparison["seed"].endswith(" cot")
    assert comparison["selected"] == f"#{best['id']} {best['name']}"
    assert comparison["diff_low"] <= comparison["difference"] <= comparison["diff_high"]
    assert comparison["search_tokens"] > 0
    # The best seed given the selected agent's compute: best-of-n, n from the token ratio. The
    # scripted solver answers a prompt the same way every time, so sampling more solves
    # nothing new, and pays for every sample of a miss.
    matched, ratio = comparison["matched"], (comparison["selected_tokens_per_problem"]
                                             / comparison["seed_tokens_per_problem"])
    assert matched["samples"] == math.ceil(ratio) >= 2 and matched["n"] == 8
    assert matched["agent"].endswith(f" cot+best-of-{matched['samples']}")
    assert matched["accuracy"] == comparison["seed_accuracy"] < 1
    assert matched["tokens_per_problem"] > comparison["seed_tokens_per_problem"]
    assert matched["difference"] == pytest.approx(comparison["difference"])
    # Progress on stderr (not a terminal here: a line per problem scored), the baseline's too.
    for name in ("cot", best["name"], f"cot+best-of-{matched['samples']}"):
        shown = re.findall(rf"^test #\d+ {re.escape(name)}: (\d)/8, solved", r.stderr, re.M)
        assert shown == [str(k) for k in range(9)], (name, r.stderr[-2000:])

    r = crib(["search", "test", run_id, "--top", "1"], env, tmp_path)
    assert "vs best seed" in r.stdout and "Search spent" in r.stdout, r.stdout
    assert "given the same compute" in r.stdout, r.stdout
    r = crib(["archive", "list", run_id, "--json"], env, tmp_path)
    [baseline] = [e for e in map(json.loads, r.stdout.splitlines()) if e["origin"] == "baseline"]
    assert baseline["name"] == f"cot+best-of-{matched['samples']}"

    exported = tmp_path / "best.py"
    r = crib(["archive", "export", str(best["id"]), str(exported)], env, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert config_of(exported.read_text()) is not None
    r = crib(["solve", "--agent", str(exported), "--domain", "game24", "--limit", "4",
              "--seed", "5", "--memory", "none", "--json"], env, tmp_path)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["errors"] == 0 and summary["accuracy"] > 0


def test_default_space_follows_the_designer_model():
    from crib.commands.search import default_space
    from crib.config import CribConfig

    assert default_space(CribConfig()) == "blocks"  # the embedded local model
    remote = {"base_url": "http://example.invalid/v1"}
    assert default_space(CribConfig(llm={**remote, "model": "gpt-4o"})) == "code"
    assert default_space(CribConfig(llm={**remote, "model": "Qwen2.5-7B-Instruct"})) == "code"
    assert default_space(CribConfig(meta={**remote, "model": "llama-3.2-1b"})) == "blocks"


def test_blocks_search_stopped_by_budget_resumes_to_the_same_archive(engine, scripted_server,
                                                                     tmp_path):
    from crib.storage import open_database

    scripted_server.script(generic_designer)
    config = search_config(space="blocks", seeds=["cot", "step-back"], generations=3,
                           cascade={"minibatch": 4, "zero_is_failure": False})
    _, stopped = asyncio.run(run_search(engine, scripted_server.url, "br", config,
                                        llm_options={"budget_tokens": 2500}))
    assert stopped.status == "stopped" and "budget" in stopped.stop_reason
    _, done = asyncio.run(run_search(engine, scripted_server.url, "br", config))
    assert done.status == "done" and done.generations_done == 3
    clean = open_database(f"sqlite:///{tmp_path / 'clean.db'}")
    _, straight = asyncio.run(run_search(clean, scripted_server.url, "br", config))
    resumed = [(e.generation, e.name, e.status, e.code_hash, e.parents)
               for e in Archive(engine, "br").entries()]
    assert resumed == [(e.generation, e.name, e.status, e.code_hash, e.parents)
                       for e in Archive(clean, "br").entries()]
    assert [g for g, *_ in resumed] == [0, 0, 1, 2, 3]


def test_a_cross_that_repeats_a_parent_turns_into_a_rewrite(engine, scripted_server):
    same = json.dumps({"why": "keep A", "skeleton_from": "A", "instructions_from": "A",
                       "settings_from": "A"})
    script = Designer(rewrite=[rewrite(80)], change=[change], cross=[same])
    scripted_server.script(script)
    config = search_config(space="blocks", seeds=["cot", "step-back"], generations=1,
                           moves=["cross"], cascade={"minibatch": 4, "zero_is_failure": False})
    _, result = asyncio.run(run_search(engine, scripted_server.url, "bx", config))
    [g1] = [e for e in Archive(engine, "bx").entries() if e.generation == 1]
    [bad] = [h for h in g1.history if h.get("reason")]
    assert bad["move"] == "cross" and "at least one part from each parent" in bad["reason"]
    assert g1.name.startswith("g1-rewrite-") and len(g1.parents) == 1
    assert config_of(g1.code).instructions["solve"].endswith("skill=80")
    assert "rejected: impossible value: a cross" in script.prompts["rewrite"][0]


def test_a_search_resumed_after_its_test_does_not_run_the_baseline(engine, scripted_server):
    """`crib search --resume RUN --generations N` after `crib search test RUN`: the compute-
    matched baseline is in generation 0, but it is not a seed: never run on validation."""
    scripted_server.script(Designer(rewrite=[rewrite(95)], change=[change], cross=[CROSS]))
    config = search_config(space="blocks", seeds=["cot"], generations=1, moves=["rewrite"],
                           concurrency=2, cascade={"minibatch": 4, "zero_is_failure": False})
    asyncio.run(run_search(engine, scripted_server.url, "rb", config))
    archive = Archive(engine, "rb")
    chosen, seed = archive.best(), best_seed(archive)
    assert chosen.id != seed.id
    for entry, tokens in ((chosen, 300), (seed, 100)):
        for i in range(4):
            archive.record(entry.id, "test", i, Outcome(problem_id=f"t{i}", score=i % 2,
                                                        tokens_in=tokens, tokens_out=0))
    baseline, n = matched_baseline(archive, "test", "single")
    assert n == 3 and config_of(baseline.code).loop == "best-of-n"
    archive.set_entry(baseline.id, status="proposed")  # whatever its status: not a seed
    _, result = asyncio.run(run_search(engine, scripted_server.url, "rb",
                                       config.model_copy(update={"generations": 2})))
    assert result.generations_done == 2
    assert archive.evaluations(baseline.id, "validation") == {}
    assert [e.id for e in archive.entries() if e.generation == 2]


def warm_solver(body) -> str:
    """`solver` whose skill grows with the call's temperature: a warmer agent is better."""
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    return solver(f"{text} skill={20 + round(60 * (body.get('temperature') or 0))}")


def test_a_change_that_gains_is_swept_to_the_next_value(engine, scripted_server):
    """Generation 1 warms the seed and gains; generation 2 tries the value next to the new
    one (and only it), told why: a local sweep, not another setting."""
    script = Designer(rewrite=[rewrite(80)], change=[warmest], cross=[CROSS])
    scripted_server.script(lambda body: script(body) if DESIGNER_MARK in str(body["messages"])
                           else Reply(text=warm_solver(body)))
    settings = {"skeleton": ["x"], "temperature": ["x"], "loop": ["x"]}  # cot's, as open_changes
    seed = next(s for s in range(100)  # whose generation 1 changes the temperature
                if plan_move(1, [], s, ["change"], settings)[1] == "temperature")
    config = search_config(space="blocks", seeds=["cot"], generations=2, moves=["change"],
                           cascade={"minibatch": 4, "zero_is_failure": False, "seed": seed})
    asyncio.run(run_search(engine, scripted_server.url, "sw", config))
    entries = Archive(engine, "sw").entries()
    seed_entry, g1, g2 = sorted(entries, key=lambda e: e.generation)
    assert config_of(g1.code).temperature == 1.2 and g1.val.median > seed_entry.val.median
    assert not any(h.get("first") for h in g1.history)
    asked = script.prompts["change"][1]
    assert CHANGE_ASKED.search(asked).group(1) == "temperature"
    assert re.findall(r'^- "([^"]+)"', asked, re.M) == ["1"]  # 1.2 is the top: one step down
    assert (f"Parent A's last edit set its temperature to 1.2 (it was "
            f"{seed_config('cot').temperature} in #{seed_entry.id}), and validation accuracy "
            "rose from") in asked
    assert g2.parents == [g1.id] and config_of(g2.code).temperature == 1.0
    assert [h.get("first") for h in g2.history] == [True]


def warmest(prompt):
    """A change to the highest offered temperature (else the first value offered)."""
    offered = re.findall(r'^- "([^"]+)"', prompt, re.M)
    warmer = CHANGE_ASKED.search(prompt).group(1) == "temperature"
    return json.dumps({"why": "more varied",
                       "value": max(offered, key=float) if warmer else offered[0]})



def test_demonstrations_from_training_problems_shown_by_a_change(engine, scripted_server):
    """`--demos 12`: the best seed runs on 12 training problems, apart from validation; its
    checked replies become the examples a change may show, compiled into the agent's code,
    and a parent showing none is changed that way first. The scripted solver does better with
    examples in its prompt."""
    def script_body(body):
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if DESIGNER_MARK in text:
            return script(body)
        shown = "A solution, checked correct:" in text
        return Reply(text=solver(f"{text} skill=90" if shown else text))

    script = Designer(rewrite=[rewrite(80)], change=[change], cross=[CROSS])
    scripted_server.script(script_body)
    config = search_config(space="blocks", seeds=["cot"], generations=1, demos=12,
                           cascade={"minibatch": 4, "zero_is_failure": False})
    _, result = asyncio.run(run_search(engine, scripted_server.url, "dm", config))
    archive = Archive(engine, "dm")
    seed_entry, g1 = sorted(archive.entries(), key=lambda e: e.generation)
    trained = archive.evaluations(seed_entry.id, "train")
    solved = [pid for pid, o in trained.items() if o.score == 1.0]
    assert not set(trained) & set(archive.evaluations(seed_entry.id, "validation"))
    assert 1 <= result.demonstrations == min(len(solved), 3)
    # A batch (the concurrency, 4) at a time, until 3 are solved.
    assert len(trained) in (4, 8, 12) and (len(trained) == 12 or len(solved) >= 3)

    asked = script.prompts["change"][0]
    assert CHANGE_ASKED.search(asked).group(1) == "examples"
    assert f"This run has {result.demonstrations} solved examples" in asked
    assert [h.get("first") for h in g1.history] == [True]
    # Moves are drawn, and seed 0 draws a rewrite first: the examples came before it.
    assert plan_move(1, candidates([seed_entry]), 0, None, {"loop": ["retry"]})[0] == "rewrite"
    assert re.findall(r'^- "([^"]+)"', asked, re.M) == [
        str(k) for k in range(1, result.demonstrations + 1)]
    child = config_of(g1.code)
    assert child.examples == 1 and g1.val.median > seed_entry.val.median
    # The example is the first solved training problem, as the agent saw it, with its reply.
    first = next(pid for pid in trained if pid in solved)
    numbers = first.removeprefix("game24-").replace("-", " ")
    shown = re.search(r"^EXAMPLES = (\[.*?\])\n", g1.code, re.S | re.M).group(1)
    [example] = ast.literal_eval(shown)
    assert f"Use the numbers {numbers} to make 24" in example["task"]
    assert example["solution"].startswith("Answer: ")

    # Resumed after its transcripts were pruned, the run has no demonstrations left to compile
    # into a child of the agent that shows one: it stops with the reason, nothing is lost.
    from crib.agents.transcripts import TranscriptEventRow
    with engine.begin() as conn:
        conn.execute(TranscriptEventRow.__table__.delete())
    _, resumed = asyncio.run(run_search(engine, scripted_server.url, "dm",
                                        config.model_copy(update={"generations": 2})))
    assert resumed.status == "failed" and resumed.demonstrations == 0
    assert "1 examples; 0 given" in resumed.stop_reason and "crib runs gc" in resumed.stop_reason
    assert len(archive.entries()) == 2


def test_demonstrations_sampled_stop_once_there_are_enough(engine, scripted_server):
    """`--demo-samples 2`: each training problem gets best-of-2. A solver right only at its
    second try of a prompt yields no demonstration in one try and 3 with two; with enough,
    the rest of the training problems are not run."""
    from crib.agents.llm.client import derive_seed

    def second_try(body):
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        first = body.get("seed") == derive_seed(body["messages"], 0)
        return Reply(text="Answer: 1 + 1" if first else solver(f"{text} skill=100"))

    scripted_server.script(second_try)
    one = search_config(space="blocks", seeds=["cot"], generations=0, demos=12)
    _, result = asyncio.run(run_search(engine, scripted_server.url, "one-try", one))
    archive = Archive(engine, "one-try")
    trained = archive.evaluations(archive.entries()[0].id, "train")
    assert result.demonstrations == 0 and len(trained) == 12
    assert not any(o.score for o in trained.values())

    two = one.model_copy(update={"demo_samples": 2})
    _, result = asyncio.run(run_search(engine, scripted_server.url, "two-tries", two))
    archive = Archive(engine, "two-tries")
    trained = archive.evaluations(archive.entries()[0].id, "train")
    assert result.demonstrations == 3
    assert len(trained) == 4 and all(o.score == 1.0 and o.calls == 2 for o in trained.values())
