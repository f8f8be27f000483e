"""The building-block space without a model: configurations, compilation, near-duplicates,
designer moves, parent choice and the designer prompt's token budget."""
import pytest
from pydantic import ValidationError

from crib.meta_search.archive import Entry, Fitness
from crib.meta_search.blocks import (BlockConfig, Example, compile_agent, config_of, near_duplicate,
                                     seed_config)
from crib.meta_search.designer import (ChangeReply, CrossReply, Design, RewriteReply,
                                       apply_move, change_reply, changed_settings,
                                       Designer, open_changes, plan_move, sweep_of,
                                       sweep_values)
from crib.meta_search.designer_prompt import build_messages
from crib.meta_search.parents import Parent, select_parents
from crib.meta_search.skeletons import SKELETONS
from crib.meta_search.static_check import static_check
from crib.meta_search.strategies import approx_tokens
from tests.meta_search.helpers import agent


@pytest.mark.parametrize("name", sorted(SKELETONS))
def test_every_seed_skeleton_compiles_to_checked_code_that_carries_its_config(name):
    config = seed_config(name)
    code = compile_agent(config, "an idea")
    assert static_check(code).ok, static_check(code).reason
    assert "def forward(task):" in code and code.startswith('"""an idea')
    assert config_of(code) == config
    assert set(config.instructions) == set(SKELETONS[name].slots)


def test_code_that_is_not_compiled_has_no_config():
    assert config_of(agent(50)) is None
    assert config_of("CONFIG = {'skeleton': 'nope'}\ndef forward(task):\n    return 1\n") is None
    assert config_of("def forward(:") is None


def test_config_validation_names_what_is_wrong():
    with pytest.raises(ValidationError, match="unknown skeleton 'tree'"):
        BlockConfig(skeleton="tree")
    with pytest.raises(ValidationError, match="no instruction slot judge"):
        BlockConfig(skeleton="cot", instructions={"judge": "x"})
    with pytest.raises(ValidationError, match="'solve' is empty"):
        BlockConfig(skeleton="cot", instructions={"solve": "  "})
    with pytest.raises(ValidationError, match="less than or equal to 1.5"):
        BlockConfig(skeleton="cot", temperature=3)
    filled = BlockConfig(skeleton="self-refine", instructions={"solve": "Be careful."})
    assert filled.instructions["solve"] == "Be careful."
    assert filled.instructions["critique"] == SKELETONS["self-refine"].slots["critique"]


def test_near_duplicates_are_told_apart_from_real_edits():
    base = seed_config("cot")
    archived = [(7, "cot", base)]
    same = base.model_copy(update={"instructions": {
        "solve": "  think step by step,   then give the ANSWER. "}})
    assert near_duplicate(same, archived) == (7, "cot")
    rewritten = base.model_copy(update={"instructions": {
        "solve": "List every candidate, check each against the task, then answer."}})
    assert near_duplicate(rewritten, archived) is None
    assert near_duplicate(base.model_copy(update={"loop": "retry"}), archived) is None
    # A parameter the skeleton does not read changes nothing.
    assert near_duplicate(base.model_copy(update={"samples": 4}), archived) == (7, "cot")


def _parent(entry_id, config, fitness, name="p"):
    entry = Entry(id=entry_id, run_id="r", generation=0, slot=entry_id, origin="seed",
                  name=name, thought="", code=compile_agent(config), code_hash=str(entry_id),
                  parents=[], status="evaluated", stage="validation", reason=None,
                  duplicate_of=None, debug_rounds=0, history=[], cost_usd=0.0, tokens=0,
                  fitness={"validation": Fitness(split="validation", median=fitness,
                                                 mean=fitness, ci_low=0, ci_high=1, n=8,
                                                 seed=0, n_resamples=100)})
    return Parent(entry, config, fitness)


