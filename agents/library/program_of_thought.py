"""Program-of-Thought: the model writes a program, the sandbox runs it, its output is the answer.

Crib's version of PoT (Chen et al., 2022) in Crib's agent API. The program runs in the snippet
tier through `run_python`; when it fails, prints nothing or prints None, that goes back to the
model (with the end of the traceback, which names the failing line) for a repair. Repairs
sample at temperature 0.7, and a reply that sends back a program already run starts the
conversation afresh: a small model shown its own program tends to copy it, greedy or not.
Replies are capped at 800 tokens: past that the 1.5B model was writing the same line again
and again, each runaway costing minutes on a CPU. A reply cut there (its block left open) is
not run: the model is asked for a shorter program, not shown the syntax error of a fragment.
"""
import re

from crib_runtime import answer_format, llm, run_python


def forward(task):
    prompt = (f"{task}\n\nWrite a short Python program that solves this and prints only the "
              f"final answer. What it prints must follow this format: {answer_format}\n"
              "If the task asks you to find something, let the program search the "
              "possibilities systematically and check each candidate, rather than guessing.\n"
              "Reply with the program in one ```python code block.")
    first = [{"role": "user", "content": prompt}]
    messages, tried, reply = first, set(), ""
    for call in range(4):
        # a short program fits in 800 tokens; a longer reply is a model looping on itself
        reply = (llm(messages, temperature=0.7, max_tokens=800) if call
                 else llm(messages, max_tokens=800))
        blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", reply, re.S)
        code = blocks[-1] if blocks else reply
        if code.strip() in tried:  # a copy of a program that failed: start afresh
            messages = first
            continue
        tried.add(code.strip())
        if reply.count("```") % 2:  # a block left open: the reply was cut at max_tokens
            problem = "the reply stopped before the program ended: write a shorter program"
        else:
            result = run_python(code, timeout=10)
            out = (result.get("stdout") or "").strip()
            found = out.rsplit(":", 1)[-1].strip() if "answer" in out.lower() else out
            if result.get("ok") and found not in ("", "None"):
                return out if "answer" in out.lower() else f"Answer: {out}"
            trace = "\n".join((result.get("stderr") or "").strip().splitlines()[-8:])
            problem = (trace or result.get("error")
                       or ("it printed None: it found no answer" if found == "None"
                           else "it printed nothing"))
        messages = messages + [
            {"role": "assistant", "content": reply},
            {"role": "user", "content": f"Running it failed:\n{problem}\nFix the program and "
                                        "reply with the whole program in one ```python block."},
        ]
    return reply
