"""The agent prelude: the runtime an agent's code imports inside the sandbox.

An agent is written as `forward(task)` and imports what it uses from here, e.g.
`from crib_runtime import answer_format, cheatsheet, llm, llm_many` (the names are `PRELUDE`).
`task`, `answer_format` and `cheatsheet` are filled in by the bootstrap before the agent's code
runs, so importing them gives this run's values. `Info` and `LLMAgentBase` are ADAS's building
blocks, usable from `forward(task)` too; agents written as ADAS's `forward(self, taskInfo)` run
through the adapter in crib_adas.py. Independent completions can go in one request
(`llm_many`, `complete_many`, `LLMAgentBase.query_many`): the host runs them at once, so they
take one model latency, not n. See docs/agent-api.md."""
from __future__ import annotations

import json
import random
import re
import string
from collections import namedtuple

from crib_channel import BudgetExceeded, ChannelError, channel

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only (postponed): importing typing costs every zygote start
    from typing import Any

# Filled in by the bootstrap before the agent's code runs.
task: str = ""
answer_format: str = ""
cheatsheet: str = ""

Info = namedtuple("Info", ["name", "author", "content", "iteration_idx"])

_SAMPLING = {"temperature", "max_tokens", "top_p", "stop", "seed", "role", "response_format"}
# The most completions one `complete_many` request may hold (sandbox.limits.MAX_BATCH_CALLS on
# the host; a test keeps the two equal). Longer lists go as several requests, one after another.
MAX_BATCH = 16


def _messages(prompt_or_messages: str | list[dict], system: str | None) -> list[dict]:
    if isinstance(prompt_or_messages, str):
        msgs = [{"role": "user", "content": prompt_or_messages}]
    else:
        msgs = [dict(m) for m in prompt_or_messages]
    if system is not None:
        msgs.insert(0, {"role": "system", "content": system})
    return msgs


def complete(messages: list[dict], **params: Any) -> dict:
    """One completion through the host; returns the host's reply dict (`text`, usage...)."""
    unknown = set(params) - _SAMPLING
    if unknown:
        raise TypeError(f"unknown completion parameters: {sorted(unknown)}")
    return channel().call("complete", {"messages": messages, **params})


def _complete_batch(requests: list[dict]) -> list[dict]:
    """`complete` params per item -> one reply dict per item, in order; an item whose call
    failed is {"error": "..."}. The calls of one request (up to MAX_BATCH) run at once."""
    replies: list[dict] = []
    for start in range(0, len(requests), MAX_BATCH):
        batch = channel().call("complete_many", {"requests": requests[start:start + MAX_BATCH]})
        replies.extend(r["result"] if "result" in r else {"error": str(r.get("error"))}
                       for r in batch)
    return replies


def _texts(replies: list[dict], what: str) -> list[str]:
    failed = [i for i, r in enumerate(replies) if "error" in r]
    if failed:
        i = failed[0]
        raise ChannelError(f"{what}: item {i} failed ({len(failed)} of {len(replies)} items "
                           f"failed): {replies[i]['error']}")
    return [r["text"] for r in replies]


def _items(values: Any, what: str) -> list:
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{what} takes a list, got {type(values).__name__}")
    return list(values)


def complete_many(messages_list: list[list[dict]], **params: Any) -> list[dict]:
    """Several completions at once, the same `params` for each (see `complete`). Returns one
    reply dict per item, in order; an item whose call failed is {"error": "..."} and the
    others are unaffected. The whole batch is refused (BudgetExceeded) if it does not fit in
    the run's call budget."""
    unknown = set(params) - _SAMPLING
    if unknown:
        raise TypeError(f"unknown completion parameters: {sorted(unknown)}")
    items = _items(messages_list, "complete_many")
    return _complete_batch([{"messages": m, **params} for m in items]) if items else []


def llm(prompt_or_messages: str | list[dict], *, system: str | None = None, **params: Any) -> str:
    """Ask the model; returns the reply text. `params`: temperature, max_tokens, top_p, stop,
    seed, role (which model settings: solver, judge, ...), response_format."""
    return complete(_messages(prompt_or_messages, system), **params)["text"]


def llm_many(prompts: list[str | list[dict]], *, system: str | None = None,
             **params: Any) -> list[str]:
    """Ask the model several independent prompts at once (each a string or a message list, as
    for `llm`; the same `system` and `params` for all); returns the reply texts in order.
    If any call failed, raises ChannelError naming the first failed item's index once the
    whole batch is back."""
    msgs = [_messages(p, system) for p in _items(prompts, "llm_many")]
    return _texts(complete_many(msgs, **params), "llm_many")


# Compiled here, at import: the agent tier's zygote imports this module, so its runs find the
# pattern compiled instead of each compiling it (≈0.5 ms of a fresh child's CPU).
_JSON_FENCE = re.compile(r"```(?:json)?\s*(\{.*\})\s*```", re.S)


def parse_json_reply(text: str) -> dict:
    """The first JSON object in a reply (models wrap JSON in prose or code fences)."""
    text = text.strip()
    fence = _JSON_FENCE.search(text)
    candidates = [fence.group(1)] if fence else []
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        candidates.append(text[start:end + 1])
    candidates.append(text)
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError(f"the model did not reply with a JSON object: {text[:200]!r}")


def llm_json(prompt: str | list[dict], schema: dict, **params: Any) -> dict:
    """Ask for a JSON object matching `schema` (a JSON schema); returns the parsed dict.
    Missing required keys raise ValueError."""
    system = ("Reply with a single JSON object and nothing else. It must match this JSON "
              f"schema:\n{json.dumps(schema)}")
    params.setdefault("response_format", {"type": "json_schema",
                                          "json_schema": {"name": "reply", "schema": schema}})
    obj = parse_json_reply(llm(prompt, system=system, **params))
    missing = [k for k in schema.get("required", []) if k not in obj]
    if missing:
        raise ValueError(f"the model's JSON reply lacks required keys {missing}")
    return obj


