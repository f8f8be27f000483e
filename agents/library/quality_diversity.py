"""Quality-Diversity: solve the task three ways, each different from the last, then pick the best.

Crib's version of the quality-diversity seed, built from ADAS's `LLMAgentBase`.
"""
from crib_runtime import Info, LLMAgentBase


def forward(task):
    task_info = Info("task", "User", task, -1)
    solver = LLMAgentBase(["thinking", "answer"], "Chain-of-Thought Agent", temperature=0.8)
    final = LLMAgentBase(["thinking", "answer"], "Final Decision Agent", temperature=0.1)
    thinking, answer = solver([task_info], "Think step by step, then give the answer.", 0)
    inputs = [task_info, thinking, answer]
    for i in range(2):
        thinking, answer = solver(
            inputs, "Solve the task again with a different approach from the attempts above.",
            i + 1)
        inputs.extend([thinking, answer])
    thinking, answer = final(inputs, "Compare the solutions above and give the best answer.")
    # Small models sometimes leave the answer field empty: the reasoning beats nothing.
    return answer if str(answer.content).strip() else thinking
