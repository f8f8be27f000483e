"""`crib search --moves ... --parents ...`: the flags reach the blocks search, are stored with
the run's config, and a resume keeps them; a bad value is a one-line usage error (exit 2)."""
import itertools
import json
import os

import pytest

from crib.meta_search.archive import Archive
from crib.meta_search.designer_prompt import DESIGNER_MARK
from crib.meta_search.parents import select_parents
from crib.meta_search.search import load_config
from crib.storage import open_database
from tests.crib.test_solve_cli import crib, crib_env
from tests.meta_search.test_search_blocks import CHANGE_ASKED, generic_designer

pytest.importorskip("crib.sandbox")


class CountingDesigner:
    """generic_designer, counting the designer calls by move kind (the schema asked for)."""

    def __init__(self):
        self.kinds: list[str] = []

    def __call__(self, body):
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if DESIGNER_MARK not in text:
            return generic_designer(body)
        kind = ("rewrite" if '"diagnosis"' in text else
                "change" if CHANGE_ASKED.search(text) else "cross")
        self.kinds.append(kind)
        if kind != "cross":
            return generic_designer(body)
        # A different pick of parts each time, so a cross is not a near-duplicate of the last.
        combo = CROSSES[self.kinds.count("cross") % len(CROSSES)]
        return json.dumps({"why": "mix them", **dict(zip(PARTS, combo))})


PARTS = ("skeleton_from", "instructions_from", "settings_from")
CROSSES = [c for c in itertools.product("AB", repeat=3) if len(set(c)) == 2]


def planned_moves(archive: Archive) -> dict[int, str]:
    """The move each generation asked the designer for first (a cross the designer cannot make
    new is asked again as a rewrite: designer.py)."""
    return {e.generation: e.history[0]["move"] for e in archive.entries() if e.generation > 0}


def test_moves_and_parents_reach_the_search_and_survive_a_resume(scripted_server, tmp_path):
    script = CountingDesigner()
    scripted_server.script(script)
    env = crib_env(scripted_server.url, tmp_path / "data")
    args = ["search", "--space", "blocks", "--domain", "game24", "--val-size", "6",
            "--test-size", "0", "--seeds", "cot,step-back,cot-sc", "--minibatch", "3",
            "--smoke", "1", "--moves", "cross", "--parents", "top-k", "--json"]
    r = crib([*args, "--generations", "2"], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run_id = json.loads(r.stdout.strip().splitlines()[-1])["run_id"]
    engine = open_database(f"sqlite:///{tmp_path / 'data' / 'crib.db'}")
    try:
        config = load_config(engine, run_id)
        assert config.moves == ["cross"] and config.parents == "top-k"
        assert (config.demos, config.demo_samples) == (24, 4)  # the blocks space's defaults
        archive = Archive(engine, run_id)
        assert planned_moves(archive) == {1: "cross", 2: "cross"}
        assert script.kinds[0] == "cross" and "change" not in script.kinds

        # A resume takes the stored moves and parent choice, not the flags given now.
        r = crib(["search", "--resume", run_id, "--generations", "3", "--moves", "rewrite",
                  "--parents", "tournament", "--json"], env, tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "--moves, --parents ignored with --resume" in r.stderr
        assert planned_moves(archive) == {1: "cross", 2: "cross", 3: "cross"}
        assert "change" not in script.kinds
        assert load_config(engine, run_id).parents == "top-k"

        # Each child took the best parents (top-k) of the archive as it stood then, where a
        # tournament would have picked another pair at least once.
        tournament_differs = False
        for g in (1, 2, 3):
            [child] = [e for e in archive.entries() if e.generation == g]
            before = [e for e in archive.entries() if e.generation < g]
            top = [p.entry.id for p in select_parents(before, 2, g, method="top-k")]
            assert child.parents == top[:len(child.parents)], (g, child.parents, top)
            drawn = [p.entry.id for p in select_parents(before, 2, g, method="tournament")]
            tournament_differs |= drawn != top
        assert tournament_differs
    finally:
        engine.dispose()


@pytest.mark.parametrize("flag, value, message", [
    ("--moves", "cross,jump", "--moves: unknown move 'jump'; the moves are rewrite, change, cross"),
    ("--moves", ",", "--moves: no move given; the moves are rewrite, change, cross"),
    ("--parents", "best", "--parents must be tournament or top-k, not 'best'"),
])
def test_a_bad_move_or_parent_choice_is_a_usage_error(tmp_path, flag, value, message):
    env = dict(os.environ, CRIB_DATA_DIR=str(tmp_path / "data"))
    r = crib(["search", "--domain", "game24", "--space", "blocks", flag, value], env, tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == f"error: {message}", r.stderr[-2000:]
    assert not (tmp_path / "data" / "crib.db").exists()  # said before any run is recorded


def test_moves_in_the_code_space_are_said_to_be_ignored(scripted_server, tmp_path):
    scripted_server.script(generic_designer)
    env = crib_env(scripted_server.url, tmp_path / "data")
    r = crib(["search", "--space", "code", "--domain", "game24", "--generations", "0",
              "--val-size", "2", "--test-size", "0", "--seeds", "cot", "--moves", "rewrite",
              "--demos", "5", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "--moves, --demos apply to --space blocks only; ignored in the code space" in r.stderr
    run_id = json.loads(r.stdout.strip().splitlines()[-1])["run_id"]
    engine = open_database(f"sqlite:///{tmp_path / 'data' / 'crib.db'}")
    try:
        assert load_config(engine, run_id).demos == 0
    finally:
        engine.dispose()