def test_moves_make_the_child_they_describe():
    a = _parent(1, seed_config("cot"), 0.5)
    b = _parent(2, seed_config("cot-sc"), 0.4)
    child = apply_move("rewrite", RewriteReply(diagnosis="d", instruction="New text."), [a],
                       "solve")
    assert child.instructions["solve"] == "New text." and child.skeleton == "cot"
    child = apply_move("change", ChangeReply(why="w", value="Retry"), [a], "loop")
    assert child.loop == "retry"
    child = apply_move("change", ChangeReply(why="w", value="debate"), [a], "skeleton")
    assert child.skeleton == "debate" and child.samples == 3 and child.temperature == 0.5
    with pytest.raises(ValueError, match="samples must be a number"):
        apply_move("change", ChangeReply(why="w", value="many"), [a], "samples")
    with pytest.raises(ValidationError):
        apply_move("change", ChangeReply(why="w", value="9"), [a], "rounds")
    a2 = _parent(1, a.config.model_copy(update={"instructions": {"solve": "Mine."}}), 0.5)
    child = apply_move("cross", CrossReply(why="w", skeleton_from="B", instructions_from="A",
                                           settings_from="B"), [a2, b], None)
    assert child.skeleton == "cot-sc" and child.instructions["solve"] == "Mine."
    assert child.samples == 5 and child.temperature == 0.8
    with pytest.raises(ValueError, match="at least one part from each parent"):
        apply_move("cross", CrossReply(why="w", skeleton_from="A", instructions_from="A",
                                       settings_from="A"), [a2, b], None)


def test_a_reply_of_another_move_or_a_rewrite_without_slot_is_a_bug_not_a_rejection():
    """The design loop records ValueError/ValidationError as the model's fault: a reply of the
    wrong schema, a rewrite without its slot or compiling an unusable design must not pass as
    one."""
    a = _parent(1, seed_config("cot"), 0.5)
    rewrite = RewriteReply(diagnosis="d", instruction="New text.")
    with pytest.raises(TypeError, match="a change move takes a ChangeReply, not RewriteReply"):
        apply_move("change", rewrite, [a], "loop")
    with pytest.raises(TypeError, match="needs the instruction slot"):
        apply_move("rewrite", rewrite, [a], None)
    with pytest.raises(TypeError, match="needs the setting it changes"):
        apply_move("change", ChangeReply(why="w", value="retry"), [a], None)
    with pytest.raises(ValueError, match="no configuration to compile"):
        Design(move="rewrite", slot="solve", parents=[a]).code()


def test_a_change_sets_each_setting_of_a_parent_before_any_twice():
    pot = seed_config("program-of-thought")
    a = _parent(1, pot, 0.1)
    other = apply_move("change", ChangeReply(why="w", value="cot"), [a], "skeleton")
    warmer = pot.model_copy(update={"temperature": 1.0})
    assert other.rounds != pot.rounds  # the new skeleton's own, yet only the skeleton changed
    assert changed_settings(pot, [other]) == {"skeleton"}
    assert changed_settings(pot, [other, warmer, pot]) == {"skeleton", "temperature"}
    changes = {"loop": ["retry"], "skeleton": ["cot"], "temperature": ["0"]}
    drawn = {plan_move(g, [a], moves=["change"], changes=changes,
                       changed={"skeleton", "temperature"}) for g in range(1, 30)}
    assert drawn == {("change", "loop")}
    # Once every setting has been changed, any may be again.
    assert {plan_move(g, [a], moves=["change"], changes=changes, changed=set(changes))[1]
            for g in range(1, 30)} == set(changes)


