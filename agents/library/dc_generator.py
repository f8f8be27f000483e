"""Dynamic Cheatsheet generator: solve with the cheatsheet in view, running Python on request.

Crib's version of the Dynamic Cheatsheet generator (Suzgun et al., 2025) in Crib's agent API.
The model may end a reply with a fenced Python block and the marker EXECUTE CODE!; the block
runs in the snippet tier and its output is fed back, up to three rounds.
"""
import re

from crib_runtime import answer_format, cheatsheet, llm, run_python


def forward(task):
    sheet = cheatsheet.strip() or "(empty)"
    system = ("You solve problems. A cheatsheet of strategies and code from earlier problems is "
              "given; use what helps. If running Python would help, end your reply with one "
              "```python block that prints what you need, then the line EXECUTE CODE! and you "
              f"will get its output. Finish with the final answer. {answer_format}")
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": f"CHEATSHEET:\n{sheet}\n\nPROBLEM:\n{task}"}]
    reply = llm(messages)
    for _ in range(3):
        head = reply.split("EXECUTE CODE!")[0]
        blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", head, re.S)
        if "EXECUTE CODE!" not in reply or not blocks:
            break
        result = run_python(blocks[-1], timeout=10)
        output = (result.get("stdout") or "").strip()
        if not result.get("ok"):
            output += "\n" + (result.get("error") or result.get("stderr") or "the code failed")
        messages += [
            {"role": "assistant", "content": reply},
            {"role": "user", "content": f"Output:\n{output.strip()[-2000:] or '(nothing)'}\n\n"
                                        f"Continue and give the final answer. {answer_format}"},
        ]
        reply = llm(messages)
    return reply
