"""Dynamic Role Assignment: a router picks the expert best suited to the task, who solves it.

Crib's version of the dynamic role assignment seed, built from ADAS's `LLMAgentBase`.
"""
from crib_runtime import Info, LLMAgentBase


def forward(task):
    task_info = Info("task", "User", task, -1)
    roles = {
        "mathematician": "mathematician",
        "programmer": "Python programmer",
        "puzzle": "puzzle solver",
        "reader": "careful reader",
    }
    router = LLMAgentBase(["choice"], "Routing Agent", temperature=0.0)
    choice = router([task_info], "Which expert should solve this task? Reply with one word: "
                                 "mathematician, programmer, puzzle or reader.")[0]
    text = str(choice.content).lower()
    key = next((k for k in roles if k in text), "mathematician")
    expert = LLMAgentBase(["thinking", "answer"], "Expert Agent", role=roles[key])
    thinking, answer = expert([task_info], "Think step by step, then give the answer.")
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