def test_a_setting_whose_change_gained_is_swept_first():
    pot = seed_config("program-of-thought")
    origin = _parent(1, pot, 0.08, "program-of-thought")

    def child(entry_id, config, fitness, parent=origin):
        p = _parent(entry_id, config, fitness, f"g{entry_id}")
        return Parent(p.entry.model_copy(update={"origin": "designer",
                                                 "parents": [parent.entry.id]}), config, fitness)

    retry = child(2, pot.model_copy(update={"loop": "retry"}), 0.17)
    sweep = sweep_of(retry, [origin, retry])
    assert sweep.setting == "loop"
    assert sweep.why.startswith("Parent A's last edit set its loop to retry (it was single in "
                                "#1), and validation accuracy rose from 0.08 to 0.17")
    # No sweep without a gain, after a rewrite or a two-setting edit, from a seed, or when the
    # child's own parent is not among the scored candidates.
    assert sweep_of(child(3, retry.config, 0.08), [origin]) is None
    rewritten = pot.model_copy(update={"instructions": {**pot.instructions, "solve": "Think."}})
    assert sweep_of(child(4, rewritten, 0.5), [origin]) is None
    assert sweep_of(child(5, pot.model_copy(update={"loop": "retry", "temperature": 1.0}), 0.5),
                    [origin]) is None
    assert sweep_of(origin, [origin]) is None and sweep_of(retry, [retry]) is None

    # The fittest candidate with a sweep left comes first, whatever the tournament draws.
    archived = [(p.entry.id, p.entry.name, p.config) for p in (origin, retry)]
    pending_sweep = Designer(None, domain="game24").pending_sweep
    assert pending_sweep([origin, retry], archived) == (retry, sweep)
    best = child(6, pot.model_copy(update={"loop": "best-of-n"}), 0.2, parent=retry)
    archived.append((6, "g6", best.config))
    assert pending_sweep([origin, retry, best], archived) == (best, sweep_of(best, [retry]))
    # Once vote is tried too, neither has a loop value left: no sweep is pending.
    voted = child(7, pot.model_copy(update={"loop": "vote"}), 0.1, parent=retry)
    archived.append((7, "g7", voted.config))
    assert pending_sweep([origin, retry, best, voted], archived) is None

    # A choice sweeps through its other values; a number one step each way from where it is.
    assert sweep_values(retry.config, "loop", ["best-of-n", "vote"]) == ["best-of-n", "vote"]
    warm = pot.model_copy(update={"temperature": 0.8})
    assert sweep_values(warm, "temperature", ["0", "0.2", "1", "1.2"]) == ["1"]
    assert sweep_values(warm, "temperature", ["0", "0.5", "1"]) == ["0.5", "1"]
    assert sweep_values(pot.model_copy(update={"rounds": 4}), "rounds", ["0", "1", "3"]) == ["3"]

    # The swept setting replaces a drawn move, and is the setting of a given change move;
    # moves given without a change are kept.
    changes = {"loop": ["best-of-n"], "temperature": ["0"], "skeleton": ["cot"]}
    assert {plan_move(g, [retry, origin], changes=changes, sweep="loop")
            for g in range(1, 30)} == {("change", "loop")}
    assert {plan_move(g, [retry], moves=["change"], changes=changes, changed={"loop"},
                      sweep="loop") for g in range(1, 30)} == {("change", "loop")}
    assert plan_move(1, [retry], moves=["rewrite"], changes=changes, sweep="loop")[0] == \
        "rewrite"
    # A sweep with no value left is no sweep.
    assert {plan_move(g, [retry], moves=["change"], changes={"temperature": ["0"]},
                      sweep="loop") for g in range(1, 5)} == {("change", "temperature")}


def test_plan_cycles_given_moves_and_never_crosses_one_parent():
    a = _parent(1, seed_config("self-refine"), 0.5)
    b = _parent(2, seed_config("cot"), 0.5)
    assert [plan_move(g, [a, b], moves=["rewrite", "cross"])[0] for g in (1, 2, 3)] == \
        ["rewrite", "cross", "rewrite"]
    assert plan_move(2, [a], moves=["cross"])[0] == "rewrite"
    changes = {"loop": ["retry"], "rounds": ["3"]}
    drawn = {plan_move(g, [a, b], changes=changes)[0] for g in range(1, 60)}
    assert drawn == {"rewrite", "change", "cross"}
    assert {plan_move(g, [a, b])[0] for g in range(1, 60)} == {"rewrite", "cross"}
    assert plan_move(5, [a, b], changes=changes) == plan_move(5, [a, b], changes=changes)  # seeded
    assert plan_move(1, [a], moves=["rewrite"])[1] in SKELETONS["self-refine"].slots
    # A change sets one of the settings with values left; with none left it is a rewrite.
    assert {plan_move(g, [a], moves=["change"], changes=changes) for g in range(1, 30)} == \
        {("change", "loop"), ("change", "rounds")}
    assert plan_move(1, [a], moves=["change"], changes={})[0] == "rewrite"


