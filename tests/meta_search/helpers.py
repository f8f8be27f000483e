"""Shared pieces of the end-to-end meta-search tests (and the kill -9 subprocess).

The scripted server plays both sides: meta-agent requests get queued proposals; solver
requests (from agents running in the real sandbox) get a game24 answer that is right when a
stable hash of (numbers, the agent's `skill=NN` tag) falls under NN, so each candidate has a
designed accuracy and the cascade has something to rank.
"""
from __future__ import annotations

import hashlib
import json
import re

from crib.agents.domains.game24 import solve

META_MARK = "expert machine learning researcher"


def agent(skill: int, name: str = "skilled") -> str:
    return (f'def forward(self, taskInfo):\n'
            f'    a = LLMAgentBase(["thinking", "answer"], "{name}")\n'
            f'    thinking, answer = a([taskInfo], "Solve it. skill={skill}")\n'
            f'    return answer\n')


BROKEN = ("def forward(self, taskInfo):\n"
          "    a = LLMAgentBase(['thinking', 'answer'], 'broken')\n"
          "    return undefined_helper(a, taskInfo)\n")
FORBIDDEN = "import subprocess\n\ndef forward(self, taskInfo):\n    return subprocess.run('x')\n"
WRONG = "def forward(self, taskInfo):\n    return 'Answer: 1 + 2 + 3 + 4'\n"


def proposal(name: str, code: str, thought: str = "an idea") -> str:
    return json.dumps({"thought": thought, "name": name, "code": code})


def is_meta(body: dict) -> bool:
    return any(META_MARK in str(m.get("content", "")) for m in body.get("messages", []))


def solver_reply(body: dict) -> str:
    text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    nums = re.search(r"Use the numbers ([\d ]+?) to make 24", text)
    skill = re.search(r"skill=(\d+)", text)
    if not nums:
        return json.dumps({"thinking": "?", "answer": "Answer: 0"})
    numbers = [int(x) for x in nums.group(1).split()]
    level = int(skill.group(1)) if skill else 50
    h = int(hashlib.sha256(f"{numbers}-{level}".encode()).hexdigest()[:8], 16) % 100
    expr = solve(numbers) if h < level else "1 + 1"
    return json.dumps({"thinking": "searching", "answer": f"Answer: {expr}"})


class Script:
    """Stateless (so LLM-cache replays and resumed runs see the same replies): a meta request
    for generation g gets `proposals[g]` (the propose call and both reflections alike); debug
    round r of the candidate named N gets `fixes[N][r - 1]` (the last one repeats)."""

    def __init__(self, proposals: dict[int, str], fixes: dict[str, list[str]] | None = None,
                 delay_s: float = 0.0):
        self.proposals, self.fixes, self.delay_s = proposals, fixes or {}, delay_s
        self.meta_calls = self.solver_calls = self.curator_calls = 0

    def __call__(self, body: dict):
        from tests.scripted_server import Reply

        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        if "You curate a cheatsheet" in text:  # the solver memory's curator
            self.curator_calls += 1
            nums = re.search(r"Use the numbers ([\d ]+?) to make 24", text)
            return json.dumps({"operations": [{"op": "add", "kind": "strategy",
                                               "title": f"seen {nums.group(1) if nums else '?'}",
                                               "body": "Try products of pairs first."}]})
        if "You keep the design lessons" in text:  # the meta-agent's lessons
            self.curator_calls += 1
            g = re.search(r"Generation (\d+) produced", text).group(1)
            return json.dumps({"operations": [{"op": "add", "kind": "strategy",
                                               "title": f"lesson from generation {g}",
                                               "body": "Skill tags matter."}]})
        if not is_meta(body):
            self.solver_calls += 1
            return Reply(text=solver_reply(body), delay_s=self.delay_s)
        self.meta_calls += 1
        debug = re.search(r'Your agent "(.*?)" failed when run on validation problems '
                          r"\(debug round (\d+)\)", text)
        if debug:
            fixes = self.fixes.get(debug.group(1)) or ["not json"]
            return fixes[min(int(debug.group(2)), len(fixes)) - 1]
        g = int(re.search(r"This is generation (\d+) of the search", text).group(1))
        return self.proposals.get(g, "no proposal")


def make_llm(engine, url: str, run_id: str, **options):
    """As crib's wiring makes it: with a transcript store (the designer reads traces)."""
    from crib.agents.llm import LLM, Backoff, ModelSettings
    from crib.agents.transcripts import TranscriptStore

    settings = ModelSettings(model="scripted-model", base_url=url, temperature=0.0,
                             max_tokens=512, concurrency=8, timeout_s=20.0, max_retries=1)
    transcripts = TranscriptStore(engine)
    llm = LLM(engine, {r: settings for r in ("solver", "curator", "judge", "meta")},
              backoff=Backoff(base_s=0.01, max_s=0.05), run_id=run_id,
              prices={"scripted-model": (1.0, 2.0)}, recorder=transcripts, **options)
    transcripts.share_writer(llm.writer)
    return llm


def search_config(**kw):
    from crib.meta_search.cascade import CascadePolicy
    from crib.meta_search.search import SearchConfig

    cascade = dict(smoke_problems=2, debug_rounds=3, minibatch=4, n_resamples=1000)
    cascade.update(kw.pop("cascade", {}))
    base = dict(domain="game24", generations=3, val_size=8, seeds=["cot"], concurrency=4,
                cascade=CascadePolicy(**cascade))
    base.update(kw)
    return SearchConfig(**base)


async def run_search(engine, url: str, run_id: str, config, llm_options=None, observer=None,
                     store=None):
    """Create (or resume) and run a search with the real sandbox; returns (Search, result)."""
    from crib.agents.domains import get_domain
    from crib.commands.search import search_splits
    from crib.meta_search.search import Search, create_run
    from crib.sandbox import Sandbox

    create_run(engine, run_id, config)
    domain = get_domain("game24")
    validation, _, train = search_splits(domain, config, {"test_size": 0})
    sandbox = Sandbox()
    try:
        llm = make_llm(engine, url, run_id, **(llm_options or {}))
        factory = lessons = None
        if store is not None:  # memory-aware fitness and/or meta lessons on a real store
            from crib.agents.memory_hook import MemoryHook
            from crib.meta_search.meta_memory import MetaLessons

            def factory(scope):
                return MemoryHook(store, mode=config.memory or "dc-cu", scope=scope,
                                  run_id=run_id, llm=llm)

            if config.meta_memory:
                lessons = MetaLessons(store, f"search:{run_id}:design",
                                      llm.completer("curator", run_id=run_id), domain="game24",
                                      run_id=run_id)
        search = Search(engine=engine, llm=llm, sandbox=sandbox, domain=domain,
                        validation=validation, config=config, run_id=run_id, observer=observer,
                        memory_factory=factory, lessons=lessons, train=train)
        return search, await search.run()
    finally:
        closed = sandbox.close()
        if hasattr(closed, "__await__"):
            await closed
