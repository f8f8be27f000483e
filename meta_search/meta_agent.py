"""The meta-agent: proposes `{thought, name, code}`, reflects twice, and debugs failed code.

It talks to the model through the LLM layer's `structured()` with role `meta`, so its spend is
ledgered apart from solver, curator and judge calls. The `attempt` index passed to the LLM is
the generation (and debug round), so each generation asks afresh while a resumed run replays
the cached replies exactly.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from crib.agents.llm.errors import StructuredOutputError
from crib.meta_search import prompts

if TYPE_CHECKING:
    from crib.agents.llm import LLM


class Proposal(BaseModel):
    thought: str = Field(description="reasoning and design idea")
    name: str = Field(description="short agent name")
    code: str = Field(description="complete Python code defining forward")


class ProposalError(Exception):
    """The meta-agent gave no usable proposal (after the LLM layer's own repair attempts)."""


class MetaAgent:
    def __init__(self, llm: LLM, *, domain: str, domain_description: str = "",
                 answer_format: str = "", run_id: str | None = None,
                 reflections: int = 2, api_doc: str | None = None):
        self.llm = llm
        self.domain = domain
        self.domain_description = domain_description
        self.answer_format = answer_format
        self.run_id = run_id
        self.reflections = reflections
        self.api = api_doc if api_doc is not None else prompts.runtime_api()

    def task_prompt(self, archive_text: str, lessons: str = "",
                    generation: int = 0) -> list[dict]:
        user = prompts.TASK.format(generation=generation,
            domain=self.domain, domain_description=self.domain_description or self.domain,
            answer_format=self.answer_format or "(as the task says)", api=self.api,
            archive=archive_text, lessons=prompts.LESSONS.format(sheet=lessons) if lessons else "")
        return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]

    async def _ask(self, messages: list[dict], attempt: int) -> Proposal:
        try:
            return await self.llm.structured(messages, Proposal, role="meta", attempt=attempt,
                                             run_id=self.run_id)
        except StructuredOutputError as exc:
            raw = getattr(exc, "raw", "")
            raise ProposalError(f"meta-agent reply is not a valid proposal: {exc}; "
                                f"raw reply starts {str(raw)[:200]!r}") from exc

    async def propose(self, archive_text: str, generation: int,
                      lessons: str = "") -> tuple[Proposal, list[dict]]:
        """A new candidate and the trace of its reflections (for the archive's history)."""
        messages = self.task_prompt(archive_text, lessons, generation)
        proposal = await self._ask(messages, attempt=generation)
        trace: list[dict] = [{"step": "propose", "name": proposal.name,
                              "thought": proposal.thought}]
        for i, text in enumerate([prompts.REFLECT_NOVELTY, prompts.REFLECT_IMPLEMENTATION]
                                 [: self.reflections]):
            messages = [*messages, {"role": "assistant", "content": _as_json(proposal)},
                        {"role": "user", "content": text}]
            try:
                proposal = await self._ask(messages, attempt=generation)
            except ProposalError as exc:  # keep the last good version, say why
                trace.append({"step": f"reflect{i + 1}", "error": str(exc)})
                break
            trace.append({"step": f"reflect{i + 1}", "name": proposal.name,
                          "thought": proposal.thought})
        return proposal, trace

    async def debug(self, name: str, code: str, failure: str, generation: int,
                    round_: int) -> Proposal:
        """Fixed code for a candidate that failed with `failure` (error text, answers)."""
        messages = [
            {"role": "system", "content": prompts.SYSTEM},
            {"role": "user", "content": prompts.TASK.format(
                generation=generation, domain=self.domain,
                domain_description=self.domain_description or self.domain,
                answer_format=self.answer_format or "(as the task says)", api=self.api,
                archive="(omitted while debugging)", lessons="")},
            {"role": "user", "content": prompts.DEBUG.format(name=name, failure=failure,
                                                             code=code, round=round_)},
        ]
        return await self._ask(messages, attempt=generation * 100 + round_)


def _as_json(p: Proposal) -> str:
    return json.dumps(p.model_dump(), ensure_ascii=False)
