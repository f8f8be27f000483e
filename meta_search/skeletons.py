"""The skeletons of the building-block search space, taken from the seed library.

A skeleton is the fixed control flow of one seed agent (chain of thought, self-consistency,
self-refine, debate, program-of-thought, think-and-execute, the Dynamic Cheatsheet generator,
step-back) rewritten to read everything a search may change from a `CONFIG` dict: its
instruction texts (slots), temperature, samples, rounds and where the cheatsheet goes. The default
instruction texts are the seeds' own. Every skeleton has a `solve` slot, so crossing two
parents of different skeletons can carry the main instruction over.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skeleton:
    name: str
    idea: str  # one line: what the control flow does
    slots: dict[str, str]  # instruction slot -> the seed's text
    uses: tuple[str, ...]  # the numeric parameters the control flow reads
    defaults: dict  # parameter values of the seed
    body: str  # `def forward(task)` reading CONFIG and the helpers below


# Names the compiled code imports; the agent namespace pre-defines them too, but an explicit
# import keeps a compiled agent readable and runnable as plain Crib-API code.
PRELUDE = """\
import re
from collections import Counter

from crib_runtime import answer_format, cheatsheet, llm, llm_many, run_python
"""

HELPERS = r'''
I = CONFIG["instructions"]


def notes():
    """What goes before the task: the cheatsheet as notes, when this agent places it there
    (else the host puts it at the head of the system message), then the solved examples."""
    text = ""
    if CONFIG["memory"] == "prompt" and cheatsheet.strip():
        text += "Notes from earlier problems (use what helps):\n" + cheatsheet.strip() + "\n\n"
    for e in EXAMPLES:
        text += (f"Example task:\n{e['task']}\nA solution, checked correct:\n"
                 f"{e['solution']}\n\n")
    return text + ("Now the task:\n" if EXAMPLES else "")


def ask(prompt):
    return llm(prompt, temperature=CONFIG["temperature"])


def final_key(reply):
    """The final answer line, spaces and case ignored (what votes are counted on)."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.lower().lstrip("*# ").startswith("answer"):
            lines = [line.split(":", 1)[-1]]
            break
    last = lines[-1] if lines else ""
    return "".join(last.strip("`*$. ").split()).lower()


def vote(replies):
    keys = [final_key(r) for r in replies]
    votes = Counter(k for k in keys if k)
    if not votes:
        return replies[0]
    return replies[keys.index(votes.most_common(1)[0][0])]


def last_code_block(reply):
    blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", reply, re.S)
    return blocks[-1] if blocks else reply
'''

STEP = "Think step by step, then give the answer."

SKELETONS: dict[str, Skeleton] = {s.name: s for s in [
    Skeleton(
        "cot", "one call: reason step by step, then answer",
        {"solve": STEP}, (), {"temperature": 0.5},
        r'''
def forward(task):
    return ask(f"{notes()}{task}\n\n{answer_format}\n{I['solve']}")
'''),
    Skeleton(
        "cot-sc", "self-consistency: several samples at once, the majority answer wins",
        {"solve": STEP}, ("samples",), {"temperature": 0.8, "samples": 5},
        r'''
def forward(task):
    prompt = f"{notes()}{task}\n\n{answer_format}\n{I['solve']}"
    return vote(llm_many([prompt] * CONFIG["samples"], temperature=CONFIG["temperature"]))
'''),
    Skeleton(
        "self-refine", "answer, a critic checks it, revise with the feedback for some rounds",
        {"solve": STEP,
         "critique": "Check the answer above carefully and say briefly what is wrong, if "
                     "anything.",
         "revise": "Use the feedback to fix your answer. Think step by step, then answer."},
        ("rounds",), {"temperature": 0.5, "rounds": 3},
        r'''
def forward(task):
    base = f"{notes()}{task}\n\n{answer_format}"
    answer = ask(f"{base}\n{I['solve']}")
    for _ in range(CONFIG["rounds"]):
        review = llm(f"{base}\n\nProposed answer:\n{answer}\n\n{I['critique']}\n"
                     "End with the line VERDICT: CORRECT or VERDICT: WRONG.", temperature=0.0)
        if re.search(r"VERDICT:\s*CORRECT", review, re.I):
            break
        answer = ask(f"{base}\n\nPrevious answer:\n{answer}\n\nFeedback:\n{review}\n\n"
                     f"{I['revise']}")
    return answer
'''),
    Skeleton(
        "debate", "several debaters answer, read each other's answers for rounds, a judge decides",
        {"solve": "Think step by step, then answer.",
         "respond": "Consider the other answers above, then give your updated answer.",
         "judge": "Weigh the answers above and give the final answer."},
        ("samples", "rounds"), {"temperature": 0.8, "samples": 3, "rounds": 1},
        r'''
