"""Step-back Abstraction: first name the principles the task rests on, then solve with them.

Crib's version of the step-back prompting seed (Zheng et al., 2023), built from ADAS's
`LLMAgentBase`.
"""
from crib_runtime import Info, LLMAgentBase


def forward(task):
    task_info = Info("task", "User", task, -1)
    principle_agent = LLMAgentBase(["thinking", "principle"], "Principle Agent")
    solver = LLMAgentBase(["thinking", "answer"], "Chain-of-Thought Agent")
    thinking, principle = principle_agent(
        [task_info], "Which principles or methods does this task rest on? List them briefly.")
    thinking, answer = solver([task_info, thinking, principle],
                              "Use the principles above. Think step by step, then answer.")
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
