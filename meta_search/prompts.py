"""Prompt text of the meta-agent: the task, the guest runtime API, reflections, debugging.

The runtime description has one source, `agent_api.md` beside the guest runtime in the package
(crib.sandbox.guest), so an installed wheel tells the meta-agent exactly what a source tree
does; tests/sandbox/test_agent_api_doc.py checks every function it names against the runtime.
"""
from __future__ import annotations

from functools import lru_cache

from crib.sandbox.guest import AGENT_API_DOC


@lru_cache(maxsize=1)
def runtime_api() -> str:
    """How to write an agent and the prelude it imports, then what the static check forbids."""
    return AGENT_API_DOC.read_text(encoding="utf-8").strip() + "\n\n" + RULES


RULES = (
    "Forbidden (the static check rejects it before running): importing os, sys, subprocess, "
    "socket, shutil, pathlib, io, multiprocessing, ctypes, importlib, pickle, asyncio, "
    "requests/urllib/http, openai; calling open, exec, eval, compile, __import__, input, "
    "globals, vars; touching __subclasses__, __globals__, __builtins__ and similar internals."
)


SYSTEM = (
    "You are an expert machine learning researcher designing agentic systems: programs that "
    "call language models and tools to solve tasks. You reply with one JSON object with the "
    'keys "thought", "name" and "code" and nothing else.'
)

TASK = '''\
# Overview
You design agents for the domain "{domain}": {domain_description}
Answer format the agents must produce: {answer_format}

# The runtime your code runs in
{api}

# Archive of agents discovered so far
{archive}
{lessons}
# Your task
This is generation {generation} of the search. Propose a new agent that is interestingly
different from the agents in the archive and likely to score higher on the validation problems.
Learn from the archive: what the best agents do, and why failed candidates failed. Reply with
JSON:
- "thought": your reasoning and the design idea, including the overall plan;
- "name": a short name for the agent;
- "code": the complete Python code, defining `forward(task)` and importing what it uses.
'''

LESSONS = "\n# Design lessons from earlier generations\n{sheet}\n"

REFLECT_NOVELTY = '''\
Review your proposal against the archive above.
1. Interestingness: is it genuinely different from every archived agent, or a renamed copy?
   If it is not novel, design something different.
2. Plan: is the design likely to improve on the best archived agent? If not, improve it.
Reply with the (possibly revised) JSON object: "thought" (include your reflection), "name",
"code".
'''

REFLECT_IMPLEMENTATION = '''\
Now check the implementation line by line.
- Does it use only the runtime API above and the standard library (no os, subprocess, files,
  network, exec, eval)? Does it define `forward` with the right signature?
- Are the LLM calls, field names and returned values used correctly? Does it return the
  answer in the required format?
- Any bug, name error, wrong indentation, unbounded loop or unnecessary LLM call?
Reply with the corrected JSON object: "thought", "name", "code".
'''

DEBUG = '''\
Your agent "{name}" failed when run on validation problems (debug round {round}).
{failure}

The code that failed:
```python
{code}
```
Fix the code (keep the design idea unless it cannot work). Reply with the JSON object:
"thought" (what was wrong and how you fixed it), "name", "code".
'''

CURATE_LESSONS = '''\
You keep a short list of design lessons for an agent-design search in domain "{domain}".
Generation {generation} produced these candidates:
{results}
Current lessons:
{sheet}
Write the updated list of at most {max_lessons} short lessons (what worked, what failed and
why), one per line starting with "- ". Keep lessons that still hold; drop ones contradicted.
'''