def test_a_change_offers_only_values_that_make_a_new_configuration():
    """The 1.5B designer, free to name any setting and value, chose the current value, the seed
    it started from, or quoted the option list: the schema now lists only real changes."""
    cot, pot = seed_config("cot"), seed_config("program-of-thought")
    retried = cot.model_copy(update={"loop": "retry"})
    archived = [(1, "cot", cot), (2, "program-of-thought", pot), (3, "g1-change-cot", retried)]
    changes = open_changes(cot, archived)
    assert set(changes) == {"skeleton", "temperature", "loop"}  # cot reads no samples/rounds
    assert changes["loop"] == ["best-of-n", "vote"]  # not single (current), not retry (tried)
    assert "cot" not in changes["skeleton"] and "program-of-thought" not in changes["skeleton"]
    assert "debate" in changes["skeleton"] and "0.5" not in changes["temperature"]
    assert set(open_changes(pot, archived)) == {"skeleton", "temperature", "loop", "rounds"}
    assert open_changes(cot, archived, memory=True)["memory"] == ["prompt"]

    schema = change_reply(changes["loop"])
    assert schema.model_json_schema()["properties"]["value"]["enum"] == ["best-of-n", "vote"]
    assert isinstance(schema(why="w", value="vote"), ChangeReply)
    with pytest.raises(ValidationError):
        schema(why="w", value="retry")


def test_parents_by_tournament_with_a_diversity_term():
    pool = [_parent(1, seed_config("cot"), 0.6, "cot"),
            _parent(2, seed_config("cot").model_copy(update={"temperature": 0.0}), 0.6, "cot0"),
            _parent(3, seed_config("debate"), 0.55, "debate")]
    entries = [p.entry for p in pool]
    first = select_parents(entries, 2, generation=4, method="top-k")
    # Ties on fitness: the second parent is the one least like the first (another skeleton).
    assert [p.entry.id for p in first] == [1, 3]
    again = select_parents(entries, 2, generation=4)
    assert [p.entry.id for p in again] == \
        [p.entry.id for p in select_parents(entries, 2, generation=4)]
    assert len({p.entry.id for p in again}) == 2
    assert select_parents(entries, 2, generation=1, diversity=0.0)[0].fitness == 0.6


def test_the_designer_prompt_fits_its_token_budget():
    a = _parent(1, seed_config("self-refine"), 0.25)
    b = _parent(2, seed_config("program-of-thought"), 0.5)
    fail = {"task": "Use the numbers 1 2 3 4 to make 24. " * 20, "answer": "x" * 300,
            "feedback": "uses 5 twice " * 30}
    failures = {1: [fail] * 3, 2: [fail] * 3}
    lessons = "- a lesson that goes on\n" * 200
    wide = build_messages("cross", None, [a, b], failures, lessons, domain="game24",
                          description="make 24", answer_format="Answer: EXPR",
                          token_budget=100_000)
    text = wide[1]["content"]
    assert text.count("Its answer:") == 6 and "Design lessons" in text
    tight = build_messages("cross", None, [a, b], failures, lessons, domain="game24",
                           description="make 24", answer_format="Answer: EXPR",
                           token_budget=1500)
    text = tight[1]["content"]
    assert approx_tokens(tight[0]["content"] + text) <= 1500
    assert "Parent A" in text and "Parent B" in text and "skeleton_from" in text
    assert "Design lessons" not in text and text.count("Its answer:") >= 1
    rewrite = build_messages("rewrite", "critique", [a], failures, "", domain="game24",
                             description="", answer_format="", token_budget=2500,
                             previous="near-duplicate of #1 (cot)")
    assert "Current text: 'Check the answer above" in rewrite[1]["content"]
    assert "rejected: near-duplicate of #1" in rewrite[1]["content"]