def forward(task):
    base = f"{notes()}{task}\n\n{answer_format}"
    n, t = CONFIG["samples"], CONFIG["temperature"]
    replies = llm_many([f"{base}\n{I['solve']}"] * n, temperature=t)
    for _ in range(CONFIG["rounds"]):
        others = "\n\n".join(f"Answer {i + 1}:\n{r[-1500:]}" for i, r in enumerate(replies))
        replies = llm_many([f"{base}\n\nAnswers so far:\n{others}\n\n{I['respond']}"] * n,
                           temperature=t)
    others = "\n\n".join(f"Answer {i + 1}:\n{r[-1500:]}" for i, r in enumerate(replies))
    return llm(f"{base}\n\nAnswers:\n{others}\n\n{I['judge']}", temperature=0.0)
'''),
    Skeleton(
        "program-of-thought", "write a Python program, run it in the sandbox, repair on failure",
        {"solve": "Write a short Python program that solves this and prints only the final "
                  "answer. If the task asks you to find something, let the program search "
                  "every possibility exhaustively and check each candidate, rather than "
                  "guessing.",
         "repair": "Fix the program and reply with the whole program in one ```python block."},
        ("rounds",), {"temperature": 0.5, "rounds": 2},
        r'''
def forward(task):
    prompt = (f"{notes()}{task}\n\n{I['solve']}\nWhat it prints must follow this format: "
              f"{answer_format}\nReply with the program in one ```python code block.")
    messages = [{"role": "user", "content": prompt}]
    reply = ""
    for _ in range(CONFIG["rounds"] + 1):
        reply = llm(messages, temperature=CONFIG["temperature"])
        result = run_python(last_code_block(reply), timeout=10)
        out = (result.get("stdout") or "").strip()
        found = out.rsplit(":", 1)[-1].strip() if "answer" in out.lower() else out
        if result.get("ok") and found not in ("", "None"):
            return out if "answer" in out.lower() else f"Answer: {out}"
        problem = (result.get("error") or (result.get("stderr") or "")[-500:]
                   or ("it printed None: it found no answer" if found == "None"
                       else "it printed nothing"))
        messages += [{"role": "assistant", "content": reply},
                     {"role": "user", "content": f"Running it failed: {problem}\n{I['repair']}"}]
    return reply
'''),
    Skeleton(
        "think-and-execute", "plan the task's logic as pseudocode, then execute it by hand",
        {"plan": "Do not solve it yet. Write short Python-like pseudocode for an algorithm "
                 "that solves this kind of task.",
         "solve": "Execute the pseudocode on this task step by step, tracking the variables "
                  "like a computer would, then give the result."},
        (), {"temperature": 0.5},
        r'''
def forward(task):
    plan = llm(f"{notes()}{task}\n\n{I['plan']}", temperature=0.0)
    return ask(f"{task}\n\nPseudocode:\n{plan}\n\n{I['solve']}\n{answer_format}")
'''),
    Skeleton(
        "dc-generator", "solve with the cheatsheet in view, running Python on request (rounds)",
        {"solve": "You solve problems. A cheatsheet of strategies and code from earlier "
                  "problems may be given; use what helps."},
        ("rounds",), {"temperature": 0.5, "rounds": 3, "memory": "prompt"},
        r'''
def forward(task):
    system = (f"{I['solve']} If running Python would help, end your reply with one ```python "
              "block that prints what you need, then the line EXECUTE CODE! and you will get "
              f"its output. Finish with the final answer. {answer_format}")
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": f"{notes()}PROBLEM:\n{task}"}]
    reply = llm(messages, temperature=CONFIG["temperature"])
    for _ in range(CONFIG["rounds"]):
        head = reply.split("EXECUTE CODE!")[0]
        if "EXECUTE CODE!" not in reply or "```" not in head:
            break
        result = run_python(last_code_block(head), timeout=10)
        output = (result.get("stdout") or "").strip()
        if not result.get("ok"):
            output += "\n" + (result.get("error") or result.get("stderr") or "the code failed")
        messages += [{"role": "assistant", "content": reply},
                     {"role": "user", "content": f"Output:\n{output.strip()[-2000:] or '(none)'}"
                                                 f"\n\nContinue and give the final answer. "
                                                 f"{answer_format}"}]
        reply = llm(messages, temperature=CONFIG["temperature"])
    return reply
'''),
    Skeleton(
        "step-back", "first name the principles the task rests on, then solve with them",
        {"principles": "Which principles or methods does this task rest on? List them briefly.",
         "solve": "Use the principles above. Think step by step, then answer."},
        (), {"temperature": 0.5},
        r'''
def forward(task):
    principles = ask(f"{task}\n\n{I['principles']}")
    return ask(f"{notes()}{task}\n\nPrinciples:\n{principles}\n\n{I['solve']}\n{answer_format}")
'''),
]}