def run_python(code: str, *, timeout: float | None = None, entry: str | None = None,
               inputs: Any = None) -> dict:
    """Run `code` in a fresh snippet sandbox (through the host). Returns a dict with ok,
    exit_code, stdout, stderr, value, error, limit_hit."""
    params: dict[str, Any] = {"code": code, "entry": entry, "inputs": inputs}
    if timeout is not None:
        params["timeout"] = timeout
    return channel().call("run_python", params)


def get_cheatsheet() -> str:
    """The cheatsheet text as the host holds it (the same as `cheatsheet`)."""
    return channel().call("cheatsheet", {})["text"]


# ---- ADAS-compatible API -------------------------------------------------------------------

def _role_desc(role: str) -> str:
    return f"You are a {role}."


def _format_inst(request_keys: dict[str, str]) -> str:
    return ("# Output Format:\nReply EXACTLY with the following JSON format.\n"
            f"{json.dumps(request_keys)}\nDO NOT MISS ANY REQUEST FIELDS and ensure that your "
            "response is a well-formed JSON object!\n")


def _random_id(length: int = 4) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=length))


class LLMAgentBase:
    """ADAS's building block: one JSON-mode completion whose reply fields become `Info`s."""

    def __init__(self, output_fields: list[str], agent_name: str, role: str = "helpful assistant",
                 model: str | None = None, temperature: float = 0.5) -> None:
        self.output_fields = list(output_fields)
        self.agent_name = agent_name
        self.role = role
        self.model = model  # a hint only: the host chooses the model for the run
        self.temperature = temperature
        self.id = _random_id()

    def field_descriptions(self) -> dict[str, str]:
        fmt = f" {answer_format}" if answer_format else ""
        return {key: f"Your {key}.{fmt}" if "answer" in key else f"Your {key}."
                for key in self.output_fields}

    def generate_prompt(self, input_infos: list, instruction: str) -> tuple[str, str]:
        system_prompt = _role_desc(self.role) + "\n\n" + _format_inst(self.field_descriptions())
        text = ""
        for info in input_infos:
            if not isinstance(info, Info):
                continue
            field_name, author, content, iteration_idx = info
            if author == repr(self):
                author += " (yourself)"
            if field_name == "task":
                text += f"# Your Task:\n{content}\n\n"
            elif iteration_idx != -1:
                text += f"### {field_name} #{iteration_idx + 1} by {author}:\n{content}\n\n"
            else:
                text += f"### {field_name} by {author}:\n{content}\n\n"
        return system_prompt, text + instruction

    def _request(self, input_infos: list, instruction: str) -> dict:
        system_prompt, prompt = self.generate_prompt(input_infos, instruction)
        return {"messages": [{"role": "system", "content": system_prompt},
                             {"role": "user", "content": prompt}],
                "temperature": self.temperature, "response_format": {"type": "json_object"}}

    def _infos(self, reply: str, iteration_idx: int) -> list[Info]:
        try:
            obj = parse_json_reply(reply)
        except ValueError:
            obj = {}
        # Like ADAS: a missing field becomes "", extra fields are dropped; order = output_fields.
        return [Info(key, repr(self), obj.get(key, ""), iteration_idx)
                for key in self.output_fields]

    def query(self, input_infos: list, instruction: str, iteration_idx: int = -1) -> list[Info]:
        return self._infos(complete(**self._request(input_infos, instruction))["text"],
                           iteration_idx)

    @staticmethod
    def query_many(calls: list[tuple]) -> list[list[Info]]:
        """Independent calls at once: `calls` holds `(agent, input_infos, instruction)` or
        `(agent, input_infos, instruction, iteration_idx)` tuples; returns what each
        `agent(input_infos, instruction, iteration_idx)` would, in order. (Not in ADAS: a
        Crib addition.) If any call failed, raises ChannelError naming the first failed
        item's index once the whole batch is back."""
        calls = [tuple(c) for c in _items(calls, "LLMAgentBase.query_many")]
        requests = [agent._request(infos, instruction) for agent, infos, instruction, *_ in calls]
        texts = _texts(_complete_batch(requests), "LLMAgentBase.query_many")
        return [agent._infos(text, rest[0] if rest else -1)
                for (agent, _, _, *rest), text in zip(calls, texts)]

    def __repr__(self) -> str:
        return f"{self.agent_name} {self.id}"

    def __call__(self, input_infos: list, instruction: str, iteration_idx: int = -1) -> list[Info]:
        return self.query(input_infos, instruction, iteration_idx=iteration_idx)


def agent_globals() -> dict[str, Any]:
    """The namespace an agent's code runs in: the prelude, and the standard-library names ADAS's
    own harness had in scope (its agents use them without importing). Written agents import
    what they use; these are predefined so that code which forgot an import still runs."""
    import collections
    import itertools
    import math

    here = globals()  # read now: the bootstrap has set task, answer_format and cheatsheet
    names = {name: here[name] for name in PRELUDE}
    names.update({"__name__": "agent", "__builtins__": __builtins__, "json": json, "re": re,
                  "random": random, "math": math, "itertools": itertools,
                  "collections": collections, "Counter": collections.Counter})
    return names


# What an agent may import from this module; agent_api.md (next to it) describes each one.
__all__ = ["task", "answer_format", "cheatsheet", "llm", "llm_many", "llm_json", "complete",
           "complete_many", "run_python", "get_cheatsheet", "parse_json_reply", "Info",
           "LLMAgentBase", "MAX_BATCH", "BudgetExceeded", "ChannelError"]
PRELUDE = tuple(__all__)