def test_an_instruction_that_names_a_validation_problem_is_caught():
    from crib.meta_search.designer import quoted_problem

    shown = [{"task": "3 5 9 9", "answer": "(3 + 5) * (5 - 1)", "feedback": "uses 1"},
             {"task": "Natalia sold clips to 48 of her friends in April, and then she sold "
                      "half as many clips in May.", "answer": "1 + 1", "feedback": ""}]
    assert quoted_problem("Solve the problem of 3  5 9 9 carefully.", shown)
    assert quoted_problem("The correct expression is (3 + 5) * (5 - 1).", shown)
    assert quoted_problem("Natalia sold clips to 48 of her friends: add them.", shown)
    assert quoted_problem("Use the numbers 3, 5, 9, and 9 exactly once.", shown) == \
        "task's numbers '3 5 9 9'"
    assert quoted_problem("Check 3 5 9 and then 9 more.", shown) is not None
    assert quoted_problem("Use 3 and 5 first, then 9.", shown) is None
    assert quoted_problem("Use each number once and check 1 + 1 style slips.", shown) is None
    assert quoted_problem("Try every order and operator, then check the result.", shown) is None


def test_training_problems_stay_apart_from_validation_and_test():
    from crib.agents.domains import get_domain
    from crib.commands.search import search_splits
    from crib.meta_search.search import SearchConfig

    domain = get_domain("game24")
    config = SearchConfig(domain="game24", val_size=6, demos=20, val_seed=3)
    validation, test, train = search_splits(domain, config, {"test_size": 10})
    ids = [p.id for p in validation + test + train]
    assert (len(validation), len(test), len(train)) == (6, 10, 20) and len(set(ids)) == 36
    again = search_splits(domain, config, {"test_size": 10}, test_size=200)
    assert [p.id for p in again[2]] == [p.id for p in train]  # as the search drew it
    assert len(again[1]) == 200  # a larger test may reach training problems: `test` drops them
    assert search_splits(domain, config.model_copy(update={"demos": 0}), {"test_size": 10})[2] \
        == []


def test_examples_are_compiled_into_the_agent():
    examples = [Example(task="Use the numbers 1 2 3 4 to make 24.", solution="Answer: 1*2*3*4")]
    shown = seed_config("program-of-thought").model_copy(update={"examples": 1})
    code = compile_agent(shown, examples=examples)
    assert static_check(code).ok and config_of(code).examples == 1
    assert "EXAMPLES = [{'task': 'Use the numbers 1 2 3 4 to make 24.'," in code
    assert "EXAMPLES = []" in compile_agent(seed_config("program-of-thought"), examples=examples)
    with pytest.raises(ValueError, match="shows 1 examples; 0 given"):
        compile_agent(shown)
    with pytest.raises(ValidationError):
        BlockConfig(**{**shown.model_dump(), "examples": 4})  # at most MAX_EXAMPLES
    # A change offers how many to show only when the run has examples, up to their number.
    archived = [(1, "pot", seed_config("program-of-thought"))]
    assert "examples" not in open_changes(archived[0][2], archived)
    assert open_changes(archived[0][2], archived, examples=2)["examples"] == ["1", "2"]
    # Showing them comes first, once per parent: not when it shows some or a child tried.
    designer = Designer(None, domain="game24")
    designer.examples = examples * 2
    pot, changes = archived[0][2], open_changes(archived[0][2], archived, examples=2)
    assert designer.examples_first(pot, changes, set()).why.startswith(
        "This run has 2 solved examples")
    assert designer.examples_first(pot, changes, {"examples"}) is None
    assert designer.examples_first(shown, changes, set()) is None
    assert designer.examples_first(pot, {"loop": ["retry"]}, set()) is None


def test_a_training_problem_repeating_a_validation_one_under_another_id_is_left_out():
    from crib.agents.problems import Problem
    from crib.meta_search.splits import train_split

    class Domain:  # generated problems whose ids carry the seed, as equation-balancer's do
        name, can_generate = "toy", True

        def generate(self, n, seed=0):
            return [Problem(id=f"toy-{seed}-{i}", input=f"puzzle {i}") for i in range(n)]

    validation = Domain().generate(3)
    train = train_split(Domain(), 4, validation)
    assert [p.input for p in train] == ["puzzle 3", "puzzle 4", "puzzle 5", "puzzle 6"]
